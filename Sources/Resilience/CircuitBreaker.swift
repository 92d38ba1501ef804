import Logging
import Synchronization

/// Stops calling a failing dependency, and lets it recover gradually.
///
/// A circuit breaker sits in front of a dependency (here: Redis). Every call asks for
/// permission and reports its outcome. After ``CircuitBreakerConfiguration/failureThreshold``
/// consecutive failures, or a failure rate over the rolling window, the breaker opens: calls
/// are rejected at once with ``CircuitBreakerError/Code/open`` (`CIRCUIT_BREAKER_OPEN`) instead
/// of waiting on a dead server. When the open duration is up it goes HALF_OPEN and admits a
/// deterministic share of calls as probes (the rest get ``CircuitBreakerError/Code/throttled``);
/// ``CircuitBreakerConfiguration/successThreshold`` consecutive successes close it, any failure
/// re-opens it for longer.
///
/// Two APIs share one state machine: ``execute(_:)`` wraps an async closure, and the two-step
/// ``acquire()`` / ``Permit/succeeded()`` / ``Permit/failed(_:)`` / ``Permit/ignored()`` serves
/// callers that cannot wrap a closure. Admission and outcome are atomic with respect to the
/// state (a `Mutex` around a pure state machine); outcomes carry the state
/// period (generation) they were admitted in, and a late outcome from an older period moves
/// nothing. Transitions are logged once each and published to ``makeEventStream()`` and the
/// `onTransition` handler, never from inside the lock.
///
/// Time comes from the continuous clock (tests inject a manual one through a `package`
/// initializer). Timers need no background task: without ``run()`` the transitions happen lazily on
/// the next call or read (OPEN → HALF_OPEN when a call, ``state`` or ``metrics`` finds the time
/// is up, as gobreaker does). ``run()`` adds punctual transitions and events, reclaiming of
/// probes that never report, the active probe, and clock-free OPEN rejections.
///
/// The guard is on every call's path, so it is cheap: in CLOSED, acquire plus success is two
/// short critical sections and no clock read, no allocation; a rejection allocates nothing
/// (typed throws).
///
/// ```swift
/// let breaker = CircuitBreaker(configuration: .init(), logger: logger)
/// let value = try await breaker.execute { try await redis.get(key) }
///
/// // or, two-step:
/// let permit = try breaker.acquire()
/// do {
///     let value = try await redis.get(key)
///     permit.succeeded()
/// } catch {
///     permit.failed(error)
/// }
/// ```
public final class CircuitBreaker: Sendable {
    /// The events this breaker publishes.
    public typealias Event = CircuitBreakerEvent
    /// The metrics snapshots this breaker returns.
    public typealias Metrics = CircuitBreakerMetrics
    /// A point in time on the continuous clock.
    public typealias Instant = ContinuousClock.Instant

    /// What calls may decide without the lock; see ``CircuitBreakerGate``. Written only under `core`'s lock,
    /// except for the counts that calls add with a compare-and-swap.
    @usableFromInline
    let gate: Atomic<UInt64>
    @usableFromInline
    let core: Mutex<CircuitBreakerStateMachine>
    @usableFromInline
    let measuresDuration: Bool
    @usableFromInline
    let clock: TimeSource
    @usableFromInline
    let epoch: Instant

    /// The settings this breaker was created with.
    public let configuration: CircuitBreakerConfiguration
    /// The name used in log metadata.
    public let name: String
    let logger: Logger
    let broadcaster: TransitionBroadcaster
    let runner = Mutex(RunnerState())
    let wake = WakeSignal()

    /// Creates a CLOSED breaker on the continuous clock.
    ///
    /// The configuration is checked with a `precondition`
    /// (see ``CircuitBreakerConfiguration/validate()`` to check it without stopping the process).
    ///
    /// ```swift
    /// let breaker = CircuitBreaker(name: "redis", logger: Logger(label: "cache"))
    /// ```
    ///
    /// - Parameters:
    ///   - name: A name for the log metadata (`circuit_breaker`).
    ///   - configuration: The thresholds and durations.
    ///   - logger: Receives one `notice` (to CLOSED/HALF_OPEN) or `warning` (to OPEN) per transition.
    ///   - onTransition: Called once per transition, in order, outside the breaker's lock.
    public convenience init(
        name: String = "circuit-breaker",
        configuration: CircuitBreakerConfiguration = CircuitBreakerConfiguration(),
        logger: Logger,
        onTransition: (@Sendable (Event) -> Void)? = nil
    ) {
        self.init(
            name: name,
            configuration: configuration,
            time: .continuous,
            logger: logger,
            randomNumberGenerator: SystemRandomNumberGenerator(),
            onTransition: onTransition
        )
    }

