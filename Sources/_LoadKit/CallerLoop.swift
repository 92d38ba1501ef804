import Synchronization

/// Concurrent callers, each making one call after another until stopped, as a service's request handlers do.
///
/// Each caller is a child task with state of its own (a seeded generator, a histogram, counters), made by `state`
/// from the caller's index; it calls `call` with that state until ``stop()`` is called, the run's `duration` has
/// passed, or it has made `callsPerCaller` calls. A caller always finishes the call it is in: nothing is cancelled
/// mid-call. ``callsStarted`` and ``callsFinished`` count every call, so a run can prove that each call returned.
///
/// ```swift
/// let callers = CallerLoop(callers: 50)
/// let running = Task {
///     await callers.run(state: { SplitMix64(seed: UInt64($0)) }) { random in
///         _ = try? await cache.get("key:\(random.next() % 1000)")
///     }
/// }
/// // ... inject a fault, watch the breaker ...
/// callers.stop()
/// _ = await running.value
/// #expect(callers.callsStarted == callers.callsFinished)
/// ```
///
/// A loop runs once.
public final class CallerLoop: Sendable {
    /// How many callers run at once.
    public let callers: Int

    private let stopping = Atomic<Bool>(false)
    /// One pair of counters per caller, so callers never contend for a counter.
    private let counters: [CallCounters]

    /// - Parameter callers: How many callers run at once; at least one.
    public init(callers: Int) {
        precondition(callers > 0, "a caller loop needs at least one caller")
        self.callers = callers
        self.counters = (0..<callers).map { _ in CallCounters() }
    }

    /// Runs the callers and returns once every one has finished its last call.
    ///
    /// - Parameters:
    ///   - callsPerCaller: Each caller stops after this many calls; `nil`: only ``stop()`` or `duration` stop it.
    ///   - duration: The run stops after this long (the callers still finish their calls); `nil`: no limit.
    ///   - executors: Caller `c` runs with a preference for `executors[c % executors.count]` (a client's event
    ///     loops, `RedisClient.taskExecutors`); empty: on the global executor.
    ///   - state: Makes a caller's own state from its index, `0..<callers`.
    ///   - call: One call, with the caller's state.
    /// - Returns: Each caller's state after its last call, in caller order.
    public func run<State: Sendable>(
        callsPerCaller: Int? = nil,
        for duration: Duration? = nil,
        executors: [any TaskExecutor] = [],
        state: @escaping @Sendable (_ caller: Int) -> State,
        call: @escaping @Sendable (_ state: inout State) async -> Void
    ) async -> [State] {
        await withTaskGroup(of: (Int, State)?.self) { group in
            for caller in 0..<callers {
                let executor = executors.isEmpty ? nil : executors[caller % executors.count]
                group.addTask(executorPreference: executor) {
                    var current = state(caller)
                    let counters = self.counters[caller]
                    var calls = 0
                    while !self.stopping.load(ordering: .relaxed) {
                        if let callsPerCaller, calls >= callsPerCaller { break }
                        counters.started.add(1, ordering: .relaxed)
                        await call(&current)
                        counters.finished.add(1, ordering: .relaxed)
                        calls += 1
                    }
                    return (caller, current)
                }
            }
            if let duration {
                group.addTask {
                    try? await Task.sleep(for: duration)
                    self.stop()
                    return nil
                }
            }
            var states: [State?] = Array(repeating: nil, count: callers)
            var done = 0
            for await result in group {
                guard let (caller, state) = result else { continue }
                states[caller] = state
                done += 1
                // A budget or stop() ended every caller: the timer need not run out.
                if done == callers { group.cancelAll() }
            }
            return states.compactMap { $0 }
        }
    }

    /// Asks every caller to stop after the call it is in.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
    }

    /// Whether ``stop()`` was called (or the run's duration has passed).
    public var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// Calls begun so far, all callers together.
    public var callsStarted: Int { counters.reduce(0) { $0 + $1.started.load(ordering: .relaxed) } }

    /// Calls returned so far, all callers together.
    public var callsFinished: Int { counters.reduce(0) { $0 + $1.finished.load(ordering: .relaxed) } }
}

/// One caller's counts.
private final class CallCounters: Sendable {
    let started = Atomic<Int>(0)
    let finished = Atomic<Int>(0)
}
