import ArgumentParser
import HiredisClient
import Histogram
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import Synchronization

/// GET latency while a server it starts itself is hung or stopped, through the cache (breaker) and through the
/// bare client, and how long the breaker takes to open after the fault and to close after it clears.
struct FaultTimeline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fault",
        abstract: "Latency of GET during a hang or a stop, with and without the breaker; time to OPEN and to CLOSED."
    )

    @Option(help: "hang (SIGSTOP/SIGCONT) or stop (SIGTERM, then restart).") var fault: String = "hang"
    @Option(help: "cache (with breaker) or client (no breaker).") var through: String = "cache"
    @Option(help: "Concurrent callers.") var concurrency: Int = 50
    @Option(help: "Command timeout in milliseconds.") var timeoutMs: Int = 100
    @Option(help: "How long the fault lasts, in milliseconds.") var faultMs: Int = 3000

    func run() async throws {
        guard ["hang", "stop"].contains(fault) else { throw ValidationError("fault must be hang or stop") }
        let server = try await RedisServer.start()
        do {
            let result = try await measure(server)
            await server.shutdown()
            print(result)
        } catch {
            await server.shutdown()
            throw error
        }
    }

    private func measure(_ server: RedisServer) async throws -> String {
        let timeout = Duration.milliseconds(timeoutMs)
        let client = try makeClient(url: server.url, connections: 4, timeout: timeout)
        let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        var configuration = ResilientCacheConfiguration(namespace: "")
        configuration.breaker.openDuration = .seconds(1)
        configuration.breaker.activeProbeInterval = .milliseconds(100)
        configuration.breaker.activeProbeTimeout = timeout
        let cache = ResilientCache(backend: RedisCacheBackend(client: client), configuration: configuration, logger: quiet)
        let probing = Task { await cache.run() }
        for index in 0..<1000 { try await cache.set(benchmarkKey(index), Array(repeating: 120, count: 100)) }

        let clock = ContinuousClock()
        let control = RunControl()
        let useCache = through == "cache"
        let callers = Task {
            await withTaskGroup(of: Void.self) { group in
                for caller in 0..<concurrency {
                    group.addTask {
                        var state = UInt64(caller + 1)
                        var local = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
                        while !control.stop.load(ordering: .relaxed) {
                            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                            let key = benchmarkKey(Int((state >> 33) % 1000))
                            let recording = control.inFault.load(ordering: .relaxed)
                            let began = clock.now
                            if useCache {
                                _ = try? await cache.get(key)
                            } else {
                                _ = try? await client.get(RedisKey(key))
                            }
                            if recording {
                                let (seconds, attoseconds) = (clock.now - began).components
                                _ = local.record(UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000))
                            }
                            // Stay a well-behaved caller while the server answers, like a service would; and let
                            // others run when fast-failing calls never suspend.
                            if !recording { try? await Task.sleep(for: .milliseconds(1)) } else { await Task.yield() }
                        }
                        control.histogram.withLock { $0.add(local) }
                    }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        let injected = clock.now
        control.inFault.store(true, ordering: .relaxed)
        if fault == "hang" { server.hang() } else { await server.stop() }
        var opened: Duration?
        while clock.now - injected < .milliseconds(faultMs) {
            if opened == nil, cache.circuit.state == .open { opened = clock.now - injected }
            try await Task.sleep(for: .milliseconds(1))
        }
        control.inFault.store(false, ordering: .relaxed)
        if fault == "hang" { server.resume() } else { try await server.restart() }
        let cleared = clock.now
        var closed: Duration?
        if useCache {
            while clock.now - cleared < .seconds(10) {
                if cache.circuit.state == .closed {
                    closed = clock.now - cleared
                    break
                }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        control.stop.store(true, ordering: .relaxed)
        await callers.value
        cache.shutdown()
        probing.cancel()
        await client.close()

        let merged = control.histogram.withLock { $0 }
        func us(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1000 }
        func ms(_ duration: Duration?) -> String {
            guard let duration else { return "null" }
            let (seconds, attoseconds) = duration.components
            return String(Double(seconds) * 1000 + Double(attoseconds) / 1e15)
        }
        return """
            {"fault": "\(fault)", "through": "\(through)", "calls": \(merged.totalCount), \
            "p50_us": \(us(merged.valueAtPercentile(50))), "p99_us": \(us(merged.valueAtPercentile(99))), \
            "max_us": \(us(merged.max)), "to_open_ms": \(useCache ? ms(opened) : "null"), \
            "to_closed_ms": \(useCache ? ms(closed) : "null")}
            """
    }
}

/// The breaker under a failing backend (in memory, no Redis) at a given failure rate: throughput, the share of
/// calls admitted, and the time spent in each state.
struct FailureSweep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run the cache over a backend that fails a given share of calls; report admission and state times."
    )

    @Option(help: "Share of backend calls that fail, 0…1.") var failureRate: Double
    @Option(help: "Concurrent callers.") var concurrency: Int = 50
    @Option(name: .customLong("seconds"), help: "Seconds to run.") var duration: Double = 3

    func run() async throws {
        let memory = InMemoryCacheBackend()
        for index in 0..<1000 { try await memory.set(benchmarkKey(index), [1, 2, 3], ttl: nil) }
        let backend = FailingCacheBackend(wrapping: memory, faults: .init(failureRate: failureRate), seed: 42)
        var configuration = ResilientCacheConfiguration(namespace: "")
        configuration.breaker = CircuitBreakerConfiguration(
            failureThreshold: 5,
            successThreshold: 3,
            openDuration: .milliseconds(200),
            failureRateThreshold: 0.5,
            minimumCalls: 100,
            openBackoff: .init(multiplier: 1, maxOpenDuration: .milliseconds(200))
        )
        let cache = ResilientCache(
            backend: backend,
            configuration: configuration,
            logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let clock = ContinuousClock()
        let time = StateTimer(clock: clock)
        let events = Task {
            for await event in cache.circuit.makeEventStream() { time.enter(event.to) }
        }
        let probing = Task { await cache.run() }
        let control = RunControl()
        let start = clock.now
        await withTaskGroup(of: Void.self) { group in
            for caller in 0..<concurrency {
                group.addTask {
                    var state = UInt64(caller + 1)
                    var count = 0
                    while !control.stop.load(ordering: .relaxed) {
                        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                        _ = try? await cache.get(benchmarkKey(Int((state >> 33) % 1000)))
                        count += 1
                        if count % 64 == 0 { await Task.yield() }
                    }
                    control.operations.add(count, ordering: .relaxed)
                }
            }
            try? await Task.sleep(for: .seconds(duration))
            control.stop.store(true, ordering: .relaxed)
        }
        let elapsed = clock.now - start
        time.enter(cache.circuit.state)
        let metrics = cache.circuit.metrics
        cache.shutdown()
        probing.cancel()
        events.cancel()
        let total = metrics.counts.permitted + metrics.counts.rejected + metrics.counts.throttled
        let fractions = time.fractions(of: elapsed)
        let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            """
            {"failure_rate": \(failureRate), "ops_per_sec": \(Int(Double(control.operations.load(ordering: .relaxed)) / elapsedSeconds)), \
            "admitted_share": \(total == 0 ? 0 : Double(metrics.counts.permitted) / Double(total)), \
            "backend_calls": \(backend.calls), "state_changes": \(metrics.counts.stateChanges), \
            "closed_share": \(fractions[.closed] ?? 0), "open_share": \(fractions[.open] ?? 0), \
            "half_open_share": \(fractions[.halfOpen] ?? 0)}
            """
        )
    }
}

/// Time spent in each breaker state, from the transitions.
final class StateTimer: Sendable {
    private struct State {
        var current: CircuitBreakerState = .closed
        var since: ContinuousClock.Instant
        var spent: [CircuitBreakerState: Duration] = [:]
    }

    private let clock: ContinuousClock
    private let state: Mutex<State>

    init(clock: ContinuousClock) {
        self.clock = clock
        self.state = Mutex(State(since: clock.now))
    }

    func enter(_ next: CircuitBreakerState) {
        let now = clock.now
        state.withLock { state in
            state.spent[state.current, default: .zero] += now - state.since
            state.current = next
            state.since = now
        }
    }

    func fractions(of total: Duration) -> [CircuitBreakerState: Double] {
        state.withLock { state in
            state.spent.mapValues { min(1, $0 / total) }
        }
    }
}

/// Flags and totals shared by a run's callers.
final class RunControl: Sendable {
    let stop = Atomic<Bool>(false)
    let inFault = Atomic<Bool>(false)
    let operations = Atomic<Int>(0)
    let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three))
}

