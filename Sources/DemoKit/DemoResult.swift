import Resilience
import _LoadKit

/// What a demo run did: every interval, every breaker transition, every fault, and the totals.
package struct DemoResult: Sendable {
    package var configuration: DemoConfiguration
    /// Which Redis the run used, e.g. `redis-server 7.0.15 on 127.0.0.1:41234, started by the demo`.
    package var redis: String
    /// How long the workload ran.
    package var elapsed: Duration
    /// Whether the run was cut short (Ctrl-C, SIGTERM).
    package var interrupted: Bool
    package var intervals: [DemoInterval]
    package var transitions: [BreakerTransition]
    package var faults: [FaultEvent]
    package var totals: DemoTotals
    /// The first calls that broke the promise, described.
    package var incidents: [String]

    /// Whether the promise held: no error escaped and no cache call overran its deadline.
    package var passed: Bool { totals.escapedErrors == 0 && totals.overruns == 0 }

    /// How fast the breaker reacted to each fault: time to OPEN after an onset, to CLOSED after a clear.
    package var reactions: [FaultReaction] {
        FaultReaction.reactions(to: faults, transitions: transitions, end: elapsed, slack: configuration.callDeadline)
    }
}

/// The whole run's figures.
package struct DemoTotals: Sendable {
    package var calls: Int
    package var hits: Int
    package var misses: Int
    /// Reads answered as misses because the journal fenced the key (part of ``misses``).
    package var fencedReads: Int
    /// Hits over every read, degraded ones included.
    package var hitRate: Double
    package var degraded: Int
    /// Degraded operations by cache operation (`get`, `set`, `delete`, `invalidate`, `fetch_store`), non-zero only.
    package var degradedByOperation: [(operation: String, count: Int)]
    package var originCalls: Int
    package var escapedErrors: Int
    package var overruns: Int
    package var p50Microseconds: UInt64
    package var p99Microseconds: UInt64
    package var p999Microseconds: UInt64
    package var maxMicroseconds: UInt64
    /// The longest cache part of any call (origin excluded), in µs.
    package var worstCacheMicroseconds: UInt64
    /// Invalidations still waiting in the journal when the run ended.
    package var journalAtEnd: Int
    /// Times the journal was replayed into a recovered Redis.
    package var journalReplays: Int
    package var stateAtEnd: CircuitBreakerState
}

/// How the breaker reacted to one fault event.
package struct FaultReaction: Sendable {
    package enum Outcome: Sendable, Hashable {
        /// The breaker opened this long after the fault took effect.
        case opened(after: Duration)
        /// It was already open when the fault took effect.
        case alreadyOpen
        /// It did not open while the fault lasted (a short sleep, little traffic).
        case didNotOpen
        /// The breaker closed this long after Redis came back.
        case closed(after: Duration)
        /// It was closed when Redis came back (it never opened).
        case wasClosed
        /// It had not closed when the next fault came or the run ended.
        case notClosed
    }

    package var event: FaultEvent
    package var outcome: Outcome

    /// `→ OPEN after 105ms`, `→ CLOSED after 1.23s`…
    package var summary: String {
        switch outcome {
        case .opened(let after): "OPEN after \(DurationText.format(after))"
        case .alreadyOpen: "was already OPEN"
        case .didNotOpen: "did not open"
        case .closed(let after): "CLOSED after \(DurationText.format(after))"
        case .wasClosed: "was CLOSED"
        case .notClosed: "not CLOSED before the next fault or the end"
        }
    }

    /// The reaction to each fault in `faults` (failed injections are left out).
    ///
    /// - Parameter slack: how long after a fault ends a late failure may still open the breaker (calls that were
    ///   in flight time out after the fault is over).
    static func reactions(
        to faults: [FaultEvent],
        transitions: [BreakerTransition],
        end: Duration,
        slack: Duration
    ) -> [FaultReaction] {
        let applied = faults.filter { !$0.failed }
        var reactions: [FaultReaction] = []
        for (index, event) in applied.enumerated() {
            let later = applied[(index + 1)...]
            if event.isOnset {
                let windowEnd = (later.first { !$0.isOnset }?.at).map { $0 + slack } ?? end
                if transitions.state(at: event.at) == .open {
                    reactions.append(FaultReaction(event: event, outcome: .alreadyOpen))
                } else if let opened = transitions.first(where: {
                    $0.to == .open && $0.at >= event.at && $0.at <= windowEnd
                }) {
                    reactions.append(FaultReaction(event: event, outcome: .opened(after: opened.at - event.at)))
                } else {
                    reactions.append(FaultReaction(event: event, outcome: .didNotOpen))
                }
            } else {
                let windowEnd = later.first { $0.isOnset }?.at ?? end
                if transitions.state(at: event.at) == .closed {
                    reactions.append(FaultReaction(event: event, outcome: .wasClosed))
                } else if let closed = transitions.first(where: {
                    $0.to == .closed && $0.at >= event.at && $0.at <= windowEnd
                }) {
                    reactions.append(FaultReaction(event: event, outcome: .closed(after: closed.at - event.at)))
                } else {
                    reactions.append(FaultReaction(event: event, outcome: .notClosed))
                }
            }
        }
        return reactions
    }
}
