import CacheTestKit
import Logging
import RedisCache
import Resilience
import Testing

/// A cache over shards, each with its own breaker, journal and recovery loop, over the in-memory sharded backend.
struct ShardedCacheTests {
    /// A cache whose writes are not put in doubt by a failure right after them (the tests write just before they
    /// fail a shard), unless `replicationLossWindow` says otherwise.
    func makeCache(
        _ backend: ShardedTestBackend,
        namespace: String = "t:",
        replicationLossWindow: Duration = .zero
    ) -> ResilientCache {
        var configuration = ResilientCacheConfiguration(
            namespace: namespace,
            breaker: CircuitBreakerConfiguration(
                failureThreshold: 3, openDuration: .seconds(60), failureRateThreshold: nil)
        )
        configuration.ttlJitter = 0
        configuration.probeInterval = .milliseconds(10)
        configuration.maximumProbeInterval = .milliseconds(20)
        configuration.replicationLossWindow = replicationLossWindow
        return ResilientCache(
            sharded: backend,
            configuration: configuration,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    /// Keys of the form `{shard}name`, so each lands where the test wants it.
    func key(_ shard: Int, _ name: String) -> String { "{\(shard)}\(name)" }

    func states(_ cache: ResilientCache) -> [String: String] {
        var states: [String: String] = [:]
        for shard in cache.health().shards ?? [] { states[shard.shard ?? "?"] = shard.state }
        return states
    }

    @Test func aDeadShardDegradesOnlyItsOwnKeysAndOpensOnlyItsOwnBreaker() async throws {
        let backend = ShardedTestBackend(count: 3)
        let cache = makeCache(backend)
        for shard in 0..<3 { try await cache.set(key(shard, "a"), Array("v\(shard)".utf8)) }
        backend.shard(1).faults = .down
        for _ in 0..<5 { _ = try await cache.get(key(1, "a")) }
        #expect(try await cache.get(key(0, "a")) == Array("v0".utf8))
        #expect(try await cache.get(key(2, "a")) == Array("v2".utf8))
        #expect(try await cache.get(key(1, "a")) == nil)
        #expect(states(cache) == ["0": "closed", "1": "open", "2": "closed"])
        #expect(cache.circuit.state == .open, "the cache's circuit shows the worst shard")
        let health = cache.health()
        #expect(health.state == "open")
        // A write to the dead shard is journaled there, and only there.
        #expect(try await cache.set(key(1, "b"), Array("new".utf8)))
        let journals = Dictionary(uniqueKeysWithValues: (health.shards ?? []).map { ($0.shard ?? "?", $0) })
        #expect(journals["1"] != nil)
        let after = Dictionary(
            uniqueKeysWithValues: (cache.health().shards ?? []).map { ($0.shard ?? "?", $0.journalSize) })
        #expect(after == ["0": 0, "1": 1, "2": 0])
        // Writes to healthy shards go through while shard 1 is down.
        #expect(try await cache.set(key(2, "c"), Array("w".utf8)))
        #expect(try await backend.store(2).get("t:" + key(2, "c")) == Array("w".utf8))
    }

    @Test func theDeadShardRecoversByItselfAndReplaysItsOwnJournal() async throws {
        let backend = ShardedTestBackend(count: 3)
        let cache = makeCache(backend)
        let running = Task { await cache.run() }
        defer { running.cancel() }
        try await cache.set(key(1, "k"), Array("old".utf8))
        try await cache.set(key(0, "k"), Array("zero".utf8))
        backend.shard(1).faults = .down
        for _ in 0..<3 { _ = try await cache.get(key(1, "k")) }
        #expect(states(cache)["1"] == "open")
        // The delete cannot reach shard 1: journaled; shard 1 still holds the old value.
        #expect(try await cache.delete(key(1, "k")) == 0)
        backend.shard(1).faults = .none
        #expect(try await backend.store(1).get("t:" + key(1, "k")) == Array("old".utf8))
        // The shard's loop probes it, replays its journal, and closes its breaker.
        let deadline = ContinuousClock.now + .seconds(5)
        while states(cache)["1"] != "closed" && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(states(cache)["1"] == "closed")
        #expect(try await backend.store(1).get("t:" + key(1, "k")) == nil, "the journaled delete was replayed")
        #expect(try await cache.get(key(1, "k")) == nil)
        #expect(try await cache.get(key(0, "k")) == Array("zero".utf8))
        #expect(cache.metrics.journalSize == 0)
        cache.shutdown()
        await running.value
    }

    @Test func getManyAcrossShardsKeepsOrderAndDegradesOnlyTheDeadShardsKeys() async throws {
        let backend = ShardedTestBackend(count: 3)
        let cache = makeCache(backend)
        let keys = (0..<12).map { key($0 % 3, "m\($0)") }
        for (index, name) in keys.enumerated() { try await cache.set(name, [UInt8(index)]) }
        let all: [[UInt8]?] = (0..<12).map { [UInt8($0)] }
        #expect(try await cache.get(many: keys) == all)
        backend.shard(2).faults = .down
        let values = try await cache.get(many: keys)
        let expected: [[UInt8]?] = (0..<12).map { index -> [UInt8]? in index % 3 == 2 ? nil : [UInt8(index)] }
        #expect(values == expected)
    }

    @Test func deleteAcrossShardsJournalsOnlyTheKeysOfTheDeadShard() async throws {
        let backend = ShardedTestBackend(count: 3)
        let cache = makeCache(backend)
        let keys = (0..<6).map { key($0 % 3, "d\($0)") }
        for name in keys { try await cache.set(name, [1]) }
        backend.shard(0).faults = .down
        #expect(try await cache.delete(keys) == 4, "the four keys on shards 1 and 2 were removed")
        let journals = Dictionary(
            uniqueKeysWithValues: (cache.health().shards ?? []).map { ($0.shard ?? "?", $0.journalSize) })
        #expect(journals == ["0": 2, "1": 0, "2": 0])
        backend.shard(0).faults = .none
        for name in keys { #expect(try await cache.get(name) == nil) }
    }

    @Test func patternInvalidationWalksEveryShardAndJournalsWhereItCouldNot() async throws {
        let backend = ShardedTestBackend(count: 3)
        let cache = makeCache(backend)
        for shard in 0..<3 {
            try await cache.set(key(shard, "user:1"), [1])
            try await cache.set(key(shard, "order:1"), [2])
        }
        backend.shard(1).faults = .down
        #expect(try await cache.invalidate(pattern: "*user:*") == 2)
        let journals = Dictionary(
            uniqueKeysWithValues: (cache.health().shards ?? []).map { ($0.shard ?? "?", $0.journalSize) })
        #expect(journals == ["0": 0, "1": 1, "2": 0])
        backend.shard(1).faults = .none
        // Shard 1 still holds its user key, but the journaled pattern fences it; other keys still hit.
        #expect(try await backend.store(1).get("t:" + key(1, "user:1")) == [1])
        #expect(try await cache.get(key(1, "user:1")) == nil)
        #expect(try await cache.get(key(0, "order:1")) == [2])
    }

    @Test func aHashTaggedPatternWalksOnlyItsShard() async throws {
        let backend = ShardedTestBackend(count: 3)
        let cache = makeCache(backend)
        for shard in 0..<3 { try await cache.set(key(shard, "x"), [1]) }
        let before = (0..<3).map { backend.shard($0).calls }
        #expect(try await cache.invalidate(pattern: "{2}*") == 1)
        let after = (0..<3).map { backend.shard($0).calls }
        #expect(after[0] == before[0] && after[1] == before[1])
        #expect(after[2] > before[2])
        #expect(try await cache.get(key(0, "x")) == [1])
    }

    @Test func aWriteJournaledBeforeTheLayoutWasKnownFencesTheKeyOnItsShardUntilReplayed() async throws {
        let backend = ShardedTestBackend(count: 3, discovered: false)
        let cache = makeCache(backend)
        try await backend.store(1).set("t:" + key(1, "u"), Array("old".utf8), ttl: nil)
        backend.shard(1).faults = .down
        // The layout is unknown: the write goes through the unassigned unit, fails, and is journaled there.
        #expect(try await cache.set(key(1, "u"), Array("new".utf8)))
        #expect(cache.metrics.journalSize == 1)
        backend.discover()
        backend.shard(1).faults = .none
        // Now the key routes to shard 1's unit, whose own journal is empty: the unassigned journal still fences it.
        #expect(try await cache.get(key(1, "u")) == nil)
        let running = Task { await cache.run() }
        defer { running.cancel() }
        let deadline = ContinuousClock.now + .seconds(5)
        while cache.metrics.journalSize > 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(cache.metrics.journalSize == 0)
        #expect(try await backend.store(1).get("t:" + key(1, "u")) == nil, "replayed on the shard that holds it")
        #expect(try await cache.get(key(1, "u")) == nil)
        try await cache.set(key(1, "u"), Array("newer".utf8))
        #expect(try await cache.get(key(1, "u")) == Array("newer".utf8))
        cache.shutdown()
        await running.value
    }

    @Test func anEventStreamTakenBeforeAnyShardWasKnownReportsEachShardsTransitions() async throws {
        let backend = ShardedTestBackend(count: 3)
        let cache = makeCache(backend)
        let running = Task { await cache.run() }
        let events = cache.circuit.makeShardEventStream()
        let plain = cache.circuit.makeEventStream()
        backend.shard(1).faults = .down
        for _ in 0..<3 { _ = try await cache.get(key(1, "e")) }
        #expect(try await cache.get(key(0, "e")) == nil)
        var iterator = events.makeAsyncIterator()
        let first = await iterator.next()
        #expect(first?.shard == "1")
        #expect(first?.event.to == .open)
        var plainIterator = plain.makeAsyncIterator()
        #expect(await plainIterator.next()?.to == .open)
        cache.shutdown()
        await running.value
        // Both streams finish when run() returns.
        while await iterator.next() != nil {}
        while await plainIterator.next() != nil {}
    }

    @Test func writesAcknowledgedJustBeforeAFailureAreJournaledAsInDoubt() async throws {
        let backend = ShardedTestBackend(count: 3)
        var configuration = ResilientCacheConfiguration(namespace: "t:")
        configuration.ttlJitter = 0
        // The default over shards: 2 s.
        #expect(configuration.replicationLossWindow == nil)
        let cache = ResilientCache(
            sharded: backend, configuration: configuration,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await cache.set(key(1, "recent"), Array("v".utf8))
        try await cache.set(key(2, "other shard"), Array("v".utf8))
        // One failure on shard 1: its node may be gone with writes its replica never got.
        backend.shard(1).faults = .down
        _ = try await cache.get(key(1, "anything"))
        backend.shard(1).faults = .none
        let journals = Dictionary(
            uniqueKeysWithValues: (cache.health().shards ?? []).map { ($0.shard ?? "?", $0.journalSize) })
        #expect(journals["1"] == 1, "the write acknowledged a moment ago on shard 1 is in doubt")
        #expect(journals["2"] == 0, "another shard's writes are not")
        #expect(try await cache.get(key(1, "recent")) == nil, "fenced until replayed")
        #expect(try await cache.get(key(2, "other shard")) == Array("v".utf8))
    }

    @Test func writesOlderThanTheReplicationLossWindowAreNotDoubted() async throws {
        let backend = ShardedTestBackend(count: 3)
        var configuration = ResilientCacheConfiguration(namespace: "t:")
        configuration.replicationLossWindow = .milliseconds(50)
        let cache = ResilientCache(
            sharded: backend, configuration: configuration,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await cache.set(key(1, "old"), Array("v".utf8))
        try await Task.sleep(for: .milliseconds(120))
        backend.shard(1).faults = .down
        _ = try await cache.get(key(1, "anything"))
        backend.shard(1).faults = .none
        #expect(cache.metrics.journalSize == 0)
        #expect(try await cache.get(key(1, "old")) == Array("v".utf8))
    }

    @Test func shutdownReplaysEveryShardsJournal() async throws {
        let backend = ShardedTestBackend(count: 3)
        let cache = makeCache(backend)
        let running = Task { await cache.run() }
        for shard in 0..<3 { try await cache.set(key(shard, "s"), [1]) }
        for shard in 0..<3 { backend.shard(shard).faults = .down }
        for shard in 0..<3 { try await cache.delete(key(shard, "s")) }
        #expect(cache.metrics.journalSize == 3)
        for shard in 0..<3 { backend.shard(shard).faults = .none }
        cache.circuit.forceOpen(reason: "test: keep the loops from replaying")
        cache.shutdown()
        await running.value
        for shard in 0..<3 { #expect(try await backend.store(shard).get("t:" + key(shard, "s")) == nil) }
    }
}
