import Testing
import _LoadKit

struct RedisFaultTests {
    @Test(arguments: [
        ("hang", RedisFault.hang), ("resume", .resume), ("stop", .stop), ("kill", .kill), ("start", .start),
        ("sleep 2s", .sleep(.seconds(2))), ("pause 1.5s", .pause(.milliseconds(1500))),
        ("client-kill 2s", .clientKill(.seconds(2))), ("proxy-latency 300ms", .proxyLatency(.milliseconds(300))),
        ("proxy-blackhole", .proxyBlackhole), ("proxy-reset", .proxyReset), ("proxy-refuse", .proxyRefuse),
        ("proxy-clear", .proxyClear), ("kill-shard 0", .killShard(0)), ("hang-shard 1", .hangShard(1)),
        ("resume-shard 2", .resumeShard(2)), ("start-shard 10", .startShard(10)),
    ])
    func readsWhatItWrites(text: String, fault: RedisFault) throws {
        #expect(try RedisFault(parsing: text) == fault)
        #expect(fault.description == text)
    }

    @Test func readsOtherSpellingsAndBareNumbersInTheFaultsUnit() throws {
        #expect(try RedisFault(parsing: "restart") == .start)
        #expect(try RedisFault(parsing: "sleep=2") == .sleep(.seconds(2)))
        #expect(try RedisFault(parsing: " PAUSE 500ms ") == .pause(.milliseconds(500)))
        #expect(try RedisFault(parsing: "proxy-latency 300") == .proxyLatency(.milliseconds(300)))
        #expect(try RedisFault(parsing: "Kill-Shard=2") == .killShard(2))
    }

    @Test(arguments: [
        ("explode", "unknown fault 'explode'"),
        ("", "no fault given"),
        ("sleep", "sleep needs a length"),
        ("pause 0", "pause must be longer than 0"),
        ("client-kill x", "not a duration"),
        ("hang 2s", "hang takes no length"),
        ("kill-shard", "kill-shard needs a shard number"),
        ("hang-shard -1", "'-1' is not a shard number"),
        ("start-shard 2s", "'2s' is not a shard number"),
    ])
    func rejectsMalformedFaultsWithTheReason(text: String, reason: String) {
        #expect {
            try RedisFault(parsing: text)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test func eachOnsetIsClearedByAFaultOrEndsByItself() {
        let onsets: [RedisFault] = [
            .hang, .stop, .kill, .sleep(.seconds(1)), .pause(.seconds(1)), .clientKill(.seconds(1)),
            .proxyLatency(.milliseconds(1)), .proxyBlackhole, .proxyReset, .proxyRefuse, .killShard(0), .hangShard(1),
        ]
        for onset in onsets {
            #expect(onset.isOnset)
            #expect((onset.clearing != nil) != onset.endsByItself, "\(onset)")
            if let clearing = onset.clearing {
                #expect(!clearing.isOnset, "\(onset) is cleared by \(clearing)")
                #expect(clearing.needsProxy == onset.needsProxy, "\(onset) is cleared by \(clearing)")
                #expect(clearing.shard == onset.shard, "\(onset) is cleared by \(clearing)")
            }
        }
        #expect(RedisFault.hang.clearing == .resume)
        #expect(RedisFault.kill.clearing == .start)
        #expect(RedisFault.proxyBlackhole.clearing == .proxyClear)
        #expect(RedisFault.killShard(2).clearing == .startShard(2))
        #expect(RedisFault.hangShard(1).clearing == .resumeShard(1))
        #expect(![RedisFault.resume, .start, .proxyClear, .resumeShard(0), .startShard(0)].contains { $0.isOnset })
        #expect(
            RedisFault.killShard(3).needsCluster && RedisFault.killShard(3).shard == 3 && !RedisFault.kill.needsCluster)
    }
}
