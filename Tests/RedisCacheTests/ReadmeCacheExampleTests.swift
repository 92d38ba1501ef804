import CacheTestKit
import HiredisClient
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import Testing

/// The README's cache and breaker examples, verbatim but for the URL, so the README cannot drift from the API.
struct ReadmeCacheExampleTests {
    @Test func theReadmeCacheExampleRuns() async throws {
        try await RedisServer.withServer { server in
            let url = "redis://127.0.0.1:\(server.port)"
            let rendered = ConcurrentCounter()
            @Sendable func renderProduct(_ id: Int) async throws -> [UInt8] {
                rendered.increment()
                return Array("<h1>product \(id)</h1>".utf8)
            }
            var printed: [CacheHealth] = []
            func print(_ health: CacheHealth) { printed.append(health) }

            // --- README example begins (URL from the test server) ---
            let client = RedisClient(configuration: try RedisClientConfiguration(url: url))
            var configuration = ResilientCacheConfiguration(namespace: "catalog:")
            configuration.defaultTTL = .seconds(300)
            configuration.breaker.openDuration = .seconds(10)
            let cache = ResilientCache(backend: RedisCacheBackend(client: client), configuration: configuration)
            let probing = Task { await cache.run() }  // or add `cache` to a swift-service-lifecycle ServiceGroup

            // Cache-aside: runs the query once per miss (concurrent misses of one key share one computation),
            // also while Redis is down, and never waits on a Redis that is known to be down.
            let page = try await cache.fetch("product:42", ttl: .seconds(60)) { try await renderProduct(42) }

            try await cache.set("product:42", page)  // true even when Redis is unreachable (journaled)
            try await cache.delete("product:42")  // 0 when Redis is unreachable (journaled)
            try await cache.invalidate(pattern: "product:*")  // SCAN + UNLINK inside the namespace, never KEYS
            print(cache.health())  // Codable: serve it from your health endpoint
            // --- README example ends ---

            #expect(page == Array("<h1>product 42</h1>".utf8))
            #expect(rendered.value == 1)
            #expect(printed.first?.status == "ok")
            #expect(try server.cli("EXISTS", "catalog:product:42") == "0")
            cache.shutdown()
            probing.cancel()
            await client.close()
        }
    }

    @Test func theReadmeBreakerExampleRuns() async throws {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let calls = ConcurrentCounter()
        @Sendable func callDependency() async throws { calls.increment() }

        // --- README example begins ---
        let breaker = CircuitBreaker(configuration: .init(failureThreshold: 5, openDuration: .seconds(30)), logger: logger)
        let permit = try breaker.acquire()  // throws CircuitBreakerError (.open / .throttled), allocation-free
        do { try await callDependency(); permit.succeeded() } catch { permit.failed(error) }
        // --- README example ends ---

        #expect(calls.value == 1)
        #expect(breaker.state == .closed)
    }
}
