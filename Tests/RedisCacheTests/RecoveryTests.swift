import CacheTestKit
import Foundation
import HiredisClient
import InMemoryLogging
import Logging
import MetricsTestKit
import RedisCache
import RedisTestSupport
import Resilience
import Synchronization
import Testing

/// The recovery owner against a real redis-server: the shutdown's last replay, recovery that does not wait for the
/// open duration, and the window in which another instance over the same Redis can read a stale value.
@Suite(.serialized)
struct RecoveryTests {
    /// A client through `proxy` (so a blackhole can keep writes from ever reaching Redis) and a cache over it that
    /// never recovers by itself within a test: probes every 60 s, open for 60 s.
    private func proxiedCache(
        _ proxy: FaultProxy,
        logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
        metrics: TestMetrics? = nil,
        configure: (inout ResilientCacheConfiguration) -> Void = { _ in }
    ) throws -> (ResilientCache, RedisClient) {
        var redis = try RedisClientConfiguration(endpoint: .tcp(host: proxy.host, port: proxy.port))
        redis.commandTimeout = .milliseconds(200)
        redis.connectTimeout = .milliseconds(200)
        redis.reconnect = try .init(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(100))
        let client = try RedisClient(configuration: redis, logger: logger)
        var configuration = ResilientCacheConfiguration(
            namespace: "rec:",
            breaker: CircuitBreakerConfiguration(
                failureThreshold: 5, openDuration: .seconds(60), failureRateThreshold: nil)
        )
        configuration.probeInterval = .seconds(60)
        configuration.maximumProbeInterval = .seconds(60)
        configure(&configuration)
        let cache: ResilientCache
        if let metrics {
            cache = ResilientCache(
                backend: RedisCacheBackend(client: client),
                configuration: configuration,
                logger: logger,
                metricsFactory: metrics
            )
        } else {
            cache = ResilientCache(
                backend: RedisCacheBackend(client: client), configuration: configuration, logger: logger)
        }
        return (cache, client)
    }

    @Test func shutdownReplaysTheJournalStraightToRedisWhileTheCircuitIsStillOpen() async throws {
        try await RedisServer.withServer { server in
            let proxy = try FaultProxy.start(upstreamPort: server.port)
            defer { proxy.stop() }
            let (cache, client) = try proxiedCache(proxy)
            let running = Task { await cache.run() }
            for index in 0..<75 { try await cache.set("k\(index)", bytes("old")) }

            // Writes that never reach Redis: journaled, and the circuit opens.
            try await proxy.setMode(.blackhole)
            for index in 0..<75 { #expect(try await cache.set("k\(index)", bytes("new"))) }
            #expect(cache.circuit.state == .open)
            #expect(cache.metrics.journalSize == 75)

            // Redis is reachable again, but nothing has probed it yet: the circuit is still open at shutdown.
            try await proxy.setMode(.passThrough)
            #expect(cache.circuit.state == .open)
            cache.shutdown()
            await running.value
            await client.close()

            // The next process must not read "old": every key was removed (or never changed).
            for index in 0..<75 {
                #expect(
                    try server.cli("GET", "rec:k\(index)") != "old", "k\(index) still holds the value before the outage"
                )
            }
        }
    }

    @Test func aShutdownThatCannotReplayLogsAndCountsWhatItLeaves() async throws {
        try await RedisServer.withServer { server in
            let proxy = try FaultProxy.start(upstreamPort: server.port)
            defer { proxy.stop() }
            let log = InMemoryLogHandler()
            let metrics = TestMetrics()
            let (cache, client) = try proxiedCache(proxy, logger: Logger(label: "test") { _ in log }, metrics: metrics)
            {
                $0.shutdownReplayTimeout = .milliseconds(300)
            }
            let running = Task { await cache.run() }
            try await proxy.setMode(.blackhole)
            for index in 0..<12 { try await cache.delete("gone\(index)") }
            #expect(cache.metrics.journalSize == 12)

            let elapsed = await measure {
                cache.shutdown()
                await running.value
            }
            await client.close()

            #expect(elapsed < .seconds(2), "the last replay is bounded by shutdownReplayTimeout")
            let counter = try metrics.expectCounter("cache_journal_unreplayed_total", [("cache", "rec")])
            #expect(counter.totalValue == 12)
            let lines = log.entries.filter { $0.message.description.contains("not replayed at shutdown") }
            #expect(lines.count == 1)
            #expect(lines.first?.metadata["entries"]?.description == "12")
            #expect(lines.first?.metadata["first_keys"]?.description.contains("rec:gone") == true)
        }
    }

