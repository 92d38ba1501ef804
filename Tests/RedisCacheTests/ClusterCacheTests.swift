import Foundation
import HiredisClient
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import Synchronization
import Testing

/// The cache over a real local Redis Cluster (3 primaries + 3 replicas on loopback, `cluster-node-timeout` 1 s):
/// routing, per-shard degradation, failover, hangs, slot migration under load and the whole cluster going away.
@Suite(.serialized)
struct ClusterCacheTests {
    static let logger = Logger(label: "cluster-test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A cache over `cluster` with short deadlines, running; stopped (final replay included) however `body` ends.
    func withCache<T>(
        _ cluster: RedisCluster,
        namespace: String = "cl:",
        commandTimeout: Duration = .milliseconds(200),
        _ body: (ResilientCache) async throws -> T
    ) async throws -> T {
        var redis = try RedisClusterConfiguration(url: cluster.seedURL)
        redis.node.commandTimeout = commandTimeout
        redis.node.connectTimeout = commandTimeout
        var configuration = ResilientCacheConfiguration(
            namespace: namespace,
            breaker: CircuitBreakerConfiguration(
                failureThreshold: 5, openDuration: .seconds(30), failureRateThreshold: nil)
        )
        configuration.ttlJitter = 0
        let cache = try ResilientCache(cluster: redis, configuration: configuration, logger: Self.logger)
        let running = Task { await cache.run() }
        do {
            let result = try await body(cache)
            cache.shutdown()
            await running.value
            return result
        } catch {
            cache.shutdown()
            await running.value
            throw error
        }
    }

    /// Per-shard states from the cache's health report (the unassigned unit left out).
    func states(_ cache: ResilientCache) -> [String: String] {
        var states: [String: String] = [:]
        for shard in cache.health().shards ?? [] where shard.shard != "unassigned" {
            states[shard.shard ?? "?"] = shard.state
        }
        return states
    }

    func waitUntil(
        _ what: String,
        timeout: Duration = .seconds(20),
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out after \(timeout) waiting for: \(what)")
        throw CancellationError()
    }

    /// The cache's key names (namespace excluded) on each shard, as the cluster serves them now.
    func keysByShard(_ cluster: RedisCluster, count: Int, prefix: String) async throws -> [[String]] {
        var keys: [[String]] = []
        for shard in 0..<cluster.shardCount {
            // The namespace is part of the key Redis hashes: pick names whose qualified form lands on the shard.
            let qualified = try await cluster.keys(inShard: shard, count: count, prefix: "cl:" + prefix)
            keys.append(qualified.map { String($0.dropFirst("cl:".count)) })
        }
        return keys
    }

    @Test func everyOperationRoutesToTheRightShardAndReadsBackTheRightValues() async throws {
        try await RedisCluster.withCluster { cluster in
            try await withCache(cluster) { cache in
                let byShard = try await keysByShard(cluster, count: 20, prefix: "item:")
                let all = byShard.flatMap { $0 }
                for key in all { try await cache.set(key, Array("value of \(key)".utf8)) }
                for key in all { #expect(try await cache.get(key) == Array("value of \(key)".utf8)) }
                // Each value is on the primary of its shard (read straight from the node, not through the cache).
                for (shard, keys) in byShard.enumerated() {
                    let primary = try await cluster.primary(ofShard: shard)
                    #expect(try await primary.cliAsync("GET", "cl:" + keys[0]) == "value of \(keys[0])")
                }
                // One get(many:) over keys of every shard (cross-slot): values in the caller's order.
                let mixed = Array(all.shuffled().prefix(40)) + ["missing:1"]
                let values = try await cache.get(many: mixed)
                #expect(values == mixed.map { $0 == "missing:1" ? nil : Array("value of \($0)".utf8) })
                // Hash-tagged keys share a slot, and so a shard.
                try await cache.set("{user42}:name", Array("Ada".utf8))
                try await cache.set("{user42}:mail", Array("ada@example.com".utf8))
                #expect(
                    try await cache.get(many: ["{user42}:name", "{user42}:mail"]) == [
                        Array("Ada".utf8), Array("ada@example.com".utf8),
                    ])
                // A delete across shards counts every key it removed.
                let doomed = byShard.map { $0[0] } + byShard.map { $0[1] }
                #expect(try await cache.delete(doomed) == doomed.count)
                for key in doomed { #expect(try await cache.get(key) == nil) }
                // fetch computes on a miss, stores on the right shard, and hits next time.
                let fetched = try await cache.fetchWithSource(byShard[2][5] + ":f") { Array("computed".utf8) }
                #expect(fetched.source == .computedAndStored)
                #expect(try await cache.fetchWithSource(byShard[2][5] + ":f") { [] }.source == .hit)
                #expect(states(cache) == ["0": "closed", "1": "closed", "2": "closed"])
                #expect(cache.metrics.degradedTotal == 0)
            }
        }
    }

    @Test func patternInvalidationWalksEveryPrimaryWithScanOnly() async throws {
        try await RedisCluster.withCluster { cluster in
            try await withCache(cluster) { cache in
                let users = try await keysByShard(cluster, count: 10, prefix: "user:")
                let orders = try await keysByShard(cluster, count: 10, prefix: "order:")
                for key in users.flatMap({ $0 }) + orders.flatMap({ $0 }) { try await cache.set(key, [1]) }
                #expect(try await cache.invalidate(pattern: "user:*") == 30)
                for key in users.flatMap({ $0 }) { #expect(try await cache.get(key) == nil) }
                for key in orders.flatMap({ $0 }) { #expect(try await cache.get(key) == [1]) }
                // A hash-tagged pattern walks only its slot's node.
                try await cache.set("{t1}:a", [1])
                try await cache.set("{t1}:b", [1])
                #expect(try await cache.invalidate(pattern: "{t1}:*") == 2)
                for shard in 0..<3 {
                    let stats = try await cluster.primary(ofShard: shard).cliAsync("INFO", "commandstats")
                    #expect(stats.contains("cmdstat_scan:"), "shard \(shard) was walked with SCAN")
                    #expect(!stats.contains("cmdstat_keys:"), "shard \(shard) never saw KEYS")
                }
            }
        }
    }

    /// Load over every shard, counted per shard and per phase.
    final class ShardLoad: Sendable {
        struct Counts: Sendable {
            var calls = 0
            var hits = 0
            var slowest: Duration = .zero
        }
        let phase = Atomic<Int>(0)
        let counts: Mutex<[[Counts]]>
        let escaped = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)

        init(shards: Int, phases: Int) {
            counts = Mutex(Array(repeating: Array(repeating: Counts(), count: shards), count: phases))
        }

        func record(shard: Int, hit: Bool, took: Duration) {
            let phase = self.phase.load(ordering: .relaxed)
            counts.withLock { counts in
                counts[phase][shard].calls += 1
                if hit { counts[phase][shard].hits += 1 }
                counts[phase][shard].slowest = max(counts[phase][shard].slowest, took)
            }
        }

        func hitRate(phase: Int, shard: Int) -> Double {
            counts.withLock { counts in
                let entry = counts[phase][shard]
                return entry.calls == 0 ? 0 : Double(entry.hits) / Double(entry.calls)
            }
        }

        var slowest: Duration { counts.withLock { $0.flatMap { $0 }.map(\.slowest).max() ?? .zero } }
    }

    /// Callers reading keys of every shard until `load.stop`.
    func runReaders(_ cache: ResilientCache, _ byShard: [[String]], _ load: ShardLoad, callers: Int) async {
        await withTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    var index = caller
                    while !load.stop.load(ordering: .relaxed) {
                        let shard = index % byShard.count
                        let key = byShard[shard][(index / byShard.count) % byShard[shard].count]
                        index += 7
                        let started = ContinuousClock.now
                        do {
                            let value = try await cache.get(key)
                            load.record(shard: shard, hit: value != nil, took: started.duration(to: .now))
                        } catch {
                            load.escaped.add(1, ordering: .relaxed)
                        }
                    }
                }
            }
        }
    }

