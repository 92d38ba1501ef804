/// Why a ``CircuitBreaker`` changed state.
///
/// A struct over a private enum so that reasons can be added without breaking
/// users. Forced transitions carry the caller's text in ``detail``.
///
/// ```swift
/// for await event in breaker.makeEventStream() where event.reason == .consecutiveFailures {
///     pageSomeone(event)
/// }
/// ```
public struct CircuitBreakerTransitionReason: Sendable, Hashable, CustomStringConvertible {
    @usableFromInline
    enum Base: UInt8, Sendable {
        case consecutiveFailures
        case failureRate
        case openDurationElapsed
        case successThresholdReached
        case probeFailed
        case probeReclaimed
        case activeProbeSucceeded
        case activeProbeFailed
        case forcedOpen
        case forcedClosed
        case forcedStateExpired
        case reset
        case recoveryVerified
    }

    @usableFromInline
    let base: Base

    /// Free text given by the caller of a forced transition; `nil` otherwise.
    public let detail: String?

    init(_ base: Base, detail: String? = nil) {
        self.base = base
        self.detail = detail
    }

    /// CLOSED → OPEN: ``CircuitBreakerConfiguration/failureThreshold`` consecutive failures.
    public static var consecutiveFailures: Self { Self(.consecutiveFailures) }
    /// CLOSED → OPEN: the failure rate over the rolling window reached
    /// ``CircuitBreakerConfiguration/failureRateThreshold``.
    public static var failureRate: Self { Self(.failureRate) }
    /// OPEN → HALF_OPEN: the open duration is up.
    public static var openDurationElapsed: Self { Self(.openDurationElapsed) }
    /// HALF_OPEN → CLOSED: ``CircuitBreakerConfiguration/successThreshold`` consecutive successes.
    public static var successThresholdReached: Self { Self(.successThresholdReached) }
    /// HALF_OPEN → OPEN: a probe failed (or was slow).
    public static var probeFailed: Self { Self(.probeFailed) }
    /// HALF_OPEN → OPEN: a probe never reported back and its permit was reclaimed.
    public static var probeReclaimed: Self { Self(.probeReclaimed) }
    /// HALF_OPEN → CLOSED: the last success needed came from the active probe.
    public static var activeProbeSucceeded: Self { Self(.activeProbeSucceeded) }
    /// HALF_OPEN → OPEN: the active probe failed or timed out.
    public static var activeProbeFailed: Self { Self(.activeProbeFailed) }
    /// Any → OPEN by ``CircuitBreaker/forceOpen(reason:until:)``.
    public static var forcedOpen: Self { Self(.forcedOpen) }
    /// Any → CLOSED by ``CircuitBreaker/forceClosed(reason:until:)``.
    public static var forcedClosed: Self { Self(.forcedClosed) }
    /// A forced state reached its expiry: forced OPEN → HALF_OPEN, forced CLOSED → CLOSED.
    public static var forcedStateExpired: Self { Self(.forcedStateExpired) }
    /// Any → CLOSED by ``CircuitBreaker/reset()``.
    public static var reset: Self { Self(.reset) }
    /// OPEN → HALF_OPEN before the open duration is up: the breaker's owner verified that the dependency
    /// answers again (``CircuitBreaker/endOpenPeriod()``).
    public static var recoveryVerified: Self { Self(.recoveryVerified) }

    /// Compares the reason only, not the ``detail`` text.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.base == rhs.base
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(base)
    }

    /// A stable snake-case name, followed by the detail text for forced transitions.
    public var description: String {
        let name: String =
            switch base {
            case .consecutiveFailures: "consecutive_failures"
            case .failureRate: "failure_rate"
            case .openDurationElapsed: "open_duration_elapsed"
            case .successThresholdReached: "success_threshold_reached"
            case .probeFailed: "probe_failed"
            case .probeReclaimed: "probe_reclaimed"
            case .activeProbeSucceeded: "active_probe_succeeded"
            case .activeProbeFailed: "active_probe_failed"
            case .forcedOpen: "forced_open"
            case .forcedClosed: "forced_closed"
            case .forcedStateExpired: "forced_state_expired"
            case .reset: "reset"
            case .recoveryVerified: "recovery_verified"
            }
        if let detail { return "\(name): \(detail)" }
        return name
    }
}
