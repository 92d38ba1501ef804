/// The state of a ``CircuitBreaker``.
///
/// The breaker moves between three states:
///
/// ```
/// CLOSED    --failures exceed the threshold-->          OPEN
/// OPEN      --open duration elapsed-->                  HALF_OPEN
/// HALF_OPEN --successThreshold consecutive successes--> CLOSED
/// HALF_OPEN --any failure-->                            OPEN
/// ```
///
/// A forced state (``CircuitBreaker/forceOpen(reason:until:)``,
/// ``CircuitBreaker/forceClosed(reason:until:)``) reports as ``open`` or ``closed``;
/// ``CircuitBreakerMetrics/isForced`` tells the two apart.
///
/// ```swift
/// if breaker.state == .open { serveFromFallback() }
/// ```
public enum CircuitBreakerState: Sendable, Hashable, CustomStringConvertible {
    /// Every call is admitted; failures are counted.
    case closed
    /// Every call is rejected with ``CircuitBreakerError/Code/open`` until the open duration is up.
    case open
    /// A share of calls is admitted as probes; the rest are throttled.
    case halfOpen

    /// The stable upper-case name: `CLOSED`, `OPEN` or `HALF_OPEN`.
    public var description: String {
        switch self {
        case .closed: "CLOSED"
        case .open: "OPEN"
        case .halfOpen: "HALF_OPEN"
        }
    }

    /// The stable lower-case name for JSON, health endpoints and metric labels: `closed`, `open` or `half_open`.
    public var name: String {
        switch self {
        case .closed: "closed"
        case .open: "open"
        case .halfOpen: "half_open"
        }
    }

    /// The value of a state gauge such as `cache_circuit_breaker_state`: 0 closed, 1 half-open, 2 open.
    public var gaugeValue: Int {
        switch self {
        case .closed: 0
        case .halfOpen: 1
        case .open: 2
        }
    }
}
