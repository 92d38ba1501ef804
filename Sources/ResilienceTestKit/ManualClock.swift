import Synchronization

/// A clock whose time moves only when a test says so.
///
/// `now` starts at the given instant and changes only on ``advance(by:)`` or
/// ``advance(to:)``. ``sleep(until:tolerance:)`` suspends until the clock has been advanced
/// to the deadline (or past it) and throws `CancellationError` promptly if its task is
/// cancelled. Tests of time-based code therefore never sleep and never race the wall clock.
///
/// ```swift
/// let clock = ManualClock()
/// let breaker = CircuitBreaker(clock: clock, logger: logger)
/// // ... trip the breaker ...
/// clock.advance(by: .seconds(60))
/// #expect(breaker.state == .halfOpen)
/// ```
public final class ManualClock: Clock, Sendable {
    /// A point in a ``ManualClock``'s time: an instant of the continuous clock, so that code whose public face
    /// speaks in `ContinuousClock.Instant` (the breaker, the cache) can run on a manual clock in tests.
    public typealias Instant = ContinuousClock.Instant

    /// The instant every manual clock counts its offsets from: fixed once per process.
    public static let origin = ContinuousClock.now

    private enum Sleeper {
        /// Registered, continuation not yet installed.
        case pending
        /// Cancelled before the continuation was installed.
        case cancelled
        case waiting(deadline: Instant, continuation: CheckedContinuation<Void, any Error>)
    }

    private struct State {
        var now: Instant
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
        var sleeperWatchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []

        var waitingCount: Int {
            sleepers.values.reduce(0) { count, sleeper in
                if case .waiting = sleeper { return count + 1 }
                return count
            }
        }

        /// Removes the sleepers whose deadline is reached, earliest first.
        mutating func takeDue() -> [CheckedContinuation<Void, any Error>] {
            var due: [(Instant, UInt64, CheckedContinuation<Void, any Error>)] = []
            for (id, sleeper) in sleepers {
                if case .waiting(let deadline, let continuation) = sleeper, deadline <= now {
                    due.append((deadline, id, continuation))
                }
            }
            for entry in due { sleepers[entry.1] = nil }
            due.sort { ($0.0, $0.1) < ($1.0, $1.1) }
            return due.map(\.2)
        }

        /// Removes and returns the watchers whose count is reached.
        mutating func satisfiedWatchers() -> [CheckedContinuation<Void, Never>] {
            let waiting = waitingCount
            var satisfied: [CheckedContinuation<Void, Never>] = []
            sleeperWatchers.removeAll { watcher in
                guard waiting >= watcher.count else { return false }
                satisfied.append(watcher.continuation)
                return true
            }
            return satisfied
        }
    }

    private let state: Mutex<State>

    /// Creates a clock showing `now`.
    ///
    /// ```swift
    /// let clock = ManualClock()
    /// ```
    ///
    /// - Parameters:
    ///   - now: The initial time; ``origin`` by default.
    public init(now: Instant = ManualClock.origin) {
        self.state = Mutex(State(now: now))
    }

    /// Creates a clock that reads `offset` after ``origin``.
    ///
    /// ```swift
    /// let clock = ManualClock(offset: .seconds(1000))
    /// ```
    public convenience init(offset: Duration) {
        self.init(now: ManualClock.origin.advanced(by: offset))
    }

    /// The time since ``origin``.
    public var offset: Duration { ManualClock.origin.duration(to: now) }

    /// The current time; it moves only on ``advance(by:)`` and ``advance(to:)``.
    public var now: Instant {
        state.withLock { $0.now }
    }

    /// One nanosecond.
    public var minimumResolution: Duration {
        .nanoseconds(1)
    }

    /// Suspends until the clock has been advanced to `deadline` or past it.
    ///
    /// Returns at once if `deadline` is not in the future.
    ///
    /// ```swift
    /// try await clock.sleep(until: clock.now.advanced(by: .seconds(1)))
    /// ```
    ///
    /// - Parameters:
    ///   - deadline: When to wake up.
    ///   - tolerance: Ignored.
    /// - Throws: `CancellationError` if the task is cancelled before the deadline is reached.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try Task.checkCancellation()
        let id = state.withLock { state -> UInt64? in
            if deadline <= state.now { return nil }
            state.nextID += 1
            state.sleepers[state.nextID] = .pending
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (result, watchers) = state.withLock {
                    state -> (Result<Void, any Error>?, [CheckedContinuation<Void, Never>]) in
                    guard case .pending = state.sleepers[id] else {
                        state.sleepers[id] = nil
                        return (.failure(CancellationError()), [])
                    }
                    if deadline <= state.now {
                        state.sleepers[id] = nil
                        return (.success(()), [])
                    }
                    state.sleepers[id] = .waiting(deadline: deadline, continuation: continuation)
                    return (nil, state.satisfiedWatchers())
                }
                for watcher in watchers { watcher.resume() }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                switch state.sleepers[id] {
                case .pending:
                    state.sleepers[id] = .cancelled
                    return nil
                case .waiting(_, let continuation):
                    state.sleepers[id] = nil
                    return continuation
                case .cancelled, nil:
                    return nil
                }
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Moves the time forward by `duration` and wakes the sleepers whose deadline is reached.
    ///
    /// ```swift
    /// clock.advance(by: .seconds(60))
    /// ```
    ///
    /// - Parameters:
    ///   - duration: How far to move; must not be negative.
    public func advance(by duration: Duration) {
        precondition(duration >= .zero, "ManualClock cannot go back in time (advance(by: \(duration)))")
        let woken = state.withLock { state in
            state.now = state.now.advanced(by: duration)
            return state.takeDue()
        }
        for continuation in woken { continuation.resume() }
    }

    /// Moves the time forward to `instant` (if it is later than now) and wakes the sleepers due.
    ///
    /// ```swift
    /// clock.advance(to: deadline)
    /// ```
    ///
    /// - Parameters:
    ///   - instant: The new time.
    public func advance(to instant: Instant) {
        let woken = state.withLock { state in
            if instant > state.now { state.now = instant }
            return state.takeDue()
        }
        for continuation in woken { continuation.resume() }
    }

    /// How many tasks are suspended in ``sleep(until:tolerance:)``.
    public var sleeperCount: Int {
        state.withLock { $0.waitingCount }
    }

    /// The earliest deadline among the suspended sleepers, if any.
    public var nextDeadline: Instant? {
        state.withLock { state in
            state.sleepers.values.compactMap { sleeper -> Instant? in
                if case .waiting(let deadline, _) = sleeper { return deadline }
                return nil
            }.min()
        }
    }

    /// Suspends until at least `count` tasks are suspended in ``sleep(until:tolerance:)``.
    ///
    /// Lets a test wait until the code under test has gone to sleep before advancing the clock.
    ///
    /// ```swift
    /// Task { await breaker.run() }
    /// await clock.waitForSleepers(count: 1)
    /// clock.advance(by: .seconds(60))
    /// ```
    ///
    /// - Parameters:
    ///   - count: The number of sleepers to wait for.
    public func waitForSleepers(count: Int = 1) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.waitingCount >= count { return true }
                state.sleeperWatchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
