import Synchronization

extension CircuitBreaker {
    /// Permission for one call, returned by ``CircuitBreaker/acquire()``.
    ///
    /// A small struct (no allocation). Report the call's outcome exactly once with
    /// ``succeeded()``, ``failed(_:)`` or ``ignored()``. A report that comes after the
    /// breaker changed state (a newer generation) moves nothing; a duplicate report of a
    /// half-open probe is ignored, but in CLOSED a duplicate would be counted twice.
    ///
    /// ```swift
    /// let permit = try breaker.acquire()
    /// do {
    ///     try await redis.set(key, value)
    ///     permit.succeeded()
    /// } catch {
    ///     permit.failed(error)
    ///     throw error
    /// }
    /// ```
    public struct Permit: Sendable {
        @usableFromInline
        let breaker: CircuitBreaker
        @usableFromInline
        let ticket: CircuitBreakerStateMachine.Ticket
        /// When the call started, if slow calls are detected.
        @usableFromInline
        let startedAt: Duration?

        @inlinable
        init(breaker: CircuitBreaker, ticket: CircuitBreakerStateMachine.Ticket, startedAt: Duration?) {
            self.breaker = breaker
            self.ticket = ticket
            self.startedAt = startedAt
        }

        /// The state period (generation) the call was admitted in.
        public var generation: UInt64 { UInt64(ticket.generation) }

        /// Whether this permit is a half-open probe.
        public var isProbe: Bool { ticket.probeSlot != 0 }

        /// Reports that the call succeeded.
        ///
        /// In CLOSED this is one compare-and-swap on an atomic word, without the lock or a clock
        /// read, except once per batch of successes (the gate word). With
        /// ``CircuitBreakerConfiguration/slowCallThreshold`` set, it reads the clock and a call
        /// slower than the threshold counts as a failure.
        ///
        /// ```swift
        /// permit.succeeded()
        /// ```
        @inlinable
        public func succeeded() {
            if ticket.admittedWithoutLock, startedAt == nil,
                let batchFull = breaker.countSuccess(generation: ticket.generation)
            {
                if batchFull { breaker.absorbSuccessBatch() }
                return
            }
            succeededSlowly()
        }

        /// The rest of ``succeeded()``: out of line, so that the fast path above stays small.
        @inlinable
        @inline(never)
        func succeededSlowly() {
            let now = breaker.elapsed()
            breaker.recordSuccess(ticket: ticket, duration: startedAt.map { now - $0 }, at: now)
        }

        /// Reports that the call failed with `error`.
        ///
        /// ``CircuitBreakerConfiguration/classifier`` decides whether it counts as a failure, is
        /// ignored (by default a `CancellationError` is), or proves the dependency answered (a success).
        ///
        /// ```swift
        /// permit.failed(error)
        /// ```
        ///
        /// - Parameters:
        ///   - error: What the call threw.
        public func failed(_ error: any Error) {
            breaker.recordError(error, as: breaker.configuration.classifier(error), ticket: ticket)
        }

        /// Reports that the call failed with `error`, which the caller has already classified (with the
        /// breaker's ``CircuitBreakerConfiguration/classifier``, so it runs once per error).
        package func failed(_ error: any Error, classifiedAs classification: CircuitBreakerClassification) {
            breaker.recordError(error, as: classification, ticket: ticket)
        }

        /// Reports that the call's outcome says nothing about the dependency's health.
        ///
        /// Frees a half-open probe slot; otherwise only counts in ``CircuitBreakerCounts/ignored``.
        ///
        /// ```swift
        /// permit.ignored()  // e.g. the value was too large to store: the caller's problem
        /// ```
        public func ignored() {
            breaker.withMachine { $0.recordIgnored(for: ticket) }
        }
    }

    @usableFromInline
    func recordSuccess(ticket: CircuitBreakerStateMachine.Ticket, duration: Duration?, at now: Duration) {
        withMachine { $0.record(.success(duration: duration), for: ticket, now: now) }
    }

    func recordError(
        _ error: any Error,
        as classification: CircuitBreakerClassification,
        ticket: CircuitBreakerStateMachine.Ticket
    ) {
        switch classification.base {
        case .ignored:
            withMachine { $0.recordIgnored(for: ticket) }
        case .failure:
            let now = elapsed()
            withMachine { $0.record(.failure(.failure, error: error), for: ticket, now: now) }
        case .success:
            let now = elapsed()
            withMachine { $0.record(.success(duration: nil), for: ticket, now: now) }
        }
    }
}
