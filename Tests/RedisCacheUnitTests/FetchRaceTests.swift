import CacheTestKit
import Logging
import RedisCache
import Resilience
import Synchronization
import Testing

/// A backend whose deletes fail (Redis unreachable for them) while everything else works.
private final class DeleteFailsBackend: CacheBackend {
    let inner = InMemoryCacheBackend()
    let failDeletes = Atomic<Bool>(false)
    func get(_ key: String) async throws(CacheError) -> [UInt8]? { try await inner.get(key) }
    func get(many keys: [String]) async throws(CacheError) -> [[UInt8]?] { try await inner.get(many: keys) }
    func set(_ key: String, _ value: [UInt8], ttl: Duration?) async throws(CacheError) {
        try await inner.set(key, value, ttl: ttl)
    }
    func delete(_ keys: [String]) async throws(CacheError) -> Int {
        if failDeletes.load(ordering: .relaxed) { throw CacheError(.unavailable, "down") }
        return try await inner.delete(keys)
    }
    func invalidate(pattern: String) async throws(CacheError) -> Int { try await inner.invalidate(pattern: pattern) }
    func ping() async throws(CacheError) {}
}

/// Holds computations until a test opens it.
private final class Gate: Sendable {
    let s = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    func wait() async {
        await withCheckedContinuation { c in
            let now = s.withLock { st -> Bool in
                if st.open { return true }
                st.waiters.append(c); return false
            }
            if now { c.resume() }
        }
    }
    func open() {
        let w = s.withLock { st -> [CheckedContinuation<Void, Never>] in
            st.open = true; defer { st.waiters = [] }; return st.waiters
        }
        for c in w { c.resume() }
    }
}

/// Races between `fetch` and the writes, deletes and "not found" entries around it (found by a review).
struct FetchRaceTests {
    func cache(_ backend: any CacheBackend, negative: Bool = false) -> ResilientCache {
        var configuration = ResilientCacheConfiguration(
            namespace: "t:",
            breaker: CircuitBreakerConfiguration(
                failureThreshold: 50, openDuration: .seconds(60), failureRateThreshold: nil))
        configuration.ttlJitter = 0
        configuration.defaultTTL = .seconds(300)
        if negative { configuration.negativeTTL = .seconds(60) }
        return ResilientCache(
            backend: backend, configuration: configuration,
            logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// fetch computes an old value; meanwhile the item changes and its delete is journaled; the fetch's store
    /// then clears the journal entry, so the old value is served.
    @Test func aFetchDoesNotStoreOverADeleteJournaledWhileItComputed() async throws {
        let backend = DeleteFailsBackend()
        let cache = cache(backend)
        let gate = Gate()
        let started = Gate()
        let fetch = Task {
            try await cache.fetch("k") {
                started.open(); await gate.wait(); return Array("old".utf8)
            }
        }
        await started.wait()
        backend.failDeletes.store(true, ordering: .relaxed)
        #expect(try await cache.delete("k") == 0)  // journaled: reads must miss until replayed
        gate.open()
        _ = try await fetch.value
        let read = try await cache.get("k")
        #expect(
            read == nil,
            "stale read after an invalidation this process made: \(read.map { String(decoding: $0, as: UTF8.self) } ?? "nil")"
        )
    }

    /// A remembered "not found" resurfaces when the value stored over it goes (eviction, shorter TTL).
    @Test func aRememberedNotFoundDoesNotComeBackAfterTheValueStoredOverItGoes() async throws {
        let backend = DeleteFailsBackend()
        let cache = cache(backend, negative: true)
        #expect(try await cache.fetchOptional("item") { nil } == nil)
        try await cache.set("item", Array("exists".utf8))
        _ = try await backend.inner.delete(["t:item"])  // evicted by allkeys-lru, or its TTL ran out
        let computed = Atomic<Bool>(false)
        let value = try await cache.fetchOptional("item") {
            computed.store(true, ordering: .relaxed); return Array("exists".utf8)
        }
        #expect(value != nil && computed.load(ordering: .relaxed), "an existing item reads as not found")
    }

    /// A plain fetch of a key ending in the not-found suffix joins an optional fetch's flight and traps.
    @Test func aKeyEndingLikeANotFoundEntryNeverJoinsAnOptionalFetch() async throws {
        let cache = cache(InMemoryCacheBackend(), negative: true)
        let gate = Gate()
        let started = Gate()
        let optional = Task {
            try await cache.fetchOptional("x") {
                started.open(); await gate.wait(); return nil
            }
        }
        await started.wait()
        let plain = Task { try await cache.fetch("x\u{0}not-found") { Array("v".utf8) } }
        try await Task.sleep(for: .milliseconds(50))
        gate.open()
        #expect(try await optional.value == nil)
        #expect(try await plain.value == Array("v".utf8), "the plain fetch computed its own value")
    }

    /// The cache-aside race: a fetch computes from old data, a delete succeeds meanwhile; storing the computed
    /// value afterwards would bring the deleted value back until its TTL.
    @Test func aFetchDoesNotStoreAValueComputedBeforeADeleteThatWentThrough() async throws {
        let backend = DeleteFailsBackend()
        let cache = cache(backend)
        let gate = Gate()
        let started = Gate()
        let fetch = Task {
            try await cache.fetchWithSource("k") {
                started.open(); await gate.wait(); return Array("old".utf8)
            }
        }
        await started.wait()
        #expect(try await cache.delete("k") == 0)
        gate.open()
        let result = try await fetch.value
        #expect(result.value == Array("old".utf8), "the caller still gets what it computed")
        #expect(result.source == .computedNotStored)
        #expect(try await cache.get("k") == nil)
        #expect(try await backend.inner.get("t:k") == nil, "nothing was stored")
    }
}
