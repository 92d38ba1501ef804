import Resilience

/// The circuit breaker of a ``ResilientCache``, as a service sees it: state, metrics, events and manual control.
///
/// A narrow view: the breaker's lifecycle and its permits belong to the cache, so they are not reachable here.
///
/// ```swift
/// cache.circuit.forceOpen(reason: "redis maintenance", until: .now.advanced(by: .seconds(600)))
/// for await event in cache.circuit.makeEventStream() {
///     logger.warning("cache circuit \(event.from) -> \(event.to): \(event.reason)")
/// }
/// ```
public struct CacheCircuit: Sendable {
    let breaker: CircuitBreaker

    /// The current state.
    public var state: CircuitBreakerState { breaker.state }

    /// A snapshot of the breaker's state and counters.
    public var metrics: CircuitBreakerMetrics { breaker.metrics }

    /// A new stream of every transition from now on, in order; it finishes when the cache's ``ResilientCache/run()``
    /// returns.
    public func makeEventStream() -> AsyncStream<CircuitBreakerEvent> { breaker.makeEventStream() }

    /// Forces the circuit OPEN: every call degrades without touching the backend, and the cache does not probe,
    /// until ``reset()`` or `until` (a maintenance window that ends by itself).
    public func forceOpen(reason: String? = nil, until: ContinuousClock.Instant? = nil) {
        breaker.forceOpen(reason: reason, until: until)
    }

    /// Forces the circuit CLOSED: every call goes to the backend and no failure opens it, until ``reset()`` or
    /// `until`.
    public func forceClosed(reason: String? = nil, until: ContinuousClock.Instant? = nil) {
        breaker.forceClosed(reason: reason, until: until)
    }

    /// Back to CLOSED with fresh counts, releasing any forced state.
    public func reset() { breaker.reset() }
}
