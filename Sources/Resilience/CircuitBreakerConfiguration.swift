/// The settings of a ``CircuitBreaker``.
///
/// The defaults: open after 5 consecutive failures, stay open 60 s, close after 3
/// consecutive half-open successes, admit half of the calls while HALF_OPEN. Beyond
/// those: a failure rate over a rolling window, slow calls counted as failures, an
/// open duration that grows on repeated re-opens, a cap on concurrent probes,
/// reclaiming probes that never report, and an active probe.
///
/// Invalid values are rejected with a clear message: the initializer and ``CircuitBreaker``'s
/// initializer stop the process with a `precondition` (a configuration is a programming
/// decision, not a runtime input). Call ``validate()`` first to get a thrown
/// ``ValidationError`` instead, e.g. for values read from a file.
///
/// ```swift
/// var configuration = CircuitBreakerConfiguration(openDuration: .seconds(30))
/// configuration.slowCallThreshold = .milliseconds(250)
/// configuration.activeProbe = { try await redis.ping(timeout: .seconds(1)) }
/// try configuration.validate()
/// let breaker = CircuitBreaker(configuration: configuration, logger: logger)
/// ```
public struct CircuitBreakerConfiguration: Sendable {
    /// How the open duration grows when the breaker re-opens from HALF_OPEN.
    ///
    /// The *n*-th consecutive re-open stays open for
    /// `min(openDuration × multiplier^n, maxOpenDuration)`, then jitter multiplies that by a
    /// factor drawn uniformly from `[1 − jitter, 1 + jitter]`, and the result is capped at
    /// `maxOpenDuration` again. Reaching CLOSED (or ``CircuitBreaker/reset()``) starts over at
    /// `openDuration`. The random numbers come from the generator given to the breaker, so a
    /// seeded generator makes the durations reproducible.
    ///
    /// ```swift
    /// let backoff = CircuitBreakerConfiguration.OpenBackoff(
    ///     multiplier: 2,
    ///     maxOpenDuration: .seconds(300),
    ///     jitter: 0.1
    /// )
    /// ```
    public struct OpenBackoff: Sendable, Hashable {
        /// Growth per consecutive re-open; `1` keeps the open duration fixed. Default `2`.
        public var multiplier: Double
        /// The cap on the open duration. Default 600 s.
        public var maxOpenDuration: Duration
        /// Fraction of random spread, in `0..<1`. Default `0` (deterministic); fleets of
        /// instances may want `0.1`–`0.2` so they do not probe a recovering server in step.
        public var jitter: Double

        /// Creates a backoff policy.
        ///
        /// ```swift
        /// let noGrowth = CircuitBreakerConfiguration.OpenBackoff(multiplier: 1)
        /// ```
        ///
        /// - Parameters:
        ///   - multiplier: Growth per consecutive re-open, at least `1`.
        ///   - maxOpenDuration: The cap, at least ``CircuitBreakerConfiguration/openDuration``.
        ///   - jitter: Random spread in `0..<1`.
        public init(multiplier: Double = 2, maxOpenDuration: Duration = .seconds(600), jitter: Double = 0) {
            self.multiplier = multiplier
            self.maxOpenDuration = maxOpenDuration
            self.jitter = jitter
        }
    }

    /// A configuration value out of its range.
    ///
    /// ```swift
    /// do { try configuration.validate() } catch { print(error.message) }
    /// ```
    public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
        /// Which setting is wrong and what is allowed.
        public let message: String

