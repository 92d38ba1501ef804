import RedisCache
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
    /// Over a cluster, the shard whose breaker it is (`"0"`, `"1"`…, `"unassigned"`); `nil` for one server.
    package var shard: String? = nil
}

extension BreakerTransition {
    /// The reason, and for an opening the last failure (cut to a readable length).
    var explanation: String {
        guard let lastFailure else { return reason }
        let cut = lastFailure.count > 100 ? lastFailure.prefix(99) + "…" : Substring(lastFailure)
        return reason.isEmpty ? "last failure: \(cut)" : "\(reason); last failure: \(cut)"
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

/// Follows each shard's breaker of a cache over a Redis Cluster, by polling ``RedisCache/ResilientCache/health()``,
/// and keeps every transition with its shard and its time in the run.
///
/// The cache's merged event stream says neither which shard a transition belongs to nor anything of shards learnt
/// after it was made (the cache learns the topology at its first call), so the states are read instead. A shard's
/// `secondsInState` dates each change exactly; a state shorter than the polling interval (a quick HALF_OPEN) can be
/// missed, and the change is then recorded from the state before it.
final class ShardTimeline: Sendable {
    private let transitions = Mutex<[BreakerTransition]>([])
    private let states = Mutex<[String: CircuitBreakerState]>([:])
    private let clock = ContinuousClock()

    /// Polls `health` every `interval` until cancelled, handing each transition to `onTransition` as well.
    func follow(
        _ health: @Sendable () -> CacheHealth,
        epoch: ContinuousClock.Instant,
        interval: Duration = .milliseconds(10),
        onTransition: @Sendable (BreakerTransition) -> Void
    ) async {
        while !Task.isCancelled {
            poll(health(), at: clock.now, epoch: epoch).forEach(onTransition)
            do {
                try await clock.sleep(for: interval, tolerance: .milliseconds(2))
            } catch {
                break
            }
        }
        // One last look, so a change made during the final wait is not lost.
        poll(health(), at: clock.now, epoch: epoch).forEach(onTransition)
    }

    /// Records the changes `health` shows since the last poll, and returns them. A shard seen for the first time
    /// in a state other than CLOSED was CLOSED before.
    func poll(_ health: CacheHealth, at now: ContinuousClock.Instant, epoch: ContinuousClock.Instant)
        -> [BreakerTransition]
    {
        var changes: [BreakerTransition] = []
        for shard in health.shards ?? [] {
            guard let label = shard.shard else { continue }
            let state = CircuitBreakerState(name: shard.state)
            let previous = states.withLock { states in
                defer { states[label] = state }
                return states[label] ?? .closed
            }
            guard state != previous else { continue }
            let since = now.advanced(by: .milliseconds(-Int64((shard.secondsInState * 1000).rounded())))
            changes.append(
                BreakerTransition(
                    at: max(epoch.duration(to: since), .zero),
                    from: previous,
                    to: state,
                    reason: "",
                    lastFailure: state == .open ? shard.lastFailure : nil,
                    shard: label
                )
            )
        }
        transitions.withLock { $0.append(contentsOf: changes) }
        return changes
    }

    var recorded: [BreakerTransition] { transitions.withLock { $0 } }

    /// The shards seen so far, in the cache's order (`unassigned` first when it showed).
    var shardsSeen: [String] {
        states.withLock { Array($0.keys) }.sorted(by: ShardLabel.precedes)
    }
}

/// Orders shard labels as people read them: `unassigned`, then `0`, `1`, … `10` numerically.
enum ShardLabel {
    static func precedes(_ a: String, _ b: String) -> Bool {
        switch (Int(a), Int(b)) {
        case (let x?, let y?): x < y
        case (nil, _?): true
        case (_?, nil): false
        case (nil, nil): a < b
        }
    }
}

extension CircuitBreakerState {
    /// The state of a health report's `state` (`closed`, `open`, `half_open`); CLOSED for anything else.
    init(name: String) {
        switch name {
        case "open": self = .open
        case "half_open": self = .halfOpen
        default: self = .closed
        }
    }
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

    /// The transitions of one shard's breaker.
    func of(shard: String) -> [BreakerTransition] {
        filter { $0.shard == shard }
    }

    /// Over a cluster, the changes of the worst state of any shard (OPEN, then HALF_OPEN, then CLOSED), in time
    /// order: what the cache's circuit as a whole showed. Each keeps the reason and the shard of the change that
    /// caused it.
    func worstState() -> [BreakerTransition] {
        var current: [String: CircuitBreakerState] = [:]
        var worst = CircuitBreakerState.closed
        var result: [BreakerTransition] = []
        for transition in sorted(by: { $0.at < $1.at }) {
            current[transition.shard ?? ""] = transition.to
            let now = current.values.max { $0.gaugeValue < $1.gaugeValue } ?? .closed
            if now != worst {
                var change = transition
                change.from = worst
                change.to = now
                result.append(change)
                worst = now
            }
        }
        return result
    }
}
