import Foundation
import MetricsTestKit
import RedisTestSupport
import Testing

@testable import HiredisClient

/// A local cluster for these tests: 3 primaries and 3 replicas on loopback, `cluster-node-timeout` 1 s.
///
/// Private to these tests until the `RedisCluster` harness of RedisTestSupport lands.
struct TestCluster {
    let servers: [RedisServer]

    var seedURL: String { "redis://127.0.0.1:\(servers[0].port)" }

    func server(for endpoint: RedisClientConfiguration.Endpoint) -> RedisServer {
        servers.first { RedisClientConfiguration.Endpoint.tcp(host: "127.0.0.1", port: $0.port) == endpoint }!
    }

    func nodeID(_ server: RedisServer) async throws -> String {
        try await server.cliAsync("CLUSTER", "MYID")
    }

    static let options = RedisServer.Options(extraArguments: [
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", "1000",
        "--cluster-require-full-coverage", "no",
    ])

    /// Starts the cluster, runs `body` and tears every server down, whether `body` succeeds or not.
    static func with(_ body: (TestCluster) async throws -> Void) async throws {
        var servers: [RedisServer] = []
        do {
            for _ in 0..<6 {
                servers.append(try await RedisServer.start(options))
            }
            let cluster = TestCluster(servers: servers)
            let addresses = servers.map { "127.0.0.1:\($0.port)" }
            _ = try await ChildProcessCLI.createCluster(servers[0], addresses: addresses)
            try await cluster.waitUntilHealthy()
            try await body(cluster)
        } catch {
            for server in servers { await server.shutdown() }
            throw error
        }
        for server in servers { await server.shutdown() }
    }

