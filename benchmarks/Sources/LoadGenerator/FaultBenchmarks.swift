import ArgumentParser
import CacheTestKit
import HiredisClient
import Histogram
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import Synchronization
import _LoadKit

/// GET latency while a server it starts itself suffers a fault (hung or stopped, by default), through the cache
/// (breaker) and through the bare client, and how long the breaker takes to open after the fault and to close after
/// it clears.
struct FaultTimeline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fault",
        abstract: "Latency of GET during a fault, with and without the breaker; time to OPEN and to CLOSED."
    )

    @Option(
        help: """
            A fault that takes Redis away, as the demo and the chaos soak write it: hang (SIGSTOP, cleared by \
            SIGCONT), stop (SIGTERM, then restart), kill, sleep N, pause N, client-kill N, proxy-latency N, \
            proxy-blackhole, proxy-reset, proxy-refuse (through a fault proxy).
            """
    )
    var fault: String = "hang"
    @Option(help: "cache (with breaker) or client (no breaker).") var through: String = "cache"
    @Option(help: "Concurrent callers.") var concurrency: Int = 50
    @Option(help: "Command timeout in milliseconds.") var timeoutMs: Int = 100
    @Option(help: "How long the fault lasts, in milliseconds (a sleep, pause or client-kill lasts its own length).")
    var faultMs: Int = 3000

    func run() async throws {
        let fault: RedisFault
        do {
            fault = try RedisFault(parsing: self.fault)
        } catch {
            throw ValidationError("--fault: \(error)")
        }
        guard fault.isOnset else {
            throw ValidationError("--fault: \(fault) brings Redis back; name one that takes it away")
        }
        guard ["cache", "client"].contains(through) else { throw ValidationError("through must be cache or client") }
        let result = try await RedisTestbed.withTestbed(proxy: fault.needsProxy) { testbed in
            try await measure(fault, on: testbed)
        }
        print(result)
    }

    private func measure(_ fault: RedisFault, on testbed: RedisTestbed) async throws -> String {
        let timeout = Duration.milliseconds(timeoutMs)
        let client = try makeClient(url: testbed.url, connections: 4, timeout: timeout)
        let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        var configuration = ResilientCacheConfiguration(namespace: "")
        configuration.breaker.openDuration = .seconds(1)
        configuration.breaker.activeProbeInterval = .milliseconds(100)
        configuration.breaker.activeProbeTimeout = timeout
        let cache = ResilientCache(
            backend: RedisCacheBackend(client: client), configuration: configuration, logger: quiet)
        let probing = Task { await cache.run() }
        for index in 0..<1000 { try await cache.set(benchmarkKey(index), Array(repeating: 120, count: 100)) }

        let clock = ContinuousClock()
        let inFault = FaultFlag()
        let useCache = through == "cache"
        let callers = CallerLoop(callers: concurrency)
        let calling = Task {
            await callers.run(state: { Caller(random: SplitMix64(seed: UInt64($0 + 1))) }) { caller in
                let key = benchmarkKey(Int(caller.random.next() % 1000))
                let recording = inFault.isRaised
                let began = clock.now
                if useCache {
                    _ = try? await cache.get(key)
                } else {
                    _ = try? await client.get(RedisKey(key))
                }
                if recording { _ = caller.histogram.record(nanoseconds(clock.now - began)) }
                // Stay a well-behaved caller while the server answers, like a service would; and let others run
                // when fast-failing calls never suspend.
                if !recording { try? await Task.sleep(for: .milliseconds(1)) } else { await Task.yield() }
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        let timing = try await FaultTiming.measure(
            fault,
            on: testbed,
            lasting: .milliseconds(faultMs),
            recoveryTimeout: useCache ? .seconds(10) : .zero,
            reacted: { useCache && cache.circuit.state == .open },
            recovered: { cache.circuit.state == .closed },
            onPhase: { phase in
                switch phase {
                case .injecting: inFault.raise()
                case .clearing: inFault.lower()
                case .recovering: break
                }
            }
        )
        callers.stop()
        var merged = makeHistogram()
        for caller in await calling.value { merged.add(caller.histogram) }
        cache.shutdown()
        probing.cancel()
        await client.close()

        func us(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1000 }
        func ms(_ duration: Duration?) -> String {
            guard let duration else { return "null" }
            let (seconds, attoseconds) = duration.components
            return String(Double(seconds) * 1000 + Double(attoseconds) / 1e15)
        }
        return """
            {"fault": "\(fault)", "through": "\(through)", "calls": \(merged.totalCount), \
            "p50_us": \(us(merged.valueAtPercentile(50))), "p99_us": \(us(merged.valueAtPercentile(99))), \
            "max_us": \(us(merged.max)), "to_open_ms": \(useCache ? ms(timing.toReaction) : "null"), \
            "to_closed_ms": \(useCache ? ms(timing.toRecovery) : "null")}
            """
    }

    /// One caller's key generator and the latencies it recorded while the fault lasted.
    private struct Caller: Sendable {
        var random: SplitMix64
        var histogram = makeHistogram()
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
        let start = clock.now
        let callers = CallerLoop(callers: concurrency)
        let counts = await callers.run(
            for: .seconds(duration),
            state: { SweepCaller(random: SplitMix64(seed: UInt64($0 + 1))) }
        ) { caller in
            _ = try? await cache.get(benchmarkKey(Int(caller.random.next() % 1000)))
            caller.calls += 1
            // A fast-failing call never suspends: let the other callers (and the timer) run.
            if caller.calls % 64 == 0 { await Task.yield() }
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
            {"failure_rate": \(failureRate), "ops_per_sec": \(Int(Double(counts.reduce(0) { $0 + $1.calls }) / elapsedSeconds)), \
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

/// One sweep caller's key generator and call count.
private struct SweepCaller: Sendable {
    var random: SplitMix64
    var calls = 0
}

/// A switch the callers read on every call.
final class FaultFlag: Sendable {
    private let value = Atomic<Bool>(false)

    func raise() { value.store(true, ordering: .relaxed) }

    func lower() { value.store(false, ordering: .relaxed) }

    var isRaised: Bool { value.load(ordering: .relaxed) }
}
