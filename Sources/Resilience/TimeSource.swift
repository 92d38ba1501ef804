/// Where a breaker, and anything built on it, reads the time and sleeps.
///
/// Production code uses the continuous clock and pays one branch for the indirection. Tests inject a clock whose
/// instants are the continuous clock's (`ManualClock` in `ResilienceTestKit`) through the `package` initializers
/// of ``CircuitBreaker`` and the cache, so no public type is generic over a clock.
@usableFromInline
package struct TimeSource: Sendable {
    @usableFromInline
    final class Injected: Sendable {
        @usableFromInline
        let now: @Sendable () -> ContinuousClock.Instant
        let sleep: @Sendable (ContinuousClock.Instant) async throws -> Void

        init(
            now: @escaping @Sendable () -> ContinuousClock.Instant,
            sleep: @escaping @Sendable (ContinuousClock.Instant) async throws -> Void
        ) {
            self.now = now
            self.sleep = sleep
        }
    }

    @usableFromInline
    let injected: Injected?

    /// The continuous clock.
    package static var continuous: TimeSource { TimeSource(injected: nil) }

    private init(injected: Injected?) {
        self.injected = injected
    }

    /// Reads and sleeps on `clock`.
    package init<C: Clock>(_ clock: C) where C.Instant == ContinuousClock.Instant {
        if clock is ContinuousClock {
            self.injected = nil
            return
        }
        self.injected = Injected(
            now: { clock.now },
            sleep: { try await clock.sleep(until: $0, tolerance: nil) }
        )
    }

    @inlinable
    package var now: ContinuousClock.Instant {
        if let injected { return injected.now() }
        return ContinuousClock.now
    }

    /// Sleeps until `deadline`; throws `CancellationError` when the task is cancelled.
    package func sleep(until deadline: ContinuousClock.Instant) async throws {
        if let injected { return try await injected.sleep(deadline) }
        try await ContinuousClock().sleep(until: deadline, tolerance: nil)
    }

    /// Sleeps for `duration`; throws `CancellationError` when the task is cancelled.
    package func sleep(for duration: Duration) async throws {
        try await sleep(until: now.advanced(by: duration))
    }
}