    @Test func aKilledPrimaryDegradesOnlyItsShardAndFailoverRecoversItWithItsJournalReplayedOnTheNewPrimary()
        async throws
    {
        try await RedisCluster.withCluster { cluster in
            try await withCache(cluster) { cache in
                let byShard = try await keysByShard(cluster, count: 50, prefix: "k:")
                for key in byShard.flatMap({ $0 }) { try await cache.set(key, Array("old".utf8)) }
                // Written before the kill, so the replica has them too (WAIT: replicated to one replica).
                let oldPrimary = try await cluster.primary(ofShard: 1)
                _ = try await oldPrimary.cliAsync("WAIT", "1", "2000")
                // Older than the replication-loss window: the outage does not put these writes in doubt.
                try await Task.sleep(for: .milliseconds(2200))
                let load = ShardLoad(shards: 3, phases: 3)
                async let readers: Void = runReaders(cache, byShard, load, callers: 20)
                try await Task.sleep(for: .seconds(1))

                load.phase.store(1, ordering: .relaxed)
                let killedAt = ContinuousClock.now
                let killed = try await cluster.killShard(1)
                try await waitUntil("shard 1's breaker opens") { states(cache)["1"] == "open" }
                let opened = killedAt.duration(to: .now)
                #expect(states(cache)["0"] == "closed" && states(cache)["2"] == "closed")
                // Writes to the dead shard cannot reach it: journaled by shard 1's unit alone.
                let changed = Array(byShard[1].prefix(10))
                for key in changed { #expect(try await cache.set(key, Array("new".utf8))) }
                #expect(try await cache.delete(byShard[1][10]) == 0)
                let journals = Dictionary(
                    uniqueKeysWithValues: (cache.health().shards ?? []).map { ($0.shard ?? "?", $0.journalSize) })
                #expect(journals["1"] == 11)
                #expect(journals["0"] == 0 && journals["2"] == 0)

                // The replica takes over; the shard's loop finds it, replays the journal there, and closes.
                try await cluster.waitForFailover(shard: 1)
                let failedOver = killedAt.duration(to: .now)
                let newPrimary = try await cluster.primary(ofShard: 1)
                #expect(newPrimary.port != killed.port)
                try await waitUntil("shard 1 recovers by itself") {
                    states(cache)["1"] == "closed" && cache.metrics.journalSize == 0
                }
                let recovered = killedAt.duration(to: .now)
                load.phase.store(2, ordering: .relaxed)
                try await Task.sleep(for: .seconds(1))
                load.stop.store(true, ordering: .relaxed)
                await readers

                // The new primary had the old values (replicated): the replayed journal removed them.
                for key in changed + [byShard[1][10]] {
                    #expect(try await newPrimary.cliAsync("EXISTS", "cl:" + key) == "0", "\(key) replayed")
                    #expect(try await cache.get(key) == nil, "no stale read of \(key)")
                }
                #expect(try await cache.get(byShard[1][20]) == Array("old".utf8), "untouched keys hit again")
                print(
                    "cluster kill: shard 1 open after \(opened), failed over after \(failedOver), closed with its "
                        + "journal replayed after \(recovered); hit rate before/during/after: "
                        + (0..<3).map { shard in
                            "shard \(shard) "
                                + (0..<3).map { String(format: "%.3f", load.hitRate(phase: $0, shard: shard)) }
                                .joined(separator: "/")
                        }.joined(separator: ", ") + "; slowest call \(load.slowest)"
                )
                #expect(load.escaped.load(ordering: .relaxed) == 0)
                #expect(load.slowest < .seconds(1), "every call within its deadline (200 ms timeout)")
                for shard in [0, 2] {
                    let before = load.hitRate(phase: 0, shard: shard)
                    let during = load.hitRate(phase: 1, shard: shard)
                    #expect(before > 0.95)
                    #expect(during >= before * 0.9, "shard \(shard): hit rate \(during) during vs \(before) before")
                }
                #expect(load.hitRate(phase: 1, shard: 1) < 0.5, "the dead shard's keys degraded")
                #expect(load.hitRate(phase: 2, shard: 1) > 0.5, "and hit again after recovery")
                #expect(states(cache) == ["0": "closed", "1": "closed", "2": "closed"])
                try await cluster.startShard(1)
            }
        }
    }

    @Test func aHungPrimaryOpensOnlyItsShardAndResumingItReplaysTheJournalThere() async throws {
        // A long node timeout: the hang ends before the cluster fails the primary over.
        try await RedisCluster.withCluster(nodeTimeout: .seconds(15)) { cluster in
            try await withCache(cluster) { cache in
                let byShard = try await keysByShard(cluster, count: 5, prefix: "h:")
                for key in byShard.flatMap({ $0 }) { try await cache.set(key, Array("old".utf8)) }
                // Older than the replication-loss window: the outage does not put these writes in doubt.
                try await Task.sleep(for: .milliseconds(2200))
                let hung = try await cluster.hangShard(2)
                for _ in 0..<5 { _ = try await cache.get(byShard[2][0]) }
                try await waitUntil("shard 2's breaker opens") { states(cache)["2"] == "open" }
                let started = ContinuousClock.now
                #expect(try await cache.get(byShard[2][1]) == nil)
                #expect(started.duration(to: .now) < .milliseconds(50), "an open shard answers at once")
                #expect(try await cache.get(byShard[0][0]) == Array("old".utf8))
                #expect(try await cache.delete(byShard[2][3]) == 0)
                try cluster.resumeShard(2)
                try await waitUntil("shard 2 recovers") {
                    states(cache)["2"] == "closed" && cache.metrics.journalSize == 0
                }
                #expect(try await hung.cliAsync("EXISTS", "cl:" + byShard[2][3]) == "0")
                #expect(try await cluster.primary(ofShard: 2).port == hung.port, "no failover happened")
                #expect(try await cache.get(byShard[2][3]) == nil)
                #expect(try await cache.get(byShard[2][4]) == Array("old".utf8))
            }
        }
    }

    @Test func theWholeClusterStoppedDegradesEveryShardAndTheCacheHealsWhenItReturns() async throws {
        try await RedisCluster.withCluster { cluster in
            try await withCache(cluster) { cache in
                let byShard = try await keysByShard(cluster, count: 5, prefix: "w:")
                for key in byShard.flatMap({ $0 }) { try await cache.set(key, [1]) }
                await cluster.stopAll()
                for _ in 0..<3 {
                    for key in byShard.flatMap({ $0 }) {
                        let started = ContinuousClock.now
                        #expect(try await cache.get(key) == nil)
                        #expect(started.duration(to: .now) < .seconds(1))
                    }
                }
                try await waitUntil("every shard opens") { Set(states(cache).values) == ["open"] }
                #expect(try await cache.set(byShard[0][0], [2]), "a write while everything is down is journaled")
                #expect(cache.health().status == "degraded")
                try await cluster.startAll()
                try await waitUntil("every shard closes again") {
                    Set(states(cache).values) == ["closed"] && cache.metrics.journalSize == 0
                }
                try await cache.set(byShard[1][0], [3])
                #expect(try await cache.get(byShard[1][0]) == [3])
                #expect(try await cache.get(byShard[0][0]) == nil, "no persistence: the old value is gone")
            }
        }
    }

    final class MigrationCounts: Sendable {
        let stale = Atomic<Int>(0)
        let lost = Atomic<Int>(0)
        let escaped = Atomic<Int>(0)
        let operations = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
    }

    @Test func aSlotMigratedUnderLoadCausesNoErrorAndNoStaleRead() async throws {
        try await RedisCluster.withCluster { cluster in
            try await withCache(cluster) { cache in
                // Every caller owns keys of one slot (a hash tag), and checks each read against its own last write.
                let slot = RedisCluster.slot(of: "cl:{mig}:0")
                let sourceShard = try await cluster.shard(ofSlot: slot)
                let names = (0..<200).map { "{mig}:\($0)" }
                for name in names { try await cache.set(name, Array("0".utf8)) }
                let counts = MigrationCounts()
                async let callers: Void = withTaskGroup(of: Void.self) { group in
                    for caller in 0..<50 {
                        group.addTask {
                            let mine = stride(from: caller, to: names.count, by: 50).map { names[$0] }
                            var version = 0
                            while !counts.stop.load(ordering: .relaxed) {
                                version += 1
                                for name in mine {
                                    do {
                                        try await cache.set(name, Array("\(version)".utf8))
                                        let value = try await cache.get(name)
                                        counts.operations.add(2, ordering: .relaxed)
                                        if value == nil {
                                            counts.lost.add(1, ordering: .relaxed)
                                        } else if value != Array("\(version)".utf8) {
                                            counts.stale.add(1, ordering: .relaxed)
                                        }
                                    } catch {
                                        counts.escaped.add(1, ordering: .relaxed)
                                    }
                                }
                            }
                        }
                    }
                }
                try await Task.sleep(for: .milliseconds(300))
                let target = (sourceShard + 1) % 3
                let moved = try await cluster.migrate(slot: slot, toShard: target, pauseBetweenKeys: .milliseconds(5))
                try await Task.sleep(for: .milliseconds(300))
                counts.stop.store(true, ordering: .relaxed)
                await callers
                #expect(moved == 200)
                #expect(try await cluster.shard(ofSlot: slot) == target)
                #expect(counts.operations.load(ordering: .relaxed) > 1000)
                #expect(counts.escaped.load(ordering: .relaxed) == 0)
                #expect(counts.stale.load(ordering: .relaxed) == 0)
                #expect(counts.lost.load(ordering: .relaxed) == 0)
                #expect(cache.metrics.degradedTotal == 0, "MOVED and ASK were followed, never surfaced as failures")
                #expect(states(cache).values.allSatisfy { $0 == "closed" })
            }
        }
    }
}