    /// Creates a CLOSED breaker on an injected clock, with a seeded source of jitter: the seam for tests.
    package convenience init<C: Clock>(
        name: String = "circuit-breaker",
        configuration: CircuitBreakerConfiguration = CircuitBreakerConfiguration(),
        clock: C,
        logger: Logger,
        randomNumberGenerator: some RandomNumberGenerator & Sendable = SystemRandomNumberGenerator(),
        onTransition: (@Sendable (Event) -> Void)? = nil
    ) where C.Instant == ContinuousClock.Instant {
        self.init(
            name: name,
            configuration: configuration,
            time: TimeSource(clock),
            logger: logger,
            randomNumberGenerator: randomNumberGenerator,
            onTransition: onTransition
        )
    }

    package init(
        name: String,
        configuration: CircuitBreakerConfiguration,
        time: TimeSource,
        logger: Logger,
        randomNumberGenerator: some RandomNumberGenerator & Sendable,
        onTransition: (@Sendable (Event) -> Void)?
    ) {
        configuration.preconditionValid()
        self.name = name
        self.configuration = configuration
        self.clock = time
        self.epoch = time.now
        self.logger = logger
        self.measuresDuration = configuration.slowCallThreshold != nil
        let machine = CircuitBreakerStateMachine(
            configuration: configuration,
            now: .zero,
            randomNumberGenerator: randomNumberGenerator
        )
        self.gate = Atomic(machine.gateWord)
        self.core = Mutex(machine)
        self.broadcaster = TransitionBroadcaster(name: name, logger: logger, onTransition: onTransition)
    }

    // MARK: Admission

    /// Asks to make one call; throws if the breaker rejects it.
    ///
    /// In CLOSED this is one atomic load: no lock, no clock read, no allocation. Report the outcome exactly
    /// once with ``Permit/succeeded()``, ``Permit/failed(_:)`` or ``Permit/ignored()``; a
    /// half-open permit that is never reported is reclaimed after
    /// ``CircuitBreakerConfiguration/probeReclaimAfter`` and counted as a failure.
    ///
    /// ```swift
    /// let permit: CircuitBreaker.Permit
    /// do {
    ///     permit = try breaker.acquire()
    /// } catch {
    ///     return nil  // error.code is .open or .throttled: degrade to a miss
    /// }
    /// ```
    ///
    /// - Returns: The permit to report the outcome with.
    /// - Throws: ``CircuitBreakerError`` with ``CircuitBreakerError/Code/open`` while OPEN,
    ///   ``CircuitBreakerError/Code/throttled`` for a HALF_OPEN call that is not admitted.
    @inlinable
    public func acquire() throws(CircuitBreakerError) -> Permit {
        let word = gate.load(ordering: .relaxed)
        let kind = CircuitBreakerGate.kind(word)
        if kind == CircuitBreakerGate.admitKind && !measuresDuration {
            let ticket = CircuitBreakerStateMachine.Ticket(
                generation: CircuitBreakerGate.generation(word),
                admittedWithoutLock: true
            )
            return Permit(breaker: self, ticket: ticket, startedAt: nil)
        }
        if kind == CircuitBreakerGate.rejectKind && countRejection(word) {
            throw CircuitBreakerError(code: .open, retryAfter: nil)
        }
        return try acquireSlowly(word)
    }

