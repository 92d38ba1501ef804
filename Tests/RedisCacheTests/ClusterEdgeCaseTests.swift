import Foundation
import HiredisClient
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import Synchronization
import Testing

/// The cluster's edge cases a cold review found, each against a real local cluster: a "not found" entry on another
/// shard, a shard drained of its slots while journaled, an acknowledged write lost in a failover, a shutdown while
/// every node hangs, the threads after a whole-cluster outage, and a forced-open circuit over shards met later.
@Suite(.serialized)
struct ClusterEdgeCaseTests {
    static let logger = Logger(label: "cluster-edge", factory: { _ in SwiftLogNoOpLogHandler() })

    func makeCache(
        _ cluster: RedisCluster,
        commandTimeout: Duration = .milliseconds(200),
        refresh: Duration = .seconds(30),
        auth: RedisClientConfiguration.Authentication? = nil,
        negativeTTL: Duration? = nil
    ) throws -> ResilientCache {
        var redis = try RedisClusterConfiguration(url: cluster.seedURL)
        redis.node.commandTimeout = commandTimeout
        redis.node.connectTimeout = commandTimeout
        redis.node.authentication = auth
        redis.topologyRefreshInterval = refresh
        var configuration = ResilientCacheConfiguration(
            namespace: "cl:",
            breaker: CircuitBreakerConfiguration(
                failureThreshold: 5, openDuration: .seconds(30), failureRateThreshold: nil)
        )
        configuration.ttlJitter = 0
        configuration.negativeTTL = negativeTTL
        return try ResilientCache(cluster: redis, configuration: configuration, logger: Self.logger)
    }

    func states(_ cache: ResilientCache) -> [String: String] {
        var states: [String: String] = [:]
        for shard in cache.health().shards ?? [] { states[shard.shard ?? "?"] = shard.state }
        return states
    }

    func shardOf(_ cluster: RedisCluster, _ name: String) async throws -> Int {
        try await cluster.shard(ofSlot: RedisCluster.slot(of: name))
    }

