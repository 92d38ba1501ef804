import DemoKit
import Testing

struct DemoConfigurationTests {
    @Test func faultsNeedTheDemosOwnServer() {
        var configuration = DemoConfiguration()
        configuration.redisURL = "redis://127.0.0.1:6379"
        configuration.faults = .standard(for: configuration.duration)
        #expect {
            try configuration.validate()
        } throws: { error in
            "\(error)".contains("--faults needs the server the demo starts itself")
                && "\(error)".contains("docker compose stop redis")
        }
        configuration.faults = .none
        #expect(throws: Never.self) { try configuration.validate() }
    }

    @Test func theDeadlineIsTheCommandTimeoutPlusTheMargin() {
        var configuration = DemoConfiguration()
        configuration.commandTimeout = .milliseconds(100)
        configuration.deadlineMargin = .milliseconds(100)
        #expect(configuration.callDeadline == .milliseconds(200))
    }
}

struct ClusterConfigurationTests {
    @Test func theDemosOwnClusterTakesTheDefaultClusterSchedule() {
        var configuration = DemoConfiguration()
        configuration.cluster = true
        configuration.faults = .standardCluster(for: configuration.duration)
        #expect(configuration.isCluster)
        #expect(throws: Never.self) { try configuration.validate() }
    }

    @Test func shardFaultsWithoutAClusterAreRejectedWithTheOptionToUse() throws {
        var configuration = DemoConfiguration()
        configuration.faults = try FaultSchedule(parsing: "6s:kill-shard 1,16s:start-shard 1")
        #expect {
            try configuration.validate()
        } throws: { error in
            "\(error)".contains("--faults: fault '6s:kill-shard 1' acts on a shard of a Redis Cluster")
                && "\(error)".contains("--cluster")
        }
    }

    @Test func aShardTheClusterDoesNotHaveIsRejected() throws {
        var configuration = DemoConfiguration()
        configuration.cluster = true
        configuration.faults = try FaultSchedule(parsing: "6s:kill-shard 5,16s:start-shard 5")
        #expect {
            try configuration.validate()
        } throws: { error in
            "\(error)".contains("no shard 5")
        }
    }

    @Test func faultsNeedTheDemosOwnClusterAndTargetsExcludeOneAnother() {
        var configuration = DemoConfiguration()
        configuration.redisClusterURL = "redis://127.0.0.1:7001,127.0.0.1:7002"
        configuration.faults = .standardCluster(for: configuration.duration)
        #expect {
            try configuration.validate()
        } throws: { error in
            "\(error)".contains("--faults needs the cluster the demo starts itself")
                && "\(error)".contains("docker compose stop redis-node-1")
        }
        configuration.faults = .none
        #expect(throws: Never.self) { try configuration.validate() }
        configuration.cluster = true
        #expect {
            try configuration.validate()
        } throws: { error in
            "\(error)".contains("exclude one another")
        }
    }
}
