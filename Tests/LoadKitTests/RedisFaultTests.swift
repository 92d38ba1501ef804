import Testing
import _LoadKit

struct RedisFaultTests {
    @Test(arguments: [
        ("hang", RedisFault.hang), ("resume", .resume), ("stop", .stop), ("kill", .kill), ("start", .start),
        ("sleep 2s", .sleep(.seconds(2))), ("pause 1.5s", .pause(.milliseconds(1500))),
        ("client-kill 2s", .clientKill(.seconds(2))), ("proxy-latency 300ms", .proxyLatency(.milliseconds(300))),
        ("proxy-blackhole", .proxyBlackhole), ("proxy-reset", .proxyReset), ("proxy-refuse", .proxyRefuse),
        ("proxy-clear", .proxyClear),
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
    }

    @Test(arguments: [
        ("explode", "unknown fault 'explode'"),
        ("", "no fault given"),
        ("sleep", "sleep needs a length"),
        ("pause 0", "pause must be longer than 0"),
        ("client-kill x", "not a duration"),
        ("hang 2s", "hang takes no length"),
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
            .proxyLatency(.milliseconds(1)), .proxyBlackhole, .proxyReset, .proxyRefuse,
        ]
        for onset in onsets {
            #expect(onset.isOnset)
            #expect((onset.clearing != nil) != onset.endsByItself, "\(onset)")
            if let clearing = onset.clearing {
                #expect(!clearing.isOnset, "\(onset) is cleared by \(clearing)")
                #expect(clearing.needsProxy == onset.needsProxy, "\(onset) is cleared by \(clearing)")
            }
        }
        #expect(RedisFault.hang.clearing == .resume)
        #expect(RedisFault.kill.clearing == .start)
        #expect(RedisFault.proxyBlackhole.clearing == .proxyClear)
        #expect(![RedisFault.resume, .start, .proxyClear].contains { $0.isOnset })
    }
}