    /// The rest of ``acquire()``: out of line, so that the fast path above stays small.
    @inlinable
    @inline(never)
    func acquireSlowly(_ word: UInt64) throws(CircuitBreakerError) -> Permit {
        if CircuitBreakerGate.kind(word) == CircuitBreakerGate.admitKind {
            let ticket = CircuitBreakerStateMachine.Ticket(
                generation: CircuitBreakerGate.generation(word),
                admittedWithoutLock: true
            )
            return Permit(breaker: self, ticket: ticket, startedAt: elapsed())
        }
        switch acquire(at: elapsed()) {
        case .admitted(let ticket):
            return Permit(breaker: self, ticket: ticket, startedAt: measuresDuration ? elapsed() : nil)
        case .rejected(let code, let retryAfter):
            throw CircuitBreakerError(code: code, retryAfter: retryAfter)
        }
    }

    /// Counts a rejection in the gate word; `false` if the word no longer says *reject*
    /// (or its count must be absorbed first): the caller then takes the lock.
    @inlinable
    func countRejection(_ word: UInt64) -> Bool {
        var word = word
        while CircuitBreakerGate.kind(word) == CircuitBreakerGate.rejectKind,
            CircuitBreakerGate.count(word) < CircuitBreakerGate.drainCount
        {
            let (exchanged, original) = gate.compareExchange(
                expected: word,
                desired: word &+ CircuitBreakerGate.countOne,
                ordering: .relaxed
            )
            if exchanged { return true }
            word = original
        }
        return false
    }

    /// Counts a success of a permit admitted without the lock in the gate word.
    ///
    /// - Returns: `nil` if the word no longer admits this permit's generation (the caller then
    ///   records under the lock, where the outcome is recognised as late); otherwise whether the
    ///   batch is full and must be absorbed.
    @inlinable
    func countSuccess(generation: UInt32) -> Bool? {
        var word = gate.load(ordering: .relaxed)
        while CircuitBreakerGate.kind(word) == CircuitBreakerGate.admitKind,
            CircuitBreakerGate.generation(word) == generation
        {
            let desired = word &+ CircuitBreakerGate.countOne
            let (exchanged, original) = gate.compareExchange(expected: word, desired: desired, ordering: .relaxed)
            if exchanged { return CircuitBreakerGate.count(desired) >= CircuitBreakerGate.batchSize(desired) }
            word = original
        }
        return nil
    }

    /// Absorbs a full batch of successes counted in the gate: one clock read per batch.
    @usableFromInline
    func absorbSuccessBatch() {
        let now = elapsed()
        withMachine { $0.flushPendingSuccesses(now: now, adapt: true) }
    }

    /// The admission decision at `now` (the clock was read by the specialised caller).
    @usableFromInline
    func acquire(at now: Duration) -> CircuitBreakerStateMachine.Admission {
        withMachine { $0.acquire(now: now) }
    }

    /// Runs `operation` if the breaker admits it, and records how it ended.
    ///
    /// The operation's error is classified by ``CircuitBreakerConfiguration/classifier`` and
    /// rethrown unchanged. Its duration is measured with the clock only when
    /// ``CircuitBreakerConfiguration/slowCallThreshold`` is set. A rejection is thrown as a
    /// ``CircuitBreakerError`` (boxed as `any Error` here; use ``acquire()`` for a rejection
    /// without allocation).
    ///
    /// ```swift
    /// let value = try await breaker.execute { try await redis.get(key) }
    /// ```
    ///
    /// - Parameters:
    ///   - operation: The protected call. It is not run when the breaker rejects.
    /// - Returns: What `operation` returned.
    /// - Throws: ``CircuitBreakerError`` on rejection, otherwise whatever `operation` threw.
    nonisolated(nonsending) public func execute<T>(
        _ operation: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        let permit = try acquire()
        let value: T
        do {
            value = try await operation()
        } catch {
            permit.failed(error)
            throw error
        }
        permit.succeeded()
        return value
    }

    // MARK: State

    /// The current state, after applying due timers (a lazy OPEN → HALF_OPEN happens here).
    ///
    /// ```swift
    /// if breaker.state == .open { metrics.increment("degraded") }
    /// ```
    public var state: CircuitBreakerState {
        let now = elapsed()
        return withMachine { machine in
            machine.advance(to: now)
            return machine.state
        }
    }

    /// The state after due timers, and whether it is forced: what an owner that probes the dependency itself
    /// needs to decide whether to probe (never while forced open).
    package var stateAndForcing: (state: CircuitBreakerState, isForced: Bool) {
        let now = elapsed()
        return withMachine { machine in
            machine.advance(to: now)
            return (machine.state, machine.mode == .forcedOpen || machine.mode == .forcedClosed)
        }
    }

