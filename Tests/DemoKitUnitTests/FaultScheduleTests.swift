import DemoKit
import Testing
import _LoadKit

struct FaultScheduleTests {
    @Test func parsesTheIssuesExample() throws {
        let schedule = try FaultSchedule(parsing: "5s:hang,12s:resume,20s:stop,26s:start")
        #expect(
            schedule.entries == [
                ScheduledFault(at: .seconds(5), fault: .hang),
                ScheduledFault(at: .seconds(12), fault: .resume),
                ScheduledFault(at: .seconds(20), fault: .stop),
                ScheduledFault(at: .seconds(26), fault: .start),
            ])
        #expect(schedule.description == "5s:hang,12s:resume,20s:stop,26s:start")
    }

    @Test func readsUnitsSleepLengthsAndSortsByTime() throws {
        let schedule = try FaultSchedule(parsing: " 8:sleep 2 , 1500ms:kill, 4s:restart, 10s:sleep=500ms ")
        #expect(
            schedule.entries == [
                ScheduledFault(at: .milliseconds(1500), fault: .kill),
                ScheduledFault(at: .seconds(4), fault: .start),
                ScheduledFault(at: .seconds(8), fault: .sleep(.seconds(2))),
                ScheduledFault(at: .seconds(10), fault: .sleep(.milliseconds(500))),
            ])
    }

    @Test func noneIsTheEmptySchedule() throws {
        #expect(try FaultSchedule(parsing: "none").entries.isEmpty)
        #expect(try FaultSchedule(parsing: "").entries.isEmpty)
    }

    @Test(arguments: [
        ("5s", "not TIME:FAULT"),
        ("5s:explode", "unknown fault"),
        ("x:hang", "not a duration"),
        ("5s:sleep", "sleep needs a length"),
        ("5parsecs:hang", "unknown unit"),
    ])
    func rejectsMalformedEntriesWithTheReason(text: String, reason: String) {
        #expect {
            try FaultSchedule(parsing: text)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test(arguments: [
        ("5s:resume", "not hung"),
        ("5s:start", "running"),
        ("5s:stop,6s:hang", "down"),
        ("5s:hang,6s:sleep 1", "hung"),
        ("31s:hang", "end of the run"),
    ])
    func rejectsFaultsThatMakeNoSenseWhereTheyStand(text: String, reason: String) throws {
        let schedule = try FaultSchedule(parsing: text)
        #expect {
            try schedule.validate(duration: .seconds(30))
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test func readsTheWholeFaultVocabularyAndSaysWhenAProxyIsNeeded() throws {
        let server = try FaultSchedule(parsing: "1s:pause 2,4s:client-kill 1s,6s:sleep 1")
        try server.validate(duration: .seconds(30))
        #expect(!server.needsProxy)
        let network = try FaultSchedule(parsing: "1s:proxy-latency 300,3s:proxy-blackhole,5s:proxy-clear,6s:hang")
        try network.validate(duration: .seconds(30))
        #expect(network.needsProxy)
        #expect(network.description == "1s:proxy-latency 300ms,3s:proxy-blackhole,5s:proxy-clear,6s:hang")
        #expect {
            try FaultSchedule(parsing: "5s:proxy-clear").validate(duration: .seconds(30))
        } throws: { error in
            "\(error)".contains("forwards everything already")
        }
        #expect {
            try FaultSchedule(parsing: "5s:stop,6s:pause 1").validate(duration: .seconds(30))
        } throws: { error in
            "\(error)".contains("down")
        }
    }

    @Test func theStandardScheduleHangsThenStopsAndRecoversFromBoth() throws {
        let schedule = FaultSchedule.standard(for: .seconds(30))
        #expect(schedule.description == "6s:hang,11s:resume,17s:stop,23s:start")
        try schedule.validate(duration: .seconds(30))
        let short = FaultSchedule.standard(for: .seconds(10))
        #expect(short.description == "2s:hang,3.7s:resume,5.7s:stop,7.7s:start")
        try short.validate(duration: .seconds(10))
    }
}

/// The shard faults of a cluster run: accepted only with a cluster, for the shards it has, in an order that makes
/// sense; and the default schedule of `demo --cluster`.
struct ClusterFaultScheduleTests {
    @Test func shardFaultsNeedACluster() throws {
        let schedule = try FaultSchedule(parsing: "2s:kill-shard 1,6s:start-shard 1")
        #expect {
            try schedule.validate(duration: .seconds(10))
        } throws: { error in
            "\(error)".contains("acts on a shard of a Redis Cluster: run the demo with --cluster")
        }
        try schedule.validate(duration: .seconds(10), shards: 3)
    }

    @Test(arguments: [
        ("2s:kill-shard 3", "the cluster has shards 0 to 2, no shard 3"),
        ("2s:start-shard 1", "no node of shard 1 was killed"),
        ("2s:resume-shard 0", "shard 0 is not hung"),
        ("2s:kill-shard 1,3s:kill-shard 1", "shard 1's primary was killed"),
        ("2s:hang-shard 2,3s:kill-shard 2", "shard 2's primary is hung"),
        ("2s:kill-shard 1,3s:stop", "while shard 1 is faulted"),
        ("2s:stop,3s:kill-shard 0", "the whole cluster is down"),
        ("2s:proxy-blackhole,3s:proxy-clear", "the demo's cluster has none"),
    ])
    func rejectsShardFaultsThatMakeNoSenseWithTheReason(text: String, reason: String) throws {
        let schedule = try FaultSchedule(parsing: text)
        #expect {
            try schedule.validate(duration: .seconds(30), shards: 3)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test func faultsOfTheWholeClusterAndOfSeveralShardsAtOnceAreAccepted() throws {
        try FaultSchedule(parsing: "1s:kill-shard 0,2s:hang-shard 2,4s:start-shard 0,5s:resume-shard 2")
            .validate(duration: .seconds(10), shards: 3)
        try FaultSchedule(parsing: "1s:stop,3s:start,5s:hang,6s:resume,7s:sleep 1")
            .validate(duration: .seconds(10), shards: 3)
    }

    @Test func theDefaultClusterScheduleKillsAndHangsAPrimaryAndBringsBothBack() throws {
        let schedule = FaultSchedule.standardCluster(for: .seconds(30))
        #expect(schedule.description == "6s:kill-shard 1,13s:start-shard 1,18s:hang-shard 2,24s:resume-shard 2")
        try schedule.validate(duration: .seconds(30), shards: 3)
        let short = FaultSchedule.standardCluster(for: .seconds(10))
        #expect(short.description == "2s:kill-shard 1,4.3s:start-shard 1,6s:hang-shard 2,8s:resume-shard 2")
        try short.validate(duration: .seconds(10), shards: 3)
    }

    @Test func eachKindOfRunGetsItsOwnDefaultSchedule() {
        var configuration = DemoConfiguration()
        #expect(FaultSchedule.default(for: configuration) == .standard(for: .seconds(30)))
        configuration.cluster = true
        #expect(FaultSchedule.default(for: configuration) == .standardCluster(for: .seconds(30)))
        configuration.cluster = false
        configuration.redisClusterURL = "redis://127.0.0.1:7001,127.0.0.1:7002"
        #expect(FaultSchedule.default(for: configuration) == .none)
    }
}
