import DemoKit
import Foundation
import HiredisClient
import RedisTestSupport
import Testing

/// `resilient-cache check` against real redis-servers configured the ways an operator meets them.
struct RedisCheckTests {
    /// The check's options for tests: a latency bound no loaded test machine reaches, unless a test sets one.
    private func options(latencyWarning: Duration = .seconds(1)) -> RedisCheck.Options {
        var options = RedisCheck.Options()
        options.latencyWarning = latencyWarning
        options.connectTimeout = .milliseconds(500)
        options.commandTimeout = .milliseconds(500)
        return options
    }

    private func finding(_ check: String, in report: RedisCheckReport) throws -> RedisCheckReport.Finding {
        try #require(report.findings.first { $0.check == check }, "no \(check) finding in \(report.text)")
    }

    /// A server set up as the README says a cache's Redis should be: no persistence, a limit, allkeys-lru.
    private static let cacheServer = RedisServer.Options(maxmemory: "64mb", maxmemoryPolicy: "allkeys-lru")

    @Test func aRedisSetUpAsACachePassesWithEveryFactReported() async throws {
        try await RedisServer.withServer(Self.cacheServer) { server in
            let report = try await RedisCheck.run(url: server.url, options: options())

            #expect(report.level == .ok, "\(report.text)")
            #expect(report.exitCode == 0)
            #expect(
                report.findings.map(\.check) == [
                    "connection", "version", "topology", "latency", "persistence", "memory", "tls", "permissions",
                ])
            let info = try await server.cliAsync("INFO", "server")
            let version = try #require(report.version)
            #expect(info.contains("redis_version:\(version)\r\n"))
            #expect(report.mode == "standalone")
            #expect(report.role == "master")
            #expect(report.user == "default")
            let latency = try #require(report.latency)
            #expect(latency.pings == 1000)
            #expect(latency.p50 > .zero && latency.p50 <= latency.p99 && latency.p99 <= latency.max)
            #expect(report.rdb == false && report.aof == false)
            #expect(report.maxmemory == Int64(64 * 1024 * 1024))
            #expect(report.maxmemoryPolicy == "allkeys-lru")
            #expect(report.tls == false)
            #expect(try finding("tls", in: report).message.contains("not used"))
            #expect(report.permissionMethod == "ACL DRYRUN")
            #expect(report.permissions.map(\.command) == RedisCheck.cacheCommands)
            #expect(report.permissions.allSatisfy { $0.permitted })
            #expect(try await server.cliAsync("DBSIZE") == "0", "the check wrote nothing")
        }
    }

    @Test func aClusterNodeIsUsableWithTheClusterCacheAndFullCoverageIsAWarning() async throws {
        // No replicas: a killed primary stays down, so the cluster stays without its slots.
        try await RedisCluster.withCluster(replicasPerPrimary: 0) { cluster in
            let node = cluster.nodes[0]
            let report = try await RedisCheck.run(url: node.url, options: options())
            #expect(report.mode == "cluster")
            let topology = try finding("topology", in: report)
            #expect(topology.level == .ok, "\(report.text)")
            #expect(topology.message.contains("cluster_state ok, 3 shards, 3 nodes"))
            #expect(topology.message.contains("ResilientCache(cluster:)"))
            // The Redis default: one dead shard stops every shard; a cache wants the others to keep serving.
            for server in cluster.nodes {
                _ = try await server.cliAsync("CONFIG", "SET", "cluster-require-full-coverage", "yes")
            }
            let strict = try finding("topology", in: try await RedisCheck.run(url: node.url, options: options()))
            #expect(strict.level == .warn)
            #expect(strict.message.contains("cluster-require-full-coverage is yes"))
            // A cluster that does not serve every slot fails the check.
            _ = try await cluster.killShard(cluster.shard(of: node) == 1 ? 2 : 1)
            for server in cluster.nodes where server.isRunning {
                _ = try? await server.cliAsync("CONFIG", "SET", "cluster-require-full-coverage", "yes")
            }
            let deadline = ContinuousClock.now + .seconds(10)
            var down = try finding("topology", in: try await RedisCheck.run(url: node.url, options: options()))
            while down.level != .fail && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                down = try finding("topology", in: try await RedisCheck.run(url: node.url, options: options()))
            }
            #expect(down.level == .fail, "\(down.message)")
        }
    }

    @Test func noevictionIsAWarningThatDoesNotFail() async throws {
        try await RedisServer.withServer(.init(maxmemory: "64mb", maxmemoryPolicy: "noeviction")) { server in
            let report = try await RedisCheck.run(url: server.url, options: options())

            let memory = try finding("memory", in: report)
            #expect(memory.level == .warn)
            #expect(memory.message.contains("noeviction") && memory.message.contains("OOM"))
            #expect(report.maxmemoryPolicy == "noeviction")
            #expect(report.level == .warn)
            #expect(report.exitCode == 0)
        }
    }

    @Test func noMaxmemoryLimitIsAWarning() async throws {
        try await RedisServer.withServer(.init(maxmemoryPolicy: "allkeys-lru")) { server in
            let report = try await RedisCheck.run(url: server.url, options: options())

            #expect(report.maxmemory == 0)
            let memory = try finding("memory", in: report)
            #expect(memory.level == .warn)
            #expect(memory.message.contains("no maxmemory limit"))
        }
    }

    @Test(arguments: [["--appendonly", "yes"], ["--save", "3600 1"]])
    func persistenceIsAWarningAboutResurrectedValues(arguments: [String]) async throws {
        var server = Self.cacheServer
        server.extraArguments = arguments
        try await RedisServer.withServer(server) { server in
            let report = try await RedisCheck.run(url: server.url, options: options())

            let persistence = try finding("persistence", in: report)
            #expect(persistence.level == .warn)
            #expect(persistence.message.contains("resurrected"))
            #expect(report.aof == (arguments[0] == "--appendonly"))
            #expect(report.rdb == (arguments[0] == "--save"))
            #expect(report.exitCode == 0)
        }
    }

    @Test func aUserWithoutUnlinkFailsThePermissionCheckNamingUnlink() async throws {
        let user = RedisServer.Options.ACLUser(name: "cache", password: "pw", rules: "~* +@all -unlink")
        try await RedisServer.withServer(.init(aclUsers: [user])) { server in
            let url = "redis://cache:pw@127.0.0.1:\(server.port)"
            let report = try await RedisCheck.run(url: url, options: options())

            #expect(report.user == "cache")
            #expect(report.permissionMethod == "ACL DRYRUN")
            #expect(report.permissions.filter { !$0.permitted }.map(\.command) == ["UNLINK"])
            let permissions = try finding("permissions", in: report)
            #expect(permissions.level == .fail)
            #expect(permissions.message.contains("may not run UNLINK"))
            #expect(report.exitCode == 1)
        }
    }

    @Test func withoutAclDryRunTheCommandsAreRunOnAScratchKeyThatIsDeletedAfterwards() async throws {
        // No ACL at all (so no WHOAMI, no DRYRUN) and no CONFIG: the check must run the commands themselves and
        // fall back to INFO for the eviction policy.
        let user = RedisServer.Options.ACLUser(
            name: "cache", password: "pw", rules: "~app:* +@all -unlink -acl -config")
        try await RedisServer.withServer(.init(aclUsers: [user], maxmemoryPolicy: "allkeys-lru")) { server in
            var options = options()
            options.keyPrefix = "app:"
            let report = try await RedisCheck.run(url: "redis://cache:pw@127.0.0.1:\(server.port)", options: options)

            #expect(report.permissionMethod == "executed")
            let denied = report.permissions.filter { !$0.permitted }
            #expect(denied.map(\.command) == ["UNLINK"])
            #expect(denied.first?.detail?.hasPrefix("NOPERM") == true)
            #expect(try finding("permissions", in: report).level == .fail)
            #expect(report.exitCode == 1)
            #expect(try await server.cliAsync("DBSIZE") == "0", "the scratch key was deleted")
            #expect(report.maxmemoryPolicy == "allkeys-lru")
            #expect(try finding("memory", in: report).message.contains("CONFIG not permitted"))
            #expect(report.rdb == nil)
            #expect(try finding("persistence", in: report).message.contains("CONFIG not permitted"))
        }
    }

    @Test func aStoppedServerFailsWithExitCode1WithinTheConnectTimeout() async throws {
        try await RedisServer.withServer(Self.cacheServer) { server in
            await server.stop()
            let options = options()
            let started = ContinuousClock.now
            let report = try await RedisCheck.run(url: server.url, options: options)
            let elapsed = ContinuousClock.now - started

            #expect(elapsed < options.connectTimeout + .milliseconds(200), "took \(elapsed)")
            #expect(report.exitCode == 1)
            #expect(report.findings.count == 1)
            let connection = try finding("connection", in: report)
            #expect(connection.level == .fail)
            #expect(connection.message.contains("cannot reach 127.0.0.1:\(server.port)"))
        }
    }

    @Test func aHungServerFailsWithinTheCommandTimeout() async throws {
        try await RedisServer.withServer(Self.cacheServer) { server in
            server.hang()
            defer { server.resume() }
            let options = options()
            let started = ContinuousClock.now
            let report = try await RedisCheck.run(url: server.url, options: options)
            let elapsed = ContinuousClock.now - started

            #expect(elapsed >= options.commandTimeout - .milliseconds(50), "took \(elapsed)")
            #expect(elapsed < options.commandTimeout + .milliseconds(300), "took \(elapsed)")
            #expect(report.exitCode == 1)
            #expect(try finding("connection", in: report).level == .fail)
        }
    }

    @Test func aSlowRoundTripIsAWarningThatDoesNotFail() async throws {
        try await RedisServer.withServer(Self.cacheServer) { server in
            var options = options(latencyWarning: .nanoseconds(1))
            options.pings = 50
            let report = try await RedisCheck.run(url: server.url, options: options)

            #expect(report.latency?.pings == 50)
            let latency = try finding("latency", in: report)
            #expect(latency.level == .warn)
            #expect(latency.message.contains("p99 is above"))
            #expect(report.exitCode == 0)
        }
    }

    @Test func theJSONReportIsOneObjectWithEveryFieldAndNoPassword() async throws {
        try await RedisServer.withServer(.init(password: "s3cret", maxmemory: "64mb", maxmemoryPolicy: "noeviction")) {
            server in
            let report = try await RedisCheck.run(url: server.url, options: options())

            #expect(!report.json.contains("\n"))
            #expect(!report.json.contains("s3cret") && !report.text.contains("s3cret"))
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
            #expect(object["target"] as? String == "127.0.0.1:\(server.port)")
            #expect(object["result"] as? String == "warn")
            #expect(object["exitCode"] as? Int == 0)
            #expect(object["user"] as? String == "default")
            #expect(object["version"] as? String == report.version)
            #expect(object["mode"] as? String == "standalone")
            #expect(object["role"] as? String == "master")
            let latency = try #require(object["latency"] as? [String: Any])
            #expect(latency["pings"] as? Int == 1000)
            let p50 = try #require(latency["p50Microseconds"] as? Int)
            let p99 = try #require(latency["p99Microseconds"] as? Int)
            #expect(p50 <= p99)
            #expect(latency["maxMicroseconds"] is Int)
            let persistence = try #require(object["persistence"] as? [String: Any])
            #expect(persistence["rdb"] as? Bool == false && persistence["aof"] as? Bool == false)
            #expect(object["maxmemoryBytes"] as? Int == 64 * 1024 * 1024)
            #expect(object["maxmemoryPolicy"] as? String == "noeviction")
            #expect(object["tls"] as? Bool == false)
            #expect(object["permissionMethod"] as? String == "ACL DRYRUN")
            let permissions = try #require(object["permissions"] as? [[String: Any]])
            #expect(permissions.compactMap { $0["command"] as? String } == RedisCheck.cacheCommands)
            #expect(permissions.allSatisfy { $0["permitted"] as? Bool == true })
            let findings = try #require(object["findings"] as? [[String: Any]])
            #expect(findings.count == report.findings.count)
            #expect(findings.contains { $0["check"] as? String == "memory" && $0["level"] as? String == "warn" })
            #expect(findings.allSatisfy { ($0["message"] as? String)?.isEmpty == false })
        }
    }

    @Test func aTLSServerIsCheckedOverTLSWithItsCertificateVerified() async throws {
        try await TestCertificates.withCertificates { certificates in
            var serverOptions = Self.cacheServer
            serverOptions.tls = .init(certificates: certificates)
            try await RedisServer.withServer(serverOptions) { server in
                var options = options()
                options.tls = .init(caFile: certificates.caFile)
                let report = try await RedisCheck.run(url: server.tlsURL!, options: options)

                #expect(report.level == .ok, "\(report.text)")
                #expect(report.tls == true)
                #expect(try finding("tls", in: report).message.contains("verified"))

                // A CA that did not sign the server's certificate: a failed finding that says why.
                options.tls = .init(caFile: certificates.otherCAFile)
                let refused = try await RedisCheck.run(url: server.tlsURL!, options: options)
                #expect(refused.exitCode == 1)
                #expect(try finding("connection", in: refused).message.contains("TLS_CERTIFICATE_REJECTED"))
            }
        }
    }
}
