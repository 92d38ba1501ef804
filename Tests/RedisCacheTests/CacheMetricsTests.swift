import CacheTestKit
import HiredisClient
import Logging
import MetricsTestKit
import RedisCache
import RedisTestSupport
import Resilience
import Testing

/// The `cache_*` metrics as a Prometheus user sees them, against a real redis-server: names and units, the `cache`
/// dimension, one `opened` per outage, and gauges that are current without anyone reading `cache.metrics`.
@Suite(.serialized)
struct CacheMetricsTests {
    private let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A cache over `server` reporting to `metrics`, and the client under it (the caller closes it).
    private func meteredCache(
        _ server: RedisServer,
        namespace: String,
        metrics: TestMetrics,
        configure: (inout ResilientCacheConfiguration) -> Void = { _ in }
    ) throws -> (ResilientCache, RedisClient) {
        var redis = try RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port))
        redis.commandTimeout = .milliseconds(200)
        redis.connectTimeout = .milliseconds(200)
        redis.reconnect = try .init(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(100))
        let client = try RedisClient(configuration: redis, logger: quiet)
        var configuration = ResilientCacheConfiguration(namespace: namespace, breaker: testBreakerConfiguration())
        configuration.ttlJitter = 0
        configure(&configuration)
        let cache = ResilientCache(
            backend: RedisCacheBackend(client: client),
            configuration: configuration,
            logger: quiet,
            metricsFactory: metrics
        )
        return (cache, client)
    }

    @Test func everySeriesCarriesTheCacheNameCountersEndInTotalAndDurationsAreSeconds() async throws {
        let metrics = TestMetrics()
        try await RedisServer.withServer { server in
            let (cache, client) = try meteredCache(server, namespace: "catalog:", metrics: metrics)
            try await cache.set("a", bytes("1"))
            _ = try await cache.get("a")
            _ = try await cache.get("b")
            let computed = try await cache.fetch("c") { bytes("computed") }
            #expect(computed == bytes("computed"))
            #expect(try server.cli("GET", "catalog:c") == "computed", "fetch stored what it computed")
            await client.close()

            let catalog = ("cache", "catalog")
            #expect(try metrics.expectCounter("cache_hits_total", [catalog]).totalValue == 1)
            #expect(try metrics.expectCounter("cache_misses_total", [catalog]).totalValue == 2)
            let duration = "cache_operation_duration_seconds"
            #expect(try metrics.expectTimer(duration, [catalog, ("operation", "set")]).values.count == 1)
            // Two gets and fetch's lookup.
            #expect(try metrics.expectTimer(duration, [catalog, ("operation", "get")]).values.count == 3)
            #expect(try metrics.expectTimer(duration, [catalog, ("operation", "fetch_store")]).values.count == 1)

            #expect(metrics.timers.allSatisfy { $0.label == duration })
            #expect(metrics.counters.allSatisfy { $0.label.hasSuffix("_total") })
            let counterLabels = Set(metrics.counters.map(\.label))
            #expect(
                counterLabels == [
                    "cache_hits_total", "cache_misses_total", "cache_degraded_total",
                    "cache_circuit_state_changes_total", "cache_circuit_opened_total", "cache_circuit_reopened_total",
                    "cache_journal_unreplayed_total", "cache_journal_overflows_total",
                ])
            #expect(
                Set(metrics.recorders.map(\.label)) == [
                    "cache_circuit_breaker_state", "cache_failure_rate", "cache_journal_size",
                ])
            let series: [(label: String, dimensions: [(String, String)])] =
                metrics.counters.map { ($0.label, $0.dimensions) } + metrics.recorders.map { ($0.label, $0.dimensions) }
                + metrics.timers.map { ($0.label, $0.dimensions) }
            for (label, dimensions) in series {
                #expect(dimensions.first { $0.0 == "cache" }?.1 == "catalog", "\(label) has no cache dimension")
            }
        }
    }

    @Test func aScriptedOutageCountsOneOpenedAndItsReopensApart() async throws {
        let metrics = TestMetrics()
        try await RedisServer.withServer { server in
            let (cache, client) = try meteredCache(server, namespace: "outage:", metrics: metrics)
            let running = Task { await cache.run() }
            let name = [("cache", "outage")]
            try await cache.set("k", bytes("v"))

            await server.stop()
            for _ in 0..<5 { _ = try await cache.get("k") }
            #expect(cache.circuit.state == .open)
            // The breaker is open for 300 ms at a time: the loop's probes through HALF_OPEN keep failing, and
            // every failure re-opens the circuit. That is still the same outage.
            try await eventually { try metrics.expectCounter("cache_circuit_reopened_total", name).totalValue >= 2 }
            #expect(try metrics.expectCounter("cache_circuit_opened_total", name).totalValue == 1)

            try await server.restart()
            try await eventually { cache.circuit.state == .closed }
            _ = try await cache.get("k")
            cache.shutdown()
            await running.value
            await client.close()

            let opened = try metrics.expectCounter("cache_circuit_opened_total", name).totalValue
            let reopened = try metrics.expectCounter("cache_circuit_reopened_total", name).totalValue
            let changes = try metrics.expectCounter("cache_circuit_state_changes_total", name).totalValue
            #expect(opened == 1, "one outage pages once")
            #expect(reopened >= 2)
            // CLOSED→OPEN, a HALF_OPEN→OPEN pair per re-open, and OPEN→HALF_OPEN→CLOSED at the end.
            #expect(changes == 1 + 2 * reopened + 2)
            #expect(try metrics.expectGauge("cache_circuit_breaker_state", name).lastValue == 0)
        }
    }

    @Test func gaugesFollowFailuresAndTheJournalWithoutAnyoneReadingMetrics() async throws {
        let metrics = TestMetrics()
        try await RedisServer.withServer { server in
            // No run(): nothing polls. Nothing here reads cache.metrics or health() either.
            let (cache, client) = try meteredCache(server, namespace: "gauges:", metrics: metrics)
            let name = [("cache", "gauges")]
            #expect(try metrics.expectGauge("cache_circuit_breaker_state", name).lastValue == 0)
            #expect(try metrics.expectGauge("cache_journal_size", name).lastValue == 0)
            #expect(try metrics.expectGauge("cache_failure_rate", name).lastValue == 0)

            try await cache.set("a", bytes("1"))
            try await cache.set("b", bytes("2"))
            await server.stop()
            // Three failed deletes: journaled, and 3 failures over 5 calls. Below the threshold of 5: still closed.
            for key in ["a", "b", "c"] { #expect(try await cache.delete(key) == 0) }
            #expect(try metrics.expectGauge("cache_journal_size", name).lastValue == 3)
            let rate = try metrics.expectGauge("cache_failure_rate", name).lastValue ?? -1
            #expect(abs(rate - 0.6) < 1e-9, "3 failures in 5 calls, got \(rate)")
            #expect(try metrics.expectGauge("cache_circuit_breaker_state", name).lastValue == 0)

            // Now with the loop: Redis comes back, the journal is replayed, and the gauges show it.
            let running = Task { await cache.run() }
            try await server.restart()
            try await cache.set("d", bytes("4"))  // a success signals the loop that the journal waits
            try await eventually { try metrics.expectGauge("cache_journal_size", name).lastValue == 0 }
            #expect(try server.cli("EXISTS", "gauges:a") == "0", "the journaled delete was replayed")
            cache.shutdown()
            await running.value
            await client.close()
        }
    }

    @Test func twoCachesInOneProcessKeepTheirSeriesApart() async throws {
        let metrics = TestMetrics()
        try await RedisServer.withServer { server in
            let (users, usersClient) = try meteredCache(server, namespace: "users:", metrics: metrics)
            let (sessions, sessionsClient) = try meteredCache(server, namespace: "s:", metrics: metrics) {
                $0.name = "sessions"
            }
            try await users.set("1", bytes("ada"))
            _ = try await users.get("1")
            _ = try await users.get("1")
            _ = try await sessions.get("missing")
            // Redis goes away, but only `sessions` calls it meanwhile: only `sessions` fails and journals.
            await server.stop()
            #expect(try await sessions.delete("gone") == 0)
            await usersClient.close()
            await sessionsClient.close()

            #expect(try metrics.expectCounter("cache_hits_total", [("cache", "users")]).totalValue == 2)
            #expect(try metrics.expectCounter("cache_hits_total", [("cache", "sessions")]).totalValue == 0)
            #expect(try metrics.expectCounter("cache_misses_total", [("cache", "users")]).totalValue == 0)
            #expect(try metrics.expectCounter("cache_misses_total", [("cache", "sessions")]).totalValue == 1)
            #expect(try metrics.expectGauge("cache_journal_size", [("cache", "sessions")]).lastValue == 1)
            #expect(try metrics.expectGauge("cache_journal_size", [("cache", "users")]).lastValue == 0)
            #expect(try metrics.expectGauge("cache_failure_rate", [("cache", "users")]).lastValue == 0)
            #expect(try metrics.expectGauge("cache_failure_rate", [("cache", "sessions")]).lastValue ?? 0 > 0)
            #expect(metrics.counters.filter { $0.label == "cache_hits_total" }.count == 2)
        }
    }

    @Test func aJournalOverflowIsCountedOncePerOverflow() async throws {
        let metrics = TestMetrics()
        var configuration = ResilientCacheConfiguration(
            namespace: "full:",
            breaker: CircuitBreakerConfiguration(failureThreshold: 1_000, failureRateThreshold: nil)
        )
        configuration.journalCapacity = 3
        let backend = FailingCacheBackend(faults: .init(failureRate: 1))
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let cache = ResilientCache(
            backend: backend, configuration: configuration, logger: quiet, metricsFactory: metrics)
        for index in 0..<10 { #expect(try await cache.delete("k\(index)") == 0) }
        #expect(cache.metrics.journalOverflowed)
        // Full at the fourth key: the namespace is fenced, and nothing more is recorded until it is flushed.
        #expect(try metrics.expectCounter("cache_journal_overflows_total", [("cache", "full")]).totalValue == 1)
    }
}