    /// Waits until every running node says `cluster_state:ok` and sees 3 primaries with a replica each.
    func waitUntilHealthy(timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var healthy = true
            var replicasInSync = 0
            for server in servers where server.isRunning {
                let info = (try? await server.cliAsync("CLUSTER", "INFO", timeout: .seconds(2))) ?? ""
                if !info.contains("cluster_state:ok") { healthy = false }
                let replication = (try? await server.cliAsync("INFO", "replication", timeout: .seconds(2))) ?? ""
                if replication.contains("master_link_status:up") { replicasInSync += 1 }
            }
            if replicasInSync < servers.filter(\.isRunning).count / 2 { healthy = false }
            if healthy { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the cluster did not become healthy within \(timeout)")
        throw CancellationError()
    }
}

enum ChildProcessCLI {
    static func createCluster(_ server: RedisServer, addresses: [String]) async throws -> String {
        let arguments = ["--cluster", "create"] + addresses + ["--cluster-replicas", "1", "--cluster-yes"]
        return try await server.cliAsync(arguments, timeout: .seconds(60))
    }
}

extension RedisServer {
    func cliAsync(_ arguments: [String], timeout: Duration) async throws -> String {
        // cliAsync is variadic; spell out the arguments redis-cli --cluster create needs.
        switch arguments.count {
        case 11:
            return try await cliAsync(
                arguments[0], arguments[1], arguments[2], arguments[3], arguments[4], arguments[5], arguments[6],
                arguments[7], arguments[8], arguments[9], arguments[10], timeout: timeout)
        default:
            fatalError("unexpected argument count \(arguments.count)")
        }
    }
}

/// The client's lasting threads in this process: I/O threads, event loops and deadline threads, by name (not the
/// short-lived `redis-connect` and `redis-close`).
enum ClusterThreads {
    static var count: Int {
        ProcessThreads.names.filter {
            $0.hasPrefix("redis-io") || $0.hasPrefix("redis-loop") || $0.hasPrefix("redis-deadline")
        }.count
    }
}

func withClusterClient(
    _ cluster: TestCluster,
    configure: (inout RedisClusterConfiguration) -> Void = { _ in },
    _ body: (RedisClusterClient) async throws -> Void
) async throws {
    var configuration = try RedisClusterConfiguration(url: cluster.seedURL)
    configuration.node.commandTimeout = .milliseconds(500)
    configuration.node.connectTimeout = .milliseconds(500)
    configure(&configuration)
    let client = try RedisClusterClient(configuration: configuration, logger: quietLogger)
    do {
        try await body(client)
    } catch {
        await client.close()
        throw error
    }
    await client.close()
}

/// The cluster client against a real local cluster. Each test starts its own 6 servers.
@Suite(.serialized)
struct ClusterIntegrationTests {
    @Test func keysSpreadOverAllShardsReadBackFromOneSeed() async throws {
        try await TestCluster.with { cluster in
            let threadsBefore = ClusterThreads.count
            try await withClusterClient(cluster) { client in
                #expect(client.shards.isEmpty)
                #expect(client.shardID(forKey: "a") == nil)
                let keys = (0..<300).map { RedisKey("key:\($0)") }
                for (index, key) in keys.enumerated() {
                    try await client.set(key, value: bytes("value \(index)"))
                }
                #expect(client.shards.map(\.id) == [0, 1, 2])
                #expect(client.shards[0].slots.first?.lowerBound == 0)
                for (index, key) in keys.enumerated() {
                    #expect(try await client.get(key) == bytes("value \(index)"))
                }
                #expect(try await client.get("missing") == nil)
                // A replica counts once it has replicated something (CLUSTER SHARDS says "loading" before).
                for key in ["{a}", "{b}", "{c}", "{d}", "{e}"] {
                    _ = try await client.send(
                        RedisCommand("WAIT", [bytes("1"), bytes("2000")]), key: RedisKey(key), timeout: .seconds(3))
                }
                // Each primary learns its replica's offset by gossip; until then the replica is "loading".
                let clock = ContinuousClock()
                let gossipDeadline = clock.now + .seconds(5)
                repeat {
                    try await client.refreshTopology()
                    if client.shards.allSatisfy({ $0.replicas.count == 1 }) { break }
                    try await Task.sleep(for: .milliseconds(100))
                } while clock.now < gossipDeadline
                #expect(client.shards.allSatisfy { $0.replicas.count == 1 })
                // Every shard got some of the keys, and each key is on the node its shard id names.
                var perShard: [Int: Int] = [:]
                for key in keys {
                    let id = try #require(client.shardID(forKey: key.description))
                    perShard[id, default: 0] += 1
                    let node = try #require(try client.client(forShard: id))
                    #expect(try await node.exists([key]) == 1)
                }
                #expect(perShard.count == 3)
                try await client.ping()
                for shard in client.shards { try await client.ping(shard: shard.id) }

                // Threads: the event loops all the nodes share, and one deadline thread.
                let added = ClusterThreads.count - threadsBefore
                print(
                    "cluster client threads: \(added) for \(client.shards.count) primaries, \(ProcessThreads.count) in the process"
                )
                #expect(added == EventLoopGroup.defaultLoopCount + 1)

                // Hash tags land on one node; MGET across slots keeps the caller's order.
                let tagged = (0..<20).map { RedisKey("{user42}:\($0)") }
                for key in tagged { try await client.set(key, value: key.bytes) }
                #expect(Set(tagged.map { client.shardID(forKey: $0.description) }).count == 1)
                let mixed = Array(keys.prefix(80)) + tagged + ["missing:1"]
                let values = try await client.mget(mixed)
                #expect(values.count == 101)
                for index in 0..<80 { #expect(values[index] == bytes("value \(index)")) }
                for (offset, key) in tagged.enumerated() { #expect(values[80 + offset] == key.bytes) }
                #expect(values[100] == nil)

                // A pipeline across nodes answers in order.
                let results = await client.pipeline(
                    keys.prefix(30).map { key in (key, RedisCommand("GET", [key.bytes])) })
                for (index, result) in results.enumerated() {
                    #expect(try result.get().bytes == bytes("value \(index)"))
                }

                // SCAN walks every primary once; a tagged pattern walks one node.
                var seen: [RedisKey] = []
                for try await batch in client.scan(match: "key:*", count: 50) { seen += batch }
                #expect(seen.count == 300)
                #expect(Set(seen) == Set(keys))
                var taggedSeen: [RedisKey] = []
                for try await batch in client.scan(match: "{user42}:*") { taggedSeen += batch }
                #expect(Set(taggedSeen) == Set(tagged))
                let tagShard = try #require(client.shardID(forKey: "{user42}"))
                var shardSeen = 0
                for try await batch in client.scan(shard: tagShard, match: "{user42}:*") { shardSeen += batch.count }
                #expect(shardSeen == 20)
                var otherShardSeen = 0
                for try await batch in client.scan(shard: (tagShard + 1) % 3, match: "{user42}:*") {
                    otherShardSeen += batch.count
                }
                #expect(otherShardSeen == 0)

                // UNLINK and DEL across slots count the keys that existed.
                #expect(try await client.unlink(Array(keys.prefix(100)) + ["missing:1", "missing:2"]) == 100)
                #expect(try await client.del(Array(keys.prefix(150))) == 50)
                #expect(try await client.get(keys[0]) == nil)
                #expect(try await client.get(keys[150]) == bytes("value 150"))
            }
        }
    }

    @Test func movedAndAskAreFollowedWhileASlotMigrates() async throws {
        try await TestCluster.with { cluster in
            try await withClusterClient(cluster) { client in
                let key: RedisKey = "{moving}:1"
                let fresh: RedisKey = "{moving}:2"
                let slot = RedisClusterSlot.of(key)
                try await client.set(key, value: bytes("one"))
                let sourceShard = try #require(client.shardID(forSlot: slot))
                let source = cluster.server(for: client.shards[sourceShard].primary)
                let targetShard = (sourceShard + 1) % 3
                let target = cluster.server(for: client.shards[targetShard].primary)
                var strictConfiguration = client.configuration
                strictConfiguration.maximumRedirects = 0
                let strict = try RedisClusterClient(configuration: strictConfiguration, logger: quietLogger)
                try await strict.refreshTopology()
                let sourceID = try await cluster.nodeID(source)
                let targetID = try await cluster.nodeID(target)

                // Held migrating, with the key already moved: the source answers ASK.
                #expect(try await target.cliAsync("CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", sourceID) == "OK")
                #expect(try await source.cliAsync("CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", targetID) == "OK")
                #expect(
                    try await source.cliAsync(
                        "MIGRATE", "127.0.0.1", "\(target.port)", "", "0", "5000", "KEYS", key.description) == "OK")
                #expect(try await client.get(key) == bytes("one"))
                try await client.set(fresh, value: bytes("two"))  // a new key goes to the importing node
                #expect(try await client.get(fresh) == bytes("two"))
                #expect(client.shardID(forSlot: slot) == sourceShard)  // ASK leaves the map as it is

                // The migration ends: the source answers MOVED, the map follows.
                for server in [target, source] {
                    #expect(try await server.cliAsync("CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID) == "OK")
                }
                #expect(try await client.get(key) == bytes("one"))
                #expect(try await client.get(fresh) == bytes("two"))
                #expect(client.shardID(forSlot: slot) == targetShard)
                // The refresh MOVED triggered agrees, and keeps the shard ids.
                try await client.refreshTopology()
                #expect(client.shardID(forSlot: slot) == targetShard)
                #expect(client.shards.map(\.id) == [0, 1, 2])

                // A client that learnt the map before the move and may follow no redirect: TOO_MANY_REDIRECTS.
                let error = await RedisClientError.caught { _ = try await strict.get(key) }
                #expect(error?.code == .tooManyRedirects)
                #expect(error?.serverError?.code == "MOVED")
                await strict.close()

                // Replica reads: GET goes to the shard's replica (READONLY), with the node as a metrics dimension.
                let metrics = TestMetrics()
                var replicaConfiguration = client.configuration
                replicaConfiguration.readFromReplicas = true
                let reader = try RedisClusterClient(
                    configuration: replicaConfiguration,
                    logger: quietLogger,
                    metricsFactory: metrics
                )
                let replicated: RedisKey = "replicated"
                try await reader.set(replicated, value: bytes("copy"))
                _ = try await reader.send(
                    RedisCommand("WAIT", [bytes("1"), bytes("2000")]), key: replicated, timeout: .seconds(3))
                // The primary learns its replica's offset by gossip; until then the replica is "loading".
                var replicas: [RedisClientConfiguration.Endpoint] = []
                for _ in 0..<50 where replicas.isEmpty {
                    try await reader.refreshTopology()
                    replicas = reader.shards.first { $0.id == reader.shardID(forKey: "replicated") }?.replicas ?? []
                    if replicas.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
                }
                let replica = try #require(replicas.first)
                #expect(try await reader.get(replicated) == bytes("copy"))
                let stats = try await cluster.server(for: replica).cliAsync("INFO", "commandstats")
                #expect(stats.contains("cmdstat_get:"))
                #expect(stats.contains("cmdstat_readonly:"))
                let connects = try metrics.expectCounter("redis_connects_total", [("node", replica.description)])
                #expect(connects.totalValue >= 1)
                await reader.close()
            }
        }
    }

    @Test func aHungPrimaryTimesOutAndAKilledOneFailsFastUntilItsReplicaTakesOver() async throws {
        try await TestCluster.with { cluster in
            try await withClusterClient(cluster) { client in
                let keys = (0..<60).map { RedisKey("k:\($0)") }
                for key in keys { try await client.set(key, value: key.bytes) }
                let victimShard = try #require(client.shardID(forKey: "k:0"))
                let victim = cluster.server(for: client.shards[victimShard].primary)
                let victimKeys = keys.filter { client.shardID(forKey: $0.description) == victimShard }
                let otherKey = try #require(keys.first { client.shardID(forKey: $0.description) != victimShard })
                // Replicated before the faults, so the promoted replica has the keys.
                _ = try await client.send(
                    RedisCommand("WAIT", [bytes("1"), bytes("2000")]), key: "k:0", timeout: .seconds(3))

                // Hung (shorter than the node timeout, so no failover): TIMEOUT within the call's timeout.
                victim.hang()
                var error: RedisClientError?
                let hung = await measure {
                    error = await RedisClientError.caught {
                        _ = try await client.get("k:0", timeout: .milliseconds(200))
                    }
                }
                victim.resume()
                #expect(error?.code == .timeout)
                #expect(hung < .milliseconds(450))
                #expect(try await client.get(otherKey) == otherKey.bytes)
                try await Task.sleep(for: .milliseconds(100))
                #expect(try await client.get("k:0") == bytes("k:0"))

                // Killed: its keys fail fast, other shards keep working.
                await victim.kill()
                for _ in 0..<3 {
                    var killedError: RedisClientError?
                    let elapsed = await measure {
                        killedError = await RedisClientError.caught { _ = try await client.get("k:0") }
                    }
                    #expect(elapsed < .milliseconds(200))
                    #expect([.connectionRefused, .connectionLost, .connectionFailed].contains(killedError?.code))
                    #expect(try await client.get(otherKey) == otherKey.bytes)
                }
                // The replica takes over (node timeout 1 s); the client finds it through its refreshes.
                let clock = ContinuousClock()
                let deadline = clock.now + .seconds(15)
                var recovered = false
                while clock.now < deadline {
                    if (try? await client.get("k:0")) == bytes("k:0") {
                        recovered = true
                        break
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(recovered)
                #expect(client.shardID(forKey: "k:0") == victimShard)
                let shard = try #require(client.shards.first { $0.id == victimShard })
                #expect(shard.primary != .tcp(host: "127.0.0.1", port: victim.port))
                for key in victimKeys { #expect(try await client.get(key) == key.bytes) }
                try await client.ping(shard: victimShard)
            }
        }
    }

    @Test func callsBeforeDiscoveryWaitWithinTheirDeadlineAndCloseIsFinal() async throws {
        // Nothing listens on the seed: discovery fails with the seed's error, within the call's timeout.
        let free = try await RedisServer.start()
        let port = free.port
        await free.shutdown()
        let client = try RedisClusterClient(
            configuration: RedisClusterConfiguration(seeds: [.tcp(host: "127.0.0.1", port: port)]),
            logger: quietLogger
        )
        var error: RedisClientError?
        let elapsed = await measure {
            error = await RedisClientError.caught { _ = try await client.get("a", timeout: .milliseconds(300)) }
        }
        #expect(error?.code == .connectionRefused)
        #expect(elapsed < .milliseconds(400))
        await client.close()
        await client.close()
        #expect(await RedisClientError.code { _ = try await client.get("a") } == .closed)
    }
}
