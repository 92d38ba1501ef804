import Resilience

/// The circuit breaker of a ``ResilientCache``, as a service sees it: state, metrics, events and manual control.
///
/// A narrow view: the breaker's lifecycle and its permits belong to the cache, so they are not reachable here.
///
/// Over a cluster the cache has one breaker per shard, and this view speaks for all of them: the state and metrics
/// are those of the shard in the worst state, the event streams carry every shard's transitions
/// (``makeShardEventStream()`` with the shard of each), and forcing or resetting applies to every shard, also to
/// shards the cache meets later.
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
    /// ``ResilientCache/run()`` returns. Over a cluster it carries every shard's transitions, also of shards the
    /// cache meets later; ``makeShardEventStream()`` says which shard each one is of.
    public func makeEventStream() -> AsyncStream<CircuitBreakerEvent> {
        units.isSharded ? units.events.makeStream() : units.all[0].breaker.makeEventStream()
    }

    /// ``makeEventStream()`` with each event's shard: `nil` over a single backend; over a cluster the shard's id
    /// (the `shard` label of the metrics), or `"unassigned"` for keys whose shard was not known yet.
    ///
    /// ```swift
    /// for await change in cache.circuit.makeShardEventStream() {
    ///     logger.warning("shard \(change.shard ?? "-"): \(change.event.from) -> \(change.event.to)")
    /// }
    /// ```
    public func makeShardEventStream() -> AsyncStream<CacheCircuitEvent> {
        units.events.makeShardStream()
    }

    /// Forces the circuit OPEN: every call degrades without touching the backend, and the cache does not probe,
    /// until ``reset()`` or `until` (a maintenance window that ends by itself).
    public func forceOpen(reason: String? = nil, until: ContinuousClock.Instant? = nil) {
        units.force(.open(reason: reason, until: until))
    }

    /// Forces the circuit CLOSED: every call goes to the backend and no failure opens it, until ``reset()`` or
    /// `until`.
    public func forceClosed(reason: String? = nil, until: ContinuousClock.Instant? = nil) {
        units.force(.closed(reason: reason, until: until))
    }

    /// Back to CLOSED with fresh counts, releasing any forced state.
    public func reset() {
        units.force(nil)
    }
}

/// A transition of one of a cache's breakers, and whose it is.
public struct CacheCircuitEvent: Sendable {
    /// `nil` over a single backend; over a cluster the shard's id, or `"unassigned"`.
    public let shard: String?
    public let event: CircuitBreakerEvent
}