        public var description: String { "invalid CircuitBreakerConfiguration: \(message)" }
    }

    /// Consecutive failures in CLOSED that open the breaker. Default `5`: the 5th consecutive failure opens.
    public var failureThreshold: Int
    /// Consecutive successes in HALF_OPEN that close the breaker. Default `3`.
    public var successThreshold: Int
    /// How long the breaker stays OPEN the first time (`timeout_seconds` in other breakers). Default 60 s.
    public var openDuration: Duration
    /// The span of the rolling window that the failure rate is computed over. Default 300 s.
    public var rollingWindow: Duration
    /// How many time buckets the rolling window is made of. Default `10` (30 s each by default).
    ///
    /// The window moves a bucket at a time: it covers between
    /// `rollingWindow − rollingWindow / rollingWindowBuckets` and `rollingWindow` of history.
    public var rollingWindowBuckets: Int
    /// Whether HALF_OPEN admits only a ``recoveryFactor`` share of calls. Default `true`.
    ///
    /// With `false`, HALF_OPEN admits every call while fewer than ``maxHalfOpenProbes`` are in flight.
    public var gradualRecovery: Bool
    /// The share of calls admitted in HALF_OPEN, in `(0, 1]`. Default `0.5`.
    ///
    /// A deterministic counter, not a coin: `0.5` admits exactly every other call (the first call
    /// is admitted), `0.25` one call in four, `1.0` every call; all within ``maxHalfOpenProbes``.
    public var recoveryFactor: Double
    /// The failure rate over the rolling window, in `(0, 1]`, that opens the breaker; `nil` turns it off.
    /// Default `0.5`. Only evaluated once ``minimumCalls`` calls are in the window.
    public var failureRateThreshold: Double?
    /// The number of calls the rolling window must hold before the failure rate can open the breaker. Default `100`.
    public var minimumCalls: Int
    /// A success slower than this counts as a failure of kind ``CircuitBreakerFailureKind/slowCall``;
    /// `nil` (the default) turns it off.
    ///
    /// Turning it on costs two clock reads per call, to measure the duration.
    public var slowCallThreshold: Duration?
    /// How the open duration grows on consecutive re-opens. Default: ×2, capped at 600 s, no jitter.
    public var openBackoff: OpenBackoff
    /// The most half-open probes in flight at once. Default `3`.
    public var maxHalfOpenProbes: Int
    /// How long a half-open probe may stay unreported before its permit is reclaimed. Default 30 s.
    ///
    /// A reclaimed probe frees its slot and **counts as a failure** (kind
    /// ``CircuitBreakerFailureKind/probeReclaimed``), which re-opens the breaker: a probe that
    /// hangs is evidence that the dependency hangs. HALF_OPEN can therefore never get stuck.
    /// Its late outcome, if it ever comes, is ignored (it belongs to an older generation).
    public var probeReclaimAfter: Duration
    /// A health check the breaker runs itself while recovering, e.g. a Redis `PING`; `nil` (the default) turns it off.
    ///
    /// While ``CircuitBreaker/run()`` is running, when the OPEN time is up the breaker moves to
    /// HALF_OPEN and calls this closure, even if no user call arrives; then again every
    /// ``activeProbeInterval`` while HALF_OPEN. A return counts as a half-open success; a thrown
    /// error (as classified by ``classifier``) or a timeout re-opens the breaker. The probe takes a
    /// probe slot like any other half-open call.
    public var activeProbe: (@Sendable () async throws -> Void)?
    /// The pause between two active probes while HALF_OPEN. Default 1 s.
    public var activeProbeInterval: Duration
    /// The deadline of one active probe; a probe still running then counts as a failure. Default 5 s.
    public var activeProbeTimeout: Duration
    /// How many recent failures ``CircuitBreakerMetrics/recentFailures`` keeps. Default `50`; `0` keeps none.
    public var recentFailuresCapacity: Int
    /// Decides whether an error counts as a failure or is ignored.
    ///
    /// Default: ``CircuitBreakerClassification/default(_:)`` (`CancellationError` is ignored,
    /// everything else is a failure).
    public var classifier: @Sendable (any Error) -> CircuitBreakerClassification

    /// Creates a configuration; every parameter has the documented default.
    ///
    /// ```swift
    /// let configuration = CircuitBreakerConfiguration(failureThreshold: 3, openDuration: .seconds(10))
    /// ```
    ///
    /// - Parameters:
    ///   - failureThreshold: Consecutive failures that open the breaker, at least 1.
    ///   - successThreshold: Consecutive half-open successes that close it, at least 1.
    ///   - openDuration: The first open duration, positive.
    ///   - rollingWindow: The failure-rate window, positive.
    ///   - rollingWindowBuckets: Buckets in the window, 1 through 3600.
    ///   - gradualRecovery: Whether HALF_OPEN admits only a `recoveryFactor` share.
    ///   - recoveryFactor: The share admitted in HALF_OPEN, in `(0, 1]`.
    ///   - failureRateThreshold: The rate that opens, in `(0, 1]`, or `nil`.
    ///   - minimumCalls: Calls needed before the rate counts, at least 1.
    ///   - slowCallThreshold: A positive duration, or `nil`.
    ///   - openBackoff: Growth of the open duration on re-opens.
    ///   - maxHalfOpenProbes: Probes in flight at most, at least 1.
    ///   - probeReclaimAfter: Bound on an unreported probe, positive.
    ///   - activeProbe: The owner's health check, or `nil`.
    ///   - activeProbeInterval: Pause between active probes, positive.
    ///   - activeProbeTimeout: Deadline of one active probe, positive.
    ///   - recentFailuresCapacity: Size of the recent-failures ring, at least 0.
    ///   - classifier: Maps an error to failure or ignored.
    public init(
        failureThreshold: Int = 5,
        successThreshold: Int = 3,
        openDuration: Duration = .seconds(60),
        rollingWindow: Duration = .seconds(300),
        rollingWindowBuckets: Int = 10,
        gradualRecovery: Bool = true,
        recoveryFactor: Double = 0.5,
        failureRateThreshold: Double? = 0.5,
        minimumCalls: Int = 100,
        slowCallThreshold: Duration? = nil,
        openBackoff: OpenBackoff = OpenBackoff(),
        maxHalfOpenProbes: Int = 3,
        probeReclaimAfter: Duration = .seconds(30),
        activeProbe: (@Sendable () async throws -> Void)? = nil,
        activeProbeInterval: Duration = .seconds(1),
        activeProbeTimeout: Duration = .seconds(5),
        recentFailuresCapacity: Int = 50,
        classifier: @escaping @Sendable (any Error) -> CircuitBreakerClassification = CircuitBreakerClassification
            .default
    ) {
        self.failureThreshold = failureThreshold
        self.successThreshold = successThreshold
        self.openDuration = openDuration
        self.rollingWindow = rollingWindow
        self.rollingWindowBuckets = rollingWindowBuckets
        self.gradualRecovery = gradualRecovery
        self.recoveryFactor = recoveryFactor
        self.failureRateThreshold = failureRateThreshold
        self.minimumCalls = minimumCalls
        self.slowCallThreshold = slowCallThreshold
        self.openBackoff = openBackoff
        self.maxHalfOpenProbes = maxHalfOpenProbes
        self.probeReclaimAfter = probeReclaimAfter
        self.activeProbe = activeProbe
        self.activeProbeInterval = activeProbeInterval
        self.activeProbeTimeout = activeProbeTimeout
        self.recentFailuresCapacity = recentFailuresCapacity
        self.classifier = classifier
        self.preconditionValid()
    }

    /// Checks every setting and throws the first one out of range.
    ///
    /// The initializers check the same rules with a `precondition`; use this to reject a bad
    /// configuration (e.g. read from a file) without stopping the process.
    ///
    /// ```swift
    /// var configuration = CircuitBreakerConfiguration()
    /// configuration.recoveryFactor = 0
    /// #expect(throws: CircuitBreakerConfiguration.ValidationError.self) { try configuration.validate() }
    /// ```
    ///
    /// - Throws: ``ValidationError`` naming the setting and its allowed range.
    public func validate() throws(ValidationError) {
        func check(_ condition: Bool, _ message: @autoclosure () -> String) throws(ValidationError) {
            if !condition { throw ValidationError(message: message()) }
        }
        try check(failureThreshold >= 1, "failureThreshold must be at least 1, got \(failureThreshold)")
        try check(successThreshold >= 1, "successThreshold must be at least 1, got \(successThreshold)")
        try check(openDuration > .zero, "openDuration must be positive, got \(openDuration)")
        try check(rollingWindow > .zero, "rollingWindow must be positive, got \(rollingWindow)")
        try check(
            (1...3600).contains(rollingWindowBuckets),
            "rollingWindowBuckets must be in 1...3600, got \(rollingWindowBuckets)"
        )
        try check(
            rollingWindow / rollingWindowBuckets >= .microseconds(1),
            "rollingWindow / rollingWindowBuckets must be at least 1 µs, got \(rollingWindow / rollingWindowBuckets)"
        )
        try check(
            recoveryFactor > 0 && recoveryFactor <= 1,
            "recoveryFactor must be in (0, 1], got \(recoveryFactor)"
        )
        if let failureRateThreshold {
            try check(
                failureRateThreshold > 0 && failureRateThreshold <= 1,
                "failureRateThreshold must be in (0, 1] or nil, got \(failureRateThreshold)"
            )
        }
        try check(minimumCalls >= 1, "minimumCalls must be at least 1, got \(minimumCalls)")
        if let slowCallThreshold {
            try check(slowCallThreshold > .zero, "slowCallThreshold must be positive or nil, got \(slowCallThreshold)")
        }
        try check(
            openBackoff.multiplier >= 1 && openBackoff.multiplier.isFinite,
            "openBackoff.multiplier must be a finite number of at least 1, got \(openBackoff.multiplier)"
        )
        try check(
            openBackoff.maxOpenDuration >= openDuration,
            "openBackoff.maxOpenDuration (\(openBackoff.maxOpenDuration)) must be at least "
                + "openDuration (\(openDuration))"
        )
        try check(
            openBackoff.jitter >= 0 && openBackoff.jitter < 1,
            "openBackoff.jitter must be in 0..<1, got \(openBackoff.jitter)"
        )
        try check(maxHalfOpenProbes >= 1, "maxHalfOpenProbes must be at least 1, got \(maxHalfOpenProbes)")
        try check(probeReclaimAfter > .zero, "probeReclaimAfter must be positive, got \(probeReclaimAfter)")
        try check(activeProbeInterval > .zero, "activeProbeInterval must be positive, got \(activeProbeInterval)")
        try check(activeProbeTimeout > .zero, "activeProbeTimeout must be positive, got \(activeProbeTimeout)")
        try check(
            recentFailuresCapacity >= 0,
            "recentFailuresCapacity must be at least 0, got \(recentFailuresCapacity)"
        )
    }

    func preconditionValid(file: StaticString = #fileID, line: UInt = #line) {
        do {
            try validate()
        } catch {
            preconditionFailure(error.description, file: file, line: line)
        }
    }
}
