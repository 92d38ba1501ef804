import DemoKit
import RedisTestSupport
import Resilience
import Testing
import _LoadKit

/// `demo --cluster` end to end: the demo's own cluster, a shard's primary killed and brought back.
struct ClusterDemoTests {
    @Test func aKilledPrimaryOpensOnlyItsShardsBreakerWhichClosesAgainAfterTheFailover() async throws {
        var configuration = DemoConfiguration()
        configuration.cluster = true
        configuration.concurrency = 20
        configuration.keys = 300
        configuration.duration = .seconds(9)
        configuration.originLatency = .milliseconds(5)
        configuration.commandTimeout = .milliseconds(100)
        configuration.openDuration = .milliseconds(500)
        configuration.reportInterval = .milliseconds(500)
        configuration.faults = try FaultSchedule(parsing: "2s:kill-shard 1,6s:start-shard 1")
        let runner = DemoRunner(
            configuration: configuration,
            startCluster: { configuration in
                let cluster = try await RedisCluster.start(
                    primaries: configuration.clusterShards, replicasPerPrimary: 1,
                    nodeTimeout: configuration.clusterNodeTimeout)
                return DemoRunner.StartedCluster(target: cluster, seedURL: cluster.seedURL)
            },
            startServer: { _ in
                Issue.record("a cluster run started a single server")
                throw CancellationError()
            }
        )

        let result = try await runner.run()

        #expect(result.totals.escapedErrors == 0, "\(result.incidents)")
        #expect(result.totals.overruns == 0, "\(result.incidents)")
        #expect(result.faults.map(\.action) == ["kill-shard 1", "start-shard 1"])
        #expect(result.faults.allSatisfy { !$0.failed }, "\(result.faults.map(\.detail))")
        let kill = try #require(result.faults.first).at
        let shard1 = result.transitions.filter { $0.shard == "1" }
        let opened = try #require(shard1.first { $0.to == .open }, "shard 1's breaker never opened: \(shard1)")
        #expect(opened.at >= kill && opened.at - kill < .seconds(1), "opened at \(opened.at), kill at \(kill)")
        let closed = try #require(
            shard1.first { $0.to == .closed && $0.at > opened.at }, "shard 1's breaker never closed: \(shard1)")
        #expect(closed.at - kill < .seconds(6), "closed \(closed.at - kill) after the kill")
        let others = result.transitions.filter { $0.shard != "1" }
        #expect(others.isEmpty, "other shards' breakers moved: \(others)")
        #expect(result.totals.stateAtEnd == .closed)
        #expect(result.totals.journalAtEnd == 0)
        let outage = try #require(result.shardOutages.first)
        #expect(outage.degradedReads > 0)
        #expect((outage.healthyDuring.hitRate ?? 0) > 0.5, "the other shards kept hitting: \(outage.healthyDuring)")
        let recovered = result.shardReadsAfterRecovery
        #expect(recovered.map(\.shard) == ["0", "1", "2"], "\(recovered)")
        #expect(recovered.allSatisfy { $0.reads.hits > 0 }, "hits on every shard after recovery: \(recovered)")
    }
}
