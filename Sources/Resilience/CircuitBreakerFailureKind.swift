/// Why an outcome was recorded as a failure, as shown in ``CircuitBreakerMetrics/recentFailures``.
///
/// A struct over a private enum so that kinds can be added without breaking users.
///
/// ```swift
/// let slow = breaker.metrics.recentFailures.filter { $0.kind == .slowCall }.count
/// ```
public struct CircuitBreakerFailureKind: Sendable, Hashable, CustomStringConvertible {
    @usableFromInline
    enum Base: UInt8, Sendable {
        case failure
        case slowCall
        case probeReclaimed
        case activeProbeFailed
        case activeProbeTimedOut
    }

    @usableFromInline
    let base: Base

    @inlinable
    init(_ base: Base) {
        self.base = base
    }

    /// The call threw an error that the classifier counted as a failure.
    public static var failure: Self { Self(.failure) }
    /// The call succeeded but took longer than ``CircuitBreakerConfiguration/slowCallThreshold``.
    public static var slowCall: Self { Self(.slowCall) }
    /// A half-open probe never reported back within ``CircuitBreakerConfiguration/probeReclaimAfter``.
    public static var probeReclaimed: Self { Self(.probeReclaimed) }
    /// The owner's ``CircuitBreakerConfiguration/activeProbe`` threw.
    public static var activeProbeFailed: Self { Self(.activeProbeFailed) }
    /// The owner's ``CircuitBreakerConfiguration/activeProbe`` outlived
    /// ``CircuitBreakerConfiguration/activeProbeTimeout``.
    public static var activeProbeTimedOut: Self { Self(.activeProbeTimedOut) }

    /// A stable snake-case name, e.g. `slow_call`.
    public var description: String {
        switch base {
        case .failure: "failure"
        case .slowCall: "slow_call"
        case .probeReclaimed: "probe_reclaimed"
        case .activeProbeFailed: "active_probe_failed"
        case .activeProbeTimedOut: "active_probe_timed_out"
        }
    }
}
