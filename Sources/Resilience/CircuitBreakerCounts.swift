/// What a ``CircuitBreaker`` has counted since it was created: one value, kept by the state machine and handed
/// out whole in ``CircuitBreakerMetrics/counts``.
///
/// Every count only grows, ``CircuitBreaker/reset()`` included, so each can be exported as a monotonic counter.
///
/// ```swift
/// let counts = breaker.metrics.counts
/// print(counts.permitted, counts.rejected, counts.failures)
/// ```
public struct CircuitBreakerCounts: Sendable, Hashable {
    /// Calls admitted. A CLOSED call admitted without the lock is counted when it reports its outcome, so calls
    /// still in flight (or never reported) are not included.
    public var permitted = 0
    /// Calls the breaker refused with `CIRCUIT_BREAKER_OPEN`.
    public var rejected = 0
    /// Calls the breaker refused with `CIRCUIT_BREAKER_THROTTLING` (HALF_OPEN, not among the probes).
    public var throttled = 0
    /// Admitted calls whose outcome was ignored.
    public var ignored = 0
    /// Outcomes that arrived after their state period had ended (they moved nothing).
    public var lateOutcomes = 0
    /// Successes (slow successes are failures).
    public var successes = 0
    /// Failures, slow calls and reclaimed probes included.
    public var failures = 0
    /// Slow calls.
    public var slowCalls = 0
    /// Transitions.
    public var stateChanges = 0

    public init() {}
}
