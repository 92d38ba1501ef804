import HiredisClient
import Logging
import MetricsTestKit
import RedisCache
import RedisTestSupport
import Resilience
import Testing

/// Pattern invalidation at scale, and the metrics after a scripted scenario.
struct ResilientCacheScenarioTests {
    @Test func patternInvalidationOverTenThousandKeysUsesScanNeverKeys() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, commandTimeout: .seconds(5)) { (cache, _, client) async throws in
                // Load 10,000 keys in the namespace and 1,000 outside it, pipelined.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<10_000 {
                        group.addTask { try await cache.set("item:\(index)", bytes("v\(index)")) }
                    }
                    for index in 0..<1_000 {
                        group.addTask { try await client.set(RedisKey("other:item:\(index)"), value: bytes("x")) }
                    }
                    try await group.waitForAll()
                }
                _ = try server.cli("CONFIG", "RESETSTAT")
                let removed = try await cache.invalidate(pattern: "item:*")
                #expect(removed == 10_000)
                #expect(try server.cli("DBSIZE") == "1000")
                let stats = try server.cli("INFO", "commandstats")
                #expect(!stats.contains("cmdstat_keys:"), "KEYS must never be sent")
                let scans = infoField(stats, "cmdstat_scan").flatMap { $0.split(separator: ",").first }
                #expect(
                    scans.map { $0.hasPrefix("calls=") && Int($0.dropFirst(6))! > 1 } == true,
                    "SCAN in batches: \(stats)")
                #expect(stats.contains("cmdstat_unlink:"))
            }
        }
    }

    @Test func metricsAfterAScriptedScenario() async throws {
        let metrics = TestMetrics()
        try await RedisServer.withServer { server in
            var clientConfiguration = try RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port))
            clientConfiguration.commandTimeout = .milliseconds(200)
            clientConfiguration.reconnect = try .init(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(100))
            let client = try RedisClient(
                configuration: clientConfiguration,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            )
            var configuration = ResilientCacheConfiguration(namespace: "m:", breaker: testBreakerConfiguration())
            configuration.ttlJitter = 0
            let cache = ResilientCache(
                backend: RedisCacheBackend(client: client),
                configuration: configuration,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                metricsFactory: metrics
            )
            // 2 hits, 3 misses.
            try await cache.set("a", bytes("1"))
            try await cache.set("b", bytes("2"))
            _ = try await cache.get("a")
            _ = try await cache.get("b")
            for key in ["x", "y", "z"] { _ = try await cache.get(key) }
            // Redis goes away: 5 failed gets open the breaker, 3 more are rejected; 2 deletes are journaled.
            await server.stop()
            for _ in 0..<8 { _ = try await cache.get("a") }
            _ = try await cache.delete("a")
            _ = try await cache.delete("b")

            let snapshot = cache.metrics
            #expect(snapshot.hits == 2)
            #expect(snapshot.misses == 3)
            #expect(snapshot.degraded["get"] == 8)
            #expect(snapshot.degraded["delete"] == 2)
            #expect(snapshot.degradedTotal == 10)
            #expect(abs(snapshot.hitRate - 2.0 / 13.0) < 1e-9)
            #expect(snapshot.journalSize == 2)
            #expect(snapshot.breaker.state == .open)
            #expect(snapshot.breaker.recentFailures.count == 5)
            #expect(snapshot.breaker.counts.rejected == 5)  // 3 gets + 2 deletes

            #expect(try metrics.expectCounter("cache_hits_total", [("cache", "m")]).totalValue == 2)
            #expect(try metrics.expectCounter("cache_misses_total", [("cache", "m")]).totalValue == 3)
            #expect(
                try metrics.expectCounter("cache_degraded_total", [("cache", "m"), ("operation", "get")]).totalValue
                    == 8)
            #expect(
                try metrics.expectCounter("cache_degraded_total", [("cache", "m"), ("operation", "delete")]).totalValue
                    == 2)
            #expect(try metrics.expectCounter("cache_circuit_state_changes_total", [("cache", "m")]).totalValue == 1)
            #expect(try metrics.expectGauge("cache_circuit_breaker_state", [("cache", "m")]).lastValue == 2)
            #expect(try metrics.expectGauge("cache_journal_size", [("cache", "m")]).lastValue == 2)
            #expect(try metrics.expectGauge("cache_failure_rate", [("cache", "m")]).lastValue ?? 0 > 0)
            #expect(
                try metrics.expectTimer("cache_operation_duration_seconds", [("cache", "m"), ("operation", "get")])
                    .values.count == 13)

            let health = cache.health()
            #expect(health.status == "degraded")
            #expect(health.state == "open")
            #expect(health.journalSize == 2)
            #expect(health.lastFailure != nil)

            // Recovery: the run loop probes, replays the journal, closes; the gauges follow.
            let running = Task { await cache.run() }
            try await server.restart()
            try await eventually { cache.circuit.state == .closed && cache.metrics.journalSize == 0 }
            #expect(try metrics.expectGauge("cache_circuit_breaker_state", [("cache", "m")]).lastValue == 0)
            // open, half-open, closed
            #expect(try metrics.expectCounter("cache_circuit_state_changes_total", [("cache", "m")]).totalValue == 3)
            #expect(cache.health().status == "ok")
            cache.shutdown()
            running.cancel()
            await client.close()
        }
    }
}