    /// Whether a call made now would be admitted; a peek that changes nothing.
    ///
    /// Another caller may take the last probe slot between this answer and your
    /// ``acquire()``; only ``acquire()`` decides.
    ///
    /// ```swift
    /// guard breaker.isCallPermitted else { return fallback }
    /// ```
    public var isCallPermitted: Bool {
        let now = elapsed()
        return core.withLock { $0.isCallPermitted(now: now) }
    }

    /// A snapshot of the state and counters, after applying due timers.
    ///
    /// ```swift
    /// let metrics = breaker.metrics
    /// print(metrics.state, metrics.failureRate, metrics.counts.rejected)
    /// ```
    public var metrics: Metrics {
        let now = elapsed()
        let snapshot = withMachine { $0.snapshot(now: now) }
        let calls = snapshot.window.calls
        return Metrics(
            instant: epoch.advanced(by: now),
            state: snapshot.state,
            isForced: snapshot.isForced,
            forcedReason: snapshot.forcedReason,
            generation: UInt64(snapshot.generation),
            failureRate: calls == 0 ? 0 : Double(snapshot.window.failures) / Double(calls),
            slowCallRate: calls == 0 ? 0 : Double(snapshot.window.slowCalls) / Double(calls),
            callsInWindow: calls,
            failuresInWindow: snapshot.window.failures,
            slowCallsInWindow: snapshot.window.slowCalls,
            recentFailures: snapshot.recentFailures.map { entry in
                Metrics.RecentFailure(
                    instant: epoch.advanced(by: entry.at),
                    kind: entry.kind,
                    message: Self.message(for: entry),
                    error: entry.error,
                    duration: entry.duration
                )
            },
            timeInCurrentState: max(.zero, now - snapshot.stateEnteredAt),
            consecutiveFailures: snapshot.consecutiveFailures,
            consecutiveSuccesses: snapshot.consecutiveSuccesses,
            consecutiveReopens: snapshot.consecutiveReopens,
            openUntil: snapshot.openUntil.map { epoch.advanced(by: $0) },
            halfOpenProbesInFlight: snapshot.halfOpenProbesInFlight,
            counts: snapshot.counters
        )
    }

    /// ``CircuitBreakerMetrics/failureRate`` alone, without building the whole snapshot: for an owner that
    /// keeps a failure-rate gauge current after every failed call.
    package var failureRate: Double {
        let now = elapsed()
        let totals = withMachine { machine in
            machine.flushPendingSuccesses(now: now, adapt: false)
            return machine.window.totals
        }
        return totals.calls == 0 ? 0 : Double(totals.failures) / Double(totals.calls)
    }

    // MARK: Manual control

    /// Forces the breaker OPEN: every call is rejected until ``reset()`` or until `until`.
    ///
    /// At `until` the breaker moves to HALF_OPEN and probes the dependency as after any
    /// open period (a maintenance window that ends by itself).
    ///
    /// ```swift
    /// breaker.forceOpen(reason: "redis maintenance", until: clock.now.advanced(by: .seconds(600)))
    /// ```
    ///
    /// - Parameters:
    ///   - reason: Shown in the transition's ``CircuitBreakerTransitionReason/detail`` and the metrics.
    ///   - until: When the forced state ends by itself; `nil` to stay until released.
    public func forceOpen(reason: String? = nil, until: Instant? = nil) {
        let now = elapsed()
        let deadline = until.map { epoch.duration(to: $0) }
        withMachine { $0.forceOpen(reason: reason, until: deadline, now: now) }
    }

    /// Forces the breaker CLOSED: every call is admitted and no failure opens it, until
    /// ``reset()`` or until `until` (then it is CLOSED as usual, with fresh counts).
    ///
    /// ```swift
    /// breaker.forceClosed(reason: "incident 42: breaker misfires")
    /// ```
    ///
    /// - Parameters:
    ///   - reason: Shown in the transition's ``CircuitBreakerTransitionReason/detail`` and the metrics.
    ///   - until: When the forced state ends by itself; `nil` to stay until released.
    public func forceClosed(reason: String? = nil, until: Instant? = nil) {
        let now = elapsed()
        let deadline = until.map { epoch.duration(to: $0) }
        withMachine { $0.forceClosed(reason: reason, until: deadline, now: now) }
    }

