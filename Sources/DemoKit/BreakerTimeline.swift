import Resilience
import Synchronization

/// A change of the breaker's state during the run.
package struct BreakerTransition: Sendable, Hashable {
    /// When, counted from the start of the run.
    package var at: Duration
    package var from: CircuitBreakerState
    package var to: CircuitBreakerState
    /// Why, as the breaker says it (`consecutive_failures`, `active_probe_succeeded`…).
    package var reason: String
    /// For a transition to OPEN, the failure the breaker saw last, e.g. a timeout or a refused connection.
    package var lastFailure: String?
}

extension BreakerTransition {
    /// The reason, and for an opening the last failure (cut to a readable length).
    var explanation: String {
        guard let lastFailure else { return reason }
        let cut = lastFailure.count > 100 ? lastFailure.prefix(99) + "…" : Substring(lastFailure)
        return "\(reason); last failure: \(cut)"
    }
}

/// Follows the breaker's event stream and keeps every transition with its time in the run.
final class BreakerTimeline: Sendable {
    private let transitions = Mutex<[BreakerTransition]>([])

    /// Records the events of `stream` until it finishes (the cache's `shutdown()` finishes it), handing each to
    /// `onTransition` as well.
    ///
    /// - Parameter lastFailure: the breaker's most recent failure, asked for on each transition to OPEN.
    func follow(
        _ stream: AsyncStream<CircuitBreakerEvent>,
        epoch: ContinuousClock.Instant,
        lastFailure: @Sendable () -> String?,
        onTransition: @Sendable (BreakerTransition) -> Void
    ) async {
        for await event in stream {
            let transition = BreakerTransition(
                at: epoch.duration(to: event.instant),
                from: event.from,
                to: event.to,
                reason: event.reason.description,
                lastFailure: event.to == .open ? lastFailure() : nil
            )
            transitions.withLock { $0.append(transition) }
            onTransition(transition)
        }
    }

    var recorded: [BreakerTransition] { transitions.withLock { $0 } }
}

extension [BreakerTransition] {
    /// The breaker's state at `time`: CLOSED before the first transition.
    func state(at time: Duration) -> CircuitBreakerState {
        var state = CircuitBreakerState.closed
        for transition in self where transition.at <= time {
            state = transition.to
        }
        return state
    }
}
