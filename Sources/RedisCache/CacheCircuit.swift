import Resilience

/// The circuit breaker of a ``ResilientCache``, as a service sees it: state, metrics, events and manual control.
///
/// A narrow view: the breaker's lifecycle and its permits belong to the cache, so they are not reachable here.
///
/// Over a cluster the cache has one breaker per shard, and this view speaks for all of them: the state and metrics
/// are those of the shard in the worst state, the event stream carries every shard's transitions (each event's
/// `breakerName` ends in its shard), and forcing or resetting applies to every shard known at the time.
///
/// ```swift
/// cache.circuit.forceOpen(reason: "redis maintenance", until: .now.advanced(by: .seconds(600)))
/// for await event in cache.circuit.makeEventStream() {
///     logger.warning("cache circuit \(event.from) -> \(event.to): \(event.reason)")
/// }
/// ```
public struct CacheCircuit: Sendable {
    let units: RecoveryUnits

    private var breakers: [CircuitBreaker] { units.all.map(\.breaker) }

    /// The current state (over a cluster, the worst shard's: open, then half-open, then closed).
    public var state: CircuitBreakerState {
        breakers.map(\.state).max { $0.gaugeValue < $1.gaugeValue }!
    }

    /// A snapshot of the breaker's state and counters (over a cluster, the worst shard's).
    public var metrics: CircuitBreakerMetrics {
        breakers.map(\.metrics).max { $0.state.gaugeValue < $1.state.gaugeValue }!
    }

    /// A new stream of every transition from now on, in order per breaker; it finishes when the cache's
    /// ``ResilientCache/run()`` returns. Over a cluster, shards that appear later are not in it.
    public func makeEventStream() -> AsyncStream<CircuitBreakerEvent> {
        let breakers = self.breakers
        if breakers.count == 1 { return breakers[0].makeEventStream() }
        let (stream, continuation) = AsyncStream<CircuitBreakerEvent>.makeStream()
        let streams = breakers.map { $0.makeEventStream() }
        let forwarding = Task {
            await withTaskGroup(of: Void.self) { group in
                for events in streams {
                    group.addTask { for await event in events { continuation.yield(event) } }
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in forwarding.cancel() }
        return stream
    }

    /// Forces the circuit OPEN: every call degrades without touching the backend, and the cache does not probe,
    /// until ``reset()`` or `until` (a maintenance window that ends by itself).
    public func forceOpen(reason: String? = nil, until: ContinuousClock.Instant? = nil) {
        for breaker in breakers { breaker.forceOpen(reason: reason, until: until) }
    }

    /// Forces the circuit CLOSED: every call goes to the backend and no failure opens it, until ``reset()`` or
    /// `until`.
    public func forceClosed(reason: String? = nil, until: ContinuousClock.Instant? = nil) {
        for breaker in breakers { breaker.forceClosed(reason: reason, until: until) }
    }

    /// Back to CLOSED with fresh counts, releasing any forced state.
    public func reset() {
        for breaker in breakers { breaker.reset() }
    }
}
