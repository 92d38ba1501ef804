import CacheTestKit
import HiredisClient
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import Synchronization
import Testing

/// What the client's command timeout costs callers when Redis hangs (SIGSTOP), measured against a real
/// redis-server: the figures behind ``ResilientCache/defaultCommandTimeout``. Each test prints its figures.
@Suite(.serialized)
struct CommandTimeoutCostTests {
    /// Latencies of `get` calls, in milliseconds.
    final class Latencies: Sendable {
        private let samples = Mutex<[Double]>([])
        func add(_ duration: Duration) { samples.withLock { $0.append(duration.milliseconds) } }
        var sorted: [Double] { samples.withLock { $0.sorted() } }
    }

    private func hangConfiguration(_ configuration: inout ResilientCacheConfiguration) {
        // Measures the first moments of a hang: the circuit stays open once it opened.
        configuration.breaker.openDuration = .seconds(60)
        configuration.breaker.openBackoff.maxOpenDuration = .seconds(60)
    }

    @Test(arguments: [Duration.milliseconds(250), .seconds(1)])
    func concurrentCallersEachWaitAboutOneCommandTimeoutBeforeTheCircuitOpens(timeout: Duration) async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, commandTimeout: timeout, configure: hangConfiguration) {
                (cache, _, _) async throws in
                let callers = 8
                // Healthy first: the slowest replies a timeout must stay clear of.
                let healthy = Latencies()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0..<callers {
                        group.addTask {
                            for index in 0..<1_000 {
                                let started = ContinuousClock.now
                                _ = try await cache.get("k:\(caller):\(index % 10)")
                                healthy.add(.now - started)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                server.hang()
                let hungAt = ContinuousClock.now
                let hung = Latencies()
                let window = timeout * 2 + .milliseconds(500)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0..<callers {
                        group.addTask {
                            while ContinuousClock.now - hungAt < window {
                                let started = ContinuousClock.now
                                _ = try await cache.get("k:\(caller)")
                                hung.add(.now - started)
                                // Requests arrive; a caller spinning on fast failures would starve the others
                                // of the two cooperative threads and measure the scheduler instead.
                                try await Task.sleep(for: .milliseconds(2))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let state = cache.circuit.state
                server.resume()
                let healthySorted = healthy.sorted
                let p999 = healthySorted[healthySorted.count * 999 / 1000]
                let waits = hung.sorted
                let waited = waits.filter { $0 >= timeout.milliseconds / 2 }
                print(
                    "hang cost, \(callers) callers, commandTimeout \(timeout): healthy p99.9 \(rounded(p999)) ms, max \(rounded(healthySorted.last ?? 0)) ms; hung: \(waited.count) of \(waits.count) calls waited, longest \(rounded(waits.last ?? 0)) ms, total wait \(rounded(waited.reduce(0, +))) ms"
                )
                #expect(p999 < ResilientCache.defaultCommandTimeout.milliseconds)
                #expect(state == .open)
                // The hang was felt: every caller's first call waited about one timeout, and none waited longer
                // than the timeout plus a margin for a loaded machine.
                #expect(waited.count >= callers)
                #expect((waited.first ?? 0) >= timeout.milliseconds * 0.8)
                #expect((waits.last ?? .infinity) <= timeout.milliseconds + 300)
            }
        }
    }

    @Test(arguments: [Duration.milliseconds(250), .seconds(1)])
    func aLoneCallerWaitsOneCommandTimeoutPerFailureUntilTheCircuitOpens(timeout: Duration) async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, commandTimeout: timeout, configure: hangConfiguration) {
                (cache, _, _) async throws in
                _ = try await cache.get("warm")
                server.hang()
                let started = ContinuousClock.now
                while cache.circuit.state != .open {
                    _ = try await cache.get("k")
                }
                let untilOpen = ContinuousClock.now - started
                let threshold = cache.configuration.breaker.failureThreshold
                server.resume()
                print(
                    "hang cost, a lone caller, commandTimeout \(timeout): \(rounded(untilOpen.milliseconds)) ms until the circuit opened (\(threshold) failures)"
                )
                #expect(untilOpen >= timeout * Double(threshold) * 0.8)
                #expect(untilOpen <= timeout * Double(threshold) + .milliseconds(500))
            }
        }
    }

    @Test func aCacheMadeFromAURLOrTheEnvironmentUsesTheCacheCommandTimeout() async throws {
        try await RedisServer.withServer { server in
            let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            let url = "redis://127.0.0.1:\(server.port)"
            let caches = [
                ("url", try ResilientCache(url: url, logger: quiet), ResilientCache.defaultCommandTimeout),
                (
                    "environment", try ResilientCache(environment: ["REDIS_URL": url], logger: quiet),
                    ResilientCache.defaultCommandTimeout
                ),
                (
                    "environment with REDIS_COMMAND_TIMEOUT",
                    try ResilientCache(
                        environment: ["REDIS_URL": url, "REDIS_COMMAND_TIMEOUT": "600ms"], logger: quiet),
                    Duration.milliseconds(600)
                ),
            ]
            let running = caches.map { (_, cache, _) in Task { await cache.run() } }
            for (_, cache, _) in caches { _ = try await cache.get("warm") }
            server.hang()
            for (name, cache, expected) in caches {
                let started = ContinuousClock.now
                #expect(try await cache.get("k") == nil)
                let waited = ContinuousClock.now - started
                #expect(waited >= expected * 0.8, "\(name): waited \(waited)")
                #expect(waited <= expected + .milliseconds(300), "\(name): waited \(waited)")
            }
            server.resume()
            for (_, cache, _) in caches { cache.shutdown() }
            for task in running { await task.value }
        }
    }

    private func rounded(_ milliseconds: Double) -> String {
        String(Double((milliseconds * 10).rounded()) / 10)
    }
}

extension Duration {
    fileprivate var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1_000 + Double(attoseconds) / 1e15
    }
}
