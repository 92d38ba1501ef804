/// A snapshot of a ``CircuitBreaker``'s state and counters.
///
/// Taking one applies due timers (like reading ``CircuitBreaker/state``) and reads the clock
/// once. The cumulative ``counts`` only grow, ``CircuitBreaker/reset()`` included, so they can be
/// exported as monotonic counters.
///
/// ```swift
/// let metrics = breaker.metrics
/// gauge.record(metrics.failureRate)
/// for failure in metrics.recentFailures { print(failure.instant, failure.kind, failure.message) }
/// ```
public struct CircuitBreakerMetrics: Sendable {
    /// A point in time on the continuous clock.
    public typealias Instant = ContinuousClock.Instant

    /// One entry of ``recentFailures``.
    public struct RecentFailure: Sendable {
        /// When the failure was recorded.
        public var instant: Instant
        /// What kind of failure it was.
        public var kind: CircuitBreakerFailureKind
        /// The error's description, or a description of the kind (e.g. the slow call's duration).
        public var message: String
        /// The error, when the call threw one.
        public var error: (any Error)?
        /// The call's duration, for a slow call.
        public var duration: Duration?
    }

    /// When the snapshot was taken.
    public var instant: Instant
    /// The current state (a forced state reports as OPEN or CLOSED).
    public var state: CircuitBreakerState
    /// Whether the state was forced by ``CircuitBreaker/forceOpen(reason:until:)`` or
    /// ``CircuitBreaker/forceClosed(reason:until:)``.
    public var isForced: Bool
    /// The reason given when the state was forced.
    public var forcedReason: String?
    /// The current state period's number.
    public var generation: UInt64
    /// Failures (slow calls included) ÷ calls in the rolling window; `0` for an empty window.
    public var failureRate: Double
    /// Slow calls ÷ calls in the rolling window; `0` for an empty window.
    public var slowCallRate: Double
    /// Calls with an outcome (success or failure, not ignored) in the rolling window.
    public var callsInWindow: Int
    /// Failures in the rolling window, slow calls included.
    public var failuresInWindow: Int
    /// Slow calls in the rolling window.
    public var slowCallsInWindow: Int
    /// The most recent failures, oldest first, at most ``CircuitBreakerConfiguration/recentFailuresCapacity``.
    public var recentFailures: [RecentFailure]
    /// How long the breaker has been in its current state.
    public var timeInCurrentState: Duration
    /// Consecutive failures in the current state period.
    public var consecutiveFailures: Int
    /// Consecutive successes in the current state period.
    public var consecutiveSuccesses: Int
    /// How many times in a row the breaker re-opened from HALF_OPEN (drives the open backoff).
    public var consecutiveReopens: Int
    /// When an OPEN breaker lets a probe through; `nil` when not OPEN or forced open without expiry.
    public var openUntil: Instant?
    /// Half-open probes admitted and not yet reported.
    public var halfOpenProbesInFlight: Int
    /// Everything counted since the breaker was created: calls permitted, rejected and throttled, outcomes,
    /// state changes.
    public var counts: CircuitBreakerCounts
}
