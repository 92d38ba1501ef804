import Benchmark
import Logging
import Resilience

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Each sample runs `benchmark.scaledIterations` (1,000,000) guarded calls, so the harness's
// own per-sample cost (a few hundred ns, ~16 mallocs) is spread over a million operations and
// the scaled figures are per operation.

private let quiet = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }

/// A breaker that stays CLOSED: the hot path of every call.
private func closedBreaker() -> CircuitBreaker {
    CircuitBreaker(name: "bench-closed", logger: quiet)
}

/// Trips `breaker` with consecutive failures; it then stays OPEN for an hour.
private func trip(_ breaker: CircuitBreaker) {
    struct Down: Error {}
    while breaker.state == .closed {
        if let permit = try? breaker.acquire() { permit.failed(Down()) }
    }
}

private func openConfiguration() -> CircuitBreakerConfiguration {
    CircuitBreakerConfiguration(openDuration: .seconds(3600), openBackoff: .init(maxOpenDuration: .seconds(3600)))
}

/// Runs `work` on a second thread while the calling thread runs it too, and waits for both:
/// two threads for sure (a thread pool might run both parts on one).
private func onTwoThreads(_ work: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let work: @Sendable () -> Void
        init(_ work: @escaping @Sendable () -> Void) { self.work = work }
    }
    let box = Unmanaged.passRetained(Box(work)).toOpaque()
    #if canImport(Darwin)
        var thread: pthread_t?
    #else
        var thread = pthread_t()
    #endif
    let created = pthread_create(
        &thread,
        nil,
        { context in
            #if canImport(Darwin)
                let box = Unmanaged<Box>.fromOpaque(context).takeRetainedValue()
            #else
                let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            #endif
            box.work()
            return nil
        },
        box
    )
    precondition(created == 0, "pthread_create failed: \(created)")
    work()
    #if canImport(Darwin)
        pthread_join(thread!, nil)
    #else
        pthread_join(thread, nil)
    #endif
}

@inline(__always)
private func guardedCall(_ breaker: CircuitBreaker) {
    do throws(CircuitBreakerError) {
        let permit = try breaker.acquire()
        permit.succeeded()
    } catch {
        fatalError("a CLOSED breaker rejected a call: \(error)")
    }
}

@inline(__always)
private func rejectedCall(_ breaker: CircuitBreaker) -> Bool {
    do throws(CircuitBreakerError) {
        let permit = try breaker.acquire()
        permit.succeeded()
        return false
    } catch {
        return error.code == .open
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 2,
        scalingFactor: .mega,
        maxDuration: .seconds(3),
        maxIterations: 50
    )

    let closed = closedBreaker()
    Benchmark("closed-guard-1-thread") { benchmark in
        for _ in benchmark.scaledIterations {
            guardedCall(closed)
        }
    }

    let contended = closedBreaker()
    Benchmark("closed-guard-2-threads") { benchmark in
        // Two threads share the scaled iterations: the figure is wall time per operation of
        // the pair (the per-thread latency of one operation is twice that).
        let perThread = benchmark.scaledIterations.count / 2
        onTwoThreads {
            for _ in 0..<perThread {
                guardedCall(contended)
            }
        }
    }

    // OPEN with `run()` driving the timers: the rejection reads no clock.
    let open = CircuitBreaker(name: "bench-open", configuration: openConfiguration(), logger: quiet)
    trip(open)
    Benchmark(
        "open-rejection",
        configuration: .init(
            setup: {
                Task { await open.run() }
                // Wait until run() has taken over the timers: rejections then carry no retry-after.
                while true {
                    do throws(CircuitBreakerError) {
                        _ = try open.acquire()
                    } catch {
                        if error.retryAfter == nil { break }
                    }
                    await Task.yield()
                }
            }
        )
    ) { benchmark in
        var rejected = 0
        for _ in benchmark.scaledIterations {
            if rejectedCall(open) { rejected &+= 1 }
        }
        precondition(rejected == benchmark.scaledIterations.count)
    }

    // OPEN without `run()`: each rejection reads the clock to see whether the time is up.
    let lazyOpen = CircuitBreaker(
        name: "bench-open-lazy",
        configuration: openConfiguration(),
        logger: quiet
    )
    trip(lazyOpen)
    Benchmark("open-rejection-lazy") { benchmark in
        var rejected = 0
        for _ in benchmark.scaledIterations {
            if rejectedCall(lazyOpen) { rejected &+= 1 }
        }
        precondition(rejected == benchmark.scaledIterations.count)
    }
}
