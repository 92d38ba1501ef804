/// A state change of a ``CircuitBreaker``.
///
/// Delivered, in order, to every stream made by ``CircuitBreaker/makeEventStream()`` and to
/// the `onTransition` handler, and logged once.
///
/// ```swift
/// for await event in breaker.makeEventStream() {
///     print("\(event.from) -> \(event.to) because \(event.reason)")
/// }
/// ```
public struct CircuitBreakerEvent: Sendable, Hashable {
    /// A point in time on the continuous clock.
    public typealias Instant = ContinuousClock.Instant

    /// The state before.
    public let from: CircuitBreakerState
    /// The state after.
    public let to: CircuitBreakerState
    /// Why it changed.
    public let reason: CircuitBreakerTransitionReason
    /// When the breaker made the change (for a lazy OPEN → HALF_OPEN: when it noticed).
    public let instant: Instant
    /// The number of the state period that starts here; it grows by one per transition.
    public let generation: UInt64

    /// Creates an event (the breaker does; tests of code that consumes events may too).
    ///
    /// ```swift
    /// let event = CircuitBreakerEvent(from: .closed, to: .open, reason: .consecutiveFailures,
    ///                                 instant: clock.now, generation: 1)
    /// ```
    ///
    /// - Parameters:
    ///   - from: The state before.
    ///   - to: The state after.
    ///   - reason: Why it changed.
    ///   - instant: When.
    ///   - generation: The new state period's number.
    public init(
        from: CircuitBreakerState,
        to: CircuitBreakerState,
        reason: CircuitBreakerTransitionReason,
        instant: Instant,
        generation: UInt64
    ) {
        self.from = from
        self.to = to
        self.reason = reason
        self.instant = instant
        self.generation = generation
    }
}