    func threads() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? -1
    }

    // fetchOptional with negative caching: the "not found" entry lives on another shard, and a failure
    //    there is counted against the key's own shard.
    @Test func aNotFoundEntryOnADeadShardCountsAgainstThatShardNotTheKeys() async throws {
        try await RedisCluster.withCluster(nodeTimeout: .seconds(15)) { cluster in
            let cache = try makeCache(cluster, negativeTTL: .seconds(30))
            let running = Task { await cache.run() }
            defer { cache.shutdown() }
            var key: String?
            for index in 0..<2000 {
                let name = "n:\(index)"
                if try await shardOf(cluster, "cl:" + name) == 0,
                    try await shardOf(cluster, "cl:" + name + "\u{0}not-found") == 2
                {
                    key = name
                    break
                }
            }
            let k = try #require(key)
            _ = try await cache.get(k)  // learn the topology
            try await cluster.killShard(2)
            for _ in 0..<10 {
                _ = try await cache.fetchOptional(k, ttl: .seconds(60)) { Array("v".utf8) }
            }
            try await Task.sleep(for: .milliseconds(100))
            let observed = states(cache)
            print("cluster edge: negative: states after fetchOptional of a shard-0 key = \(observed)")
            #expect(observed["0"] == "closed", "shard 0 is healthy; its breaker opened because shard 2 is dead")
            cache.shutdown()
            await running.value
        }
    }

    // A shard drained of all its slots while its unit holds a journal entry: the entry is never replayed,
    //    and the key, now on another shard, is read back stale.
    @Test func aShardDrainedOfItsSlotsWhileJournaledStillReplaysAndCloses() async throws {
        try await RedisCluster.withCluster(nodeTimeout: .seconds(15)) { cluster in
            for shard in 0..<3 {
                for node in try cluster.nodes(ofShard: shard) {
                    _ = try await node.cliAsync("ACL", "SETUSER", "cache", "on", ">pw", "~*", "&*", "+@all")
                }
            }
            let cache = try makeCache(
                cluster, refresh: .seconds(1),
                auth: RedisClientConfiguration.Authentication(username: "cache", password: "pw"))
            let running = Task { await cache.run() }
            defer { cache.shutdown() }
            let keys = try await cluster.keys(inShard: 0, count: 6, prefix: "cl:d:").map { String($0.dropFirst(3)) }
            for key in keys { try await cache.set(key, Array("old".utf8), ttl: .seconds(600)) }
            for node in try cluster.nodes(ofShard: 0) {
                _ = try await node.cliAsync("ACL", "SETUSER", "cache", "-@all")
            }
            #expect(try await cache.delete(keys[0]) == 0, "journaled in shard 0's unit")
            for key in keys.dropFirst() { _ = try await cache.get(key) }
            try await Task.sleep(for: .milliseconds(200))
            print("cluster edge: drain: states before drain = \(states(cache)), journal = \(cache.metrics.journalSize)")
            let primary0 = try await cluster.primary(ofShard: 0)
            let primary1 = try await cluster.primary(ofShard: 1)
            let from = try #require(cluster.nodeID(of: primary0))
            let to = try #require(cluster.nodeID(of: primary1))
            let started = ContinuousClock.now
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
            process.arguments = [
                "--cluster", "reshard", "127.0.0.1:\(primary1.port)", "--cluster-from", from, "--cluster-to", to,
                "--cluster-slots", "16384", "--cluster-yes", "--cluster-pipeline", "100",
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            print("cluster edge: drain: reshard exit \(process.terminationStatus) in \(started.duration(to: .now))")
            try await Task.sleep(for: .seconds(3))  // the cache's 1 s topology refresh drops shard 0
            for node in try cluster.nodes(ofShard: 0) {
                _ = try await node.cliAsync("ACL", "SETUSER", "cache", "+@all")
            }
            print(
                "cluster edge: drain: key 0 on node of shard 1: \(try await primary1.cliAsync("GET", "cl:" + keys[0]))")
            try await Task.sleep(for: .seconds(5))
            let value = try await cache.get(keys[0])
            let health = cache.health()
            print(
                "cluster edge: drain: after 5 s get(deleted key) = \(value.map { String(decoding: $0, as: UTF8.self) } ?? "nil"), states = \(states(cache)), journal = \(cache.metrics.journalSize), status = \(health.status), shard0 = \(health.shards?.first { $0.shard == "0" }?.shardDescription ?? "-")"
            )
            #expect(value == nil, "stale read: the delete journaled in shard 0's unit is never replayed or fenced")
            #expect(states(cache)["0"] != "open", "shard 0's unit stays open forever")
            cache.shutdown()
            await running.value
        }
    }

    // An acknowledged delete that the replica had not received when its primary died: no journal entry, and
    //    the promoted replica serves the old value.
    @Test func anAcknowledgedDeleteTheReplicaMissedIsReplayedOnThePromotedReplica() async throws {
        try await RedisCluster.withCluster { cluster in
            let cache = try makeCache(cluster)
            let running = Task { await cache.run() }
            defer { cache.shutdown() }
            let keys = try await cluster.keys(inShard: 1, count: 3, prefix: "cl:f:").map { String($0.dropFirst(3)) }
            for key in keys { try await cache.set(key, Array("old".utf8), ttl: .seconds(600)) }
            try await Task.sleep(for: .milliseconds(300))
            let primary = try await cluster.primary(ofShard: 1)
            let replica = try #require(try await cluster.replicas(ofShard: 1).first)
            replica.hang()
            _ = try await primary.cliAsync("CLIENT", "KILL", "TYPE", "replica")
            let removed = try await cache.delete(keys[0])
            await primary.kill()
            // Traffic goes on: the first call on the shard fails, and puts the writes of the last moments in doubt.
            _ = try await cache.get(keys[1])
            replica.resume()
            print("cluster edge: failover: delete returned \(removed); primary killed")
            try await cluster.waitForFailover(shard: 1)
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                _ = try await cache.get(keys[1])
                if states(cache)["1"] == "closed" && cache.metrics.journalSize == 0 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            print(
                "cluster edge: failover: lookup = \(try await cache.lookup(keys[0])), fenced reads = \(cache.metrics)")
            try await Task.sleep(for: .milliseconds(500))
            let value = try await cache.get(keys[0])
            let promoted = try await cluster.primary(ofShard: 1)
            print(
                "cluster edge: failover: on the new primary GET = '\(try await promoted.cliAsync("GET", "cl:" + keys[0]))'"
            )
            print(
                "cluster edge: failover: states = \(states(cache)), get(deleted key) = \(value.map { String(decoding: $0, as: UTF8.self) } ?? "nil")"
            )
            #expect(value == nil, "stale read after failover: an acknowledged delete was lost with the old primary")
            cache.shutdown()
            await running.value
            try await cluster.startShard(1)
        }
    }

    // Shutdown while every node hangs: run() waits for the whole sequential topology refresh.
    @Test func shutdownDoesNotWaitForATopologyRefreshWhileEveryNodeHangs() async throws {
        try await RedisCluster.withCluster(nodeTimeout: .seconds(30)) { cluster in
            let cache = try makeCache(cluster, commandTimeout: .seconds(1), refresh: .milliseconds(500))
            let running = Task { await cache.run() }
            let keys = try await cluster.keys(inShard: 0, count: 1, prefix: "cl:s:").map { String($0.dropFirst(3)) }
            _ = try await cache.get(keys[0])
            var hung: [RedisServer] = []
            for shard in 0..<3 { for node in try cluster.nodes(ofShard: shard) { node.hang(); hung.append(node) } }
            try await Task.sleep(for: .milliseconds(700))  // the periodic refresh is now in flight
            let started = ContinuousClock.now
            cache.shutdown()
            await running.value
            let took = started.duration(to: .now)
            print("cluster edge: shutdown: run() returned \(took) after shutdown() with every node hung")
            for node in hung { node.resume() }
            #expect(took < .seconds(2), "shutdown waited for a refresh that asks every node in turn")
        }
    }

    // Threads: replicas asked for the topology keep their clients (and threads) for good.
    @Test func threadsDoNotGrowAfterEveryPrimaryHung() async throws {
        try await RedisCluster.withCluster(nodeTimeout: .seconds(15)) { cluster in
            let baseline = threads()
            let cache = try makeCache(cluster)
            let running = Task { await cache.run() }
            let byShard = try await (0..<3).asyncMap { try await cluster.keys(inShard: $0, count: 1, prefix: "cl:t:") }
            for keys in byShard { _ = try await cache.get(String(keys[0].dropFirst(3))) }
            try await Task.sleep(for: .milliseconds(300))
            let before = threads() - baseline
            // Every primary hangs for a moment: the refresh falls through to a replica, whose client stays.
            var hung: [RedisServer] = []
            for shard in 0..<3 { let p = try await cluster.primary(ofShard: shard); p.hang(); hung.append(p) }
            for keys in byShard { _ = try await cache.get(String(keys[0].dropFirst(3))) }
            try await Task.sleep(for: .seconds(2))
            for p in hung { p.resume() }
            try await Task.sleep(for: .seconds(3))
            for keys in byShard { _ = try await cache.get(String(keys[0].dropFirst(3))) }
            let after = threads() - baseline
            print("cluster edge: threads: cache threads before \(before), after failover+restart \(after)")
            cache.shutdown()
            await running.value
            #expect(after <= before)
        }
    }

    // forceOpen before a shard's unit exists does not cover it.
    @Test func forceOpenCoversShardsTheCacheMeetsLater() async throws {
        try await RedisCluster.withCluster { cluster in
            let cache = try makeCache(cluster)
            cache.circuit.forceOpen(reason: "maintenance")
            let running = Task { await cache.run() }  // learns the topology
            try await Task.sleep(for: .milliseconds(500))
            let keys = try await cluster.keys(inShard: 0, count: 1, prefix: "cl:m:").map { String($0.dropFirst(3)) }
            try await cache.set(keys[0], Array("written".utf8))
            let primary = try await cluster.primary(ofShard: 0)
            let stored = try await primary.cliAsync("GET", "cl:" + keys[0])
            print(
                "cluster edge: force: circuit.state = \(cache.circuit.state), value in Redis during maintenance = '\(stored)'"
            )
            #expect(stored.isEmpty, "a forced-open cache wrote to Redis")
            cache.shutdown()
            await running.value
        }
    }
}

extension Range where Bound == Int {
    func asyncMap<T>(_ body: (Int) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for i in self { out.append(try await body(i)) }
        return out
    }
}