    /// Back to CLOSED, releasing any forced state, with the rolling window, consecutive counts
    /// and open backoff cleared.
    ///
    /// Cumulative counters and the recent failures are kept: they feed monotonic metrics.
    ///
    /// ```swift
    /// breaker.reset()
    /// ```
    public func reset() {
        let now = elapsed()
        withMachine { $0.reset(now: now) }
    }

    /// Ends an OPEN period before the open duration is up: moves OPEN to HALF_OPEN at once.
    ///
    /// For an owner that probes the dependency itself and has verified it answers again (and done what
    /// must happen before callers reach it, such as replaying a journal). HALF_OPEN then admits calls as
    /// usual. Does nothing in any other state, and nothing while forced open.
    ///
    /// ```swift
    /// try await redis.ping()
    /// breaker.endOpenPeriod()
    /// ```
    public func endOpenPeriod() {
        let now = elapsed()
        withMachine { $0.endOpenPeriod(now: now) }
    }

    // MARK: Events

    /// A new stream of every transition from now on, in order.
    ///
    /// Each call returns a new, independent stream; any number may be open at once. Streams
    /// finish on ``shutdown()``. A stream keeps the newest 1024 events its consumer has not read.
    ///
    /// ```swift
    /// Task {
    ///     for await event in breaker.makeEventStream() { log(event) }
    /// }
    /// ```
    ///
    /// - Returns: The stream.
    public func makeEventStream() -> AsyncStream<Event> {
        broadcaster.makeStream()
    }

    // MARK: Internals

    /// The time since the breaker's epoch, from the injected clock.
    @inlinable
    func elapsed() -> Duration {
        epoch.duration(to: clock.now)
    }

    /// Runs `body` under the lock, then publishes its transitions outside the lock.
    ///
    /// Before `body` the machine absorbs what the gate counted; after it, the gate is
    /// republished if the machine changed what calls may decide without the lock.
    @discardableResult
    func withMachine<Result: Sendable>(_ body: (inout CircuitBreakerStateMachine) -> Result) -> Result {
        let (result, transitioned) = core.withLock { machine -> (Result, Bool) in
            var word = gate.load(ordering: .relaxed)
            while CircuitBreakerGate.count(word) != 0 {
                let drained = word & ~CircuitBreakerGate.countMask
                let (exchanged, original) = gate.compareExchange(expected: word, desired: drained, ordering: .relaxed)
                if exchanged {
                    machine.absorb(gateWord: word)
                    word = drained
                    break
                }
                word = original
            }
            let result = body(&machine)
            let published = machine.gateWord
            if published != word & ~CircuitBreakerGate.countMask {
                // Counted between the drain and now, under the old word: absorbed as such
                // (successes of an ended period are late).
                machine.absorb(gateWord: gate.exchange(published, ordering: .relaxed))
            }
            guard machine.hasOutput else { return (result, false) }
            let epoch = self.epoch
            let transitions = machine.takeTransitions()
            if transitions.isEmpty { return (result, true) }
            broadcaster.enqueue(
                transitions.map { transition in
                    Event(
                        from: transition.from,
                        to: transition.to,
                        reason: transition.reason,
                        instant: epoch.advanced(by: transition.at),
                        generation: UInt64(transition.generation)
                    )
                }
            )
            return (result, true)
        }
        if transitioned {
            broadcaster.deliver()
            wakeRunner()
        }
        return result
    }

    static func message(for entry: RecentFailureRing.Entry) -> String {
        if let error = entry.error { return String(describing: error) }
        switch entry.kind.base {
        case .slowCall:
            return "the call succeeded but took \(entry.duration ?? .zero), slower than the slow-call threshold"
        case .probeReclaimed:
            return "a half-open probe did not report back in time; its permit was reclaimed"
        case .activeProbeTimedOut:
            return "the active probe did not finish before its timeout"
        case .activeProbeFailed:
            return "the active probe failed"
        case .failure:
            return "the call failed"
        }
    }
}