    @Test func afterALongOutageCallsReachRedisWithinASecondNotAfterTheOpenDuration() async throws {
        try await RedisServer.withServer { server in
            let proxy = try FaultProxy.start(upstreamPort: server.port)
            defer { proxy.stop() }
            // The defaults a service gets: probe every 250 ms, at most every 500 ms; the breaker opens for 60 s
            // (growing on each re-open).
            let (cache, client) = try proxiedCache(proxy) {
                $0.probeInterval = ResilientCacheConfiguration().probeInterval
                $0.maximumProbeInterval = ResilientCacheConfiguration().maximumProbeInterval
            }
            let running = Task { await cache.run() }
            try await cache.set("k", bytes("v"))
            try await proxy.setMode(.resetAll)
            for _ in 0..<10 { _ = try await cache.get("k") }
            #expect(cache.circuit.state == .open)
            try await Task.sleep(for: .seconds(4))  // many failed probes: the probe interval is at its cap by now
            #expect(cache.circuit.state == .open)

            try await proxy.setMode(.passThrough)
            let back = ContinuousClock.now
            var hitAfter: Duration?
            while ContinuousClock.now - back < .seconds(5) {
                if try await cache.get("k") == bytes("v") {
                    hitAfter = ContinuousClock.now - back
                    break
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            cache.shutdown()
            await running.value
            await client.close()
            let measured = try #require(hitAfter, "no hit within 5 s of Redis answering again")
            print("recovery after a 4 s outage: first hit \(measured) after Redis answered again")
            #expect(measured < .seconds(1), "from Redis answering again to a hit: \(measured)")
        }
    }

    @Test func theDurableJournalIsOnDiskDuringTheOutageAndTheNextStartFencesAndReplaysIt() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func journalLines() -> [String] {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return files.flatMap { file in
                ((try? String(contentsOfFile: directory + "/" + file, encoding: .utf8)) ?? "")
                    .split(separator: "\n").map(String.init)
            }
        }
        try await RedisServer.withServer { server in
            let proxy = try FaultProxy.start(upstreamPort: server.port)
            defer { proxy.stop() }
            let (first, firstClient) = try proxiedCache(proxy) {
                $0.durableJournalDirectory = directory
                $0.shutdownReplayTimeout = .milliseconds(200)
            }
            let running = Task { await first.run() }
            for index in 0..<30 { try await first.set("k\(index)", bytes("old")) }
            try await proxy.setMode(.blackhole)
            for index in 0..<30 { try await first.set("k\(index)", bytes("new")) }

            // On disk while the outage lasts: what a kill would leave behind.
            try await eventually(timeout: .seconds(2)) { journalLines().filter { $0.hasPrefix("K ") }.count == 30 }

            // The process stops while Redis is still unreachable: nothing was replayed.
            first.shutdown()
            await running.value
            await firstClient.close()
            #expect(try server.cli("GET", "rec:k0") == "old")

            // The next start, straight to Redis: the keys are fenced before anything ran, then replayed.
            let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            var configuration = ResilientCacheConfiguration(namespace: "rec:")
            configuration.durableJournalDirectory = directory
            let second = try ResilientCache(
                url: "redis://127.0.0.1:\(server.port)", configuration: configuration, logger: quiet)
            #expect(second.metrics.journalSize == 30)
            #expect(try await second.get("k0") == nil, "fenced: Redis still holds the old value")
            let secondRunning = Task { await second.run() }
            try await eventually(timeout: .seconds(3)) { second.metrics.journalSize == 0 }
            for index in 0..<30 { #expect(try server.cli("GET", "rec:k\(index)") != "old") }
            try await eventually(timeout: .seconds(2)) { journalLines().isEmpty }
            second.shutdown()
            await secondRunning.value
        }
    }

    @Test func aSecondCacheOnTheSameDurableJournalIsRefusedLoudlyAndKeepsItsJournalInMemory() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = InMemoryLogHandler()
        var configuration = ResilientCacheConfiguration(namespace: "same:")
        configuration.durableJournalDirectory = directory
        let owner = ResilientCache(
            backend: InMemoryCacheBackend(), configuration: configuration, logger: Logger(label: "test") { _ in log })
        let intruder = ResilientCache(
            backend: InMemoryCacheBackend(), configuration: configuration, logger: Logger(label: "test") { _ in log })
        let errors = log.entries.filter {
            $0.level == .error && $0.message.description.contains("durable journal unavailable")
        }
        #expect(errors.count == 1)
        #expect(errors.first?.metadata["error"]?.description.contains("in use by another cache") == true)
        _ = (owner, intruder)
    }

    @Test func nothingTheCacheStartedIsStillRunningAfterRunReturns() async throws {
        let backend = FailingCacheBackend(wrapping: InMemoryCacheBackend(), faults: .init(failureRate: 1))
        var configuration = ResilientCacheConfiguration(namespace: "quiet:")
        configuration.shutdownReplayTimeout = .milliseconds(100)
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let cache = ResilientCache(backend: backend, configuration: configuration, logger: quiet)
        let running = Task { await cache.run() }
        for index in 0..<10 { try await cache.delete("k\(index)") }  // journaled; the circuit opens
        #expect(cache.circuit.state == .open)
        let callsWhenOpen = backend.calls
        try await eventually(timeout: .seconds(2)) { backend.calls >= callsWhenOpen + 3 }  // the loop is probing

        cache.shutdown()
        await running.value
        let callsAtReturn = backend.calls
        // The backend is healthy now: a probe or a replay still running anywhere would reach it.
        backend.faults = .none
        try await Task.sleep(for: .milliseconds(800))
        #expect(backend.calls == callsAtReturn, "something the cache started called the backend after run() returned")
        #expect(cache.metrics.journalSize == 10)

        // A cache runs once: a second run() returns at once instead of closing the first one's client.
        let again = await measure { await cache.run() }
        #expect(again < .milliseconds(100))
    }
}
