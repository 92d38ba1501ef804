import CacheTestKit
import Logging
import RedisCache
import Resilience
import Testing

/// The degradation table and the journal over the failing backend: no Redis, no waiting.
struct ResilientCacheDegradationTests {
    func makeCache(
        _ backend: FailingCacheBackend,
        configure: (inout ResilientCacheConfiguration) -> Void = { _ in }
    ) -> ResilientCache {
        var configuration = ResilientCacheConfiguration(
            namespace: "t:",
            breaker: CircuitBreakerConfiguration(
                failureThreshold: 5, openDuration: .seconds(60), failureRateThreshold: nil)
        )
        configuration.ttlJitter = 0
        configure(&configuration)
        return ResilientCache(
            backend: backend,
            configuration: configuration,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    @Test func theDegradationTableWhileTheBackendFails() async throws {
        let backend = FailingCacheBackend()
        let cache = makeCache(backend)
        try await cache.set("k", Array("v".utf8))
        backend.faults = .down
        #expect(try await cache.get("k") == nil)
        #expect(try await cache.set("k", Array("w".utf8)))
        #expect(try await cache.delete("k") == 0)
        #expect(try await cache.invalidate(pattern: "*") == 0)
        #expect(try await cache.fetch("f") { Array("computed".utf8) } == Array("computed".utf8))
        #expect(try await cache.get(many: ["a", "b"]) == [nil, nil])
        #expect(cache.circuit.state == .open)
        let calls = backend.calls
        for _ in 0..<100 { _ = try await cache.get("k") }
        #expect(backend.calls == calls, "an open circuit sends nothing to the backend")
    }

    @Test func aFailedSetFencesTheKeyUntilReplayed() async throws {
        let inner = InMemoryCacheBackend()
        let backend = FailingCacheBackend(wrapping: inner)
        let cache = makeCache(backend)
        try await cache.set("k", Array("v1".utf8))
        backend.faults = .down
        #expect(try await cache.set("k", Array("v2".utf8)))  // could not reach the backend: journaled
        backend.faults = .none
        // The backend still holds v1, but the read is fenced.
        #expect(try await inner.get("t:k") == Array("v1".utf8))
        if cache.circuit.state == .closed {
            guard case .miss = try await cache.lookup("k") else {
                Issue.record("a journaled key must read as a miss")
                return
            }
        }
        #expect(cache.metrics.journalSize == 1)
    }

    @Test func fetchCollapsesConcurrentMissesWhileTheCircuitIsOpen() async throws {
        let backend = FailingCacheBackend(faults: .down)
        let cache = makeCache(backend)
        for _ in 0..<5 { _ = try await cache.get("warm-up") }
        #expect(cache.circuit.state == .open)
        let computed = ConcurrentCounter()
        let gate = AsyncStream<Void>.makeStream()
        try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<100 {
                group.addTask {
                    try await cache.fetch("hot") {
                        computed.increment()
                        for await _ in gate.stream {}  // hold the computation until every caller has joined
                        return Array("origin".utf8)
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(100))
            gate.continuation.finish()
            for try await value in group { #expect(value == Array("origin".utf8)) }
        }
        #expect(computed.value == 1)
    }

    @Test func degradationOffThrowsTheBreakersCodes() async throws {
        let backend = FailingCacheBackend(faults: .down)
        let cache = makeCache(backend) { $0.degradeOnFailure = false }
        for _ in 0..<5 {
            let error = await #expect(throws: CacheError.self) { _ = try await cache.get("k") }
            #expect(error?.code.description == "BACKEND_UNAVAILABLE")
        }
        let error = await #expect(throws: CacheError.self) { _ = try await cache.get("k") }
        #expect(error?.code.description == "CIRCUIT_BREAKER_OPEN")
    }

    @Test func thirtyPercentFailuresNeverEscape() async throws {
        let backend = FailingCacheBackend(faults: .init(failureRate: 0.3), seed: 7)
        let cache = makeCache(backend) {
            $0.breaker = CircuitBreakerConfiguration(failureThreshold: 50, failureRateThreshold: nil)
        }
        var hits = 0
        for index in 0..<1_000 {
            _ = try await cache.set("k\(index % 50)", Array("v".utf8))
            if try await cache.get("k\(index % 50)") != nil { hits += 1 }
        }
        let failureRate = Double(backend.failures) / Double(backend.calls)
        #expect(abs(failureRate - 0.3) < 0.05, "measured \(failureRate)")
        #expect(hits > 0)
        // Every injected failure on a caller's operation degraded it; the rest hit background journal replays.
        #expect(cache.metrics.degradedTotal > 0 && cache.metrics.degradedTotal <= backend.failures)
        #expect(cache.circuit.state == .closed, "30% < the breaker's thresholds here")
    }
}
