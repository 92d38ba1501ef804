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
    /// Every breaker transition; over a cluster, every shard's, each with its ``BreakerTransition/shard``.
    package var transitions: [BreakerTransition]
    package var faults: [FaultEvent]
    package var totals: DemoTotals
    /// The first calls that broke the promise, described.
    package var incidents: [String]

    /// Whether the promise held: no error escaped and no cache call overran its deadline.
    package var passed: Bool { totals.escapedErrors == 0 && totals.overruns == 0 }

    /// How fast the breaker reacted to each fault: time to OPEN after an onset, to CLOSED after a clear. Over a
    /// cluster, a shard fault is measured on that shard's breaker, a fault of the whole cluster on the worst
    /// state of all of them.
    package var reactions: [FaultReaction] {
        guard configuration.isCluster else {
            return FaultReaction.reactions(
                to: faults, transitions: transitions, end: elapsed, slack: configuration.callDeadline)
        }
        let whole = breakerTransitions
        var reactions: [FaultReaction] = []
        let applied = faults.filter { !$0.failed }
        for (index, event) in applied.enumerated() {
            // Each fault is measured among the faults of the same target, on that target's breaker.
            let related = applied.enumerated().filter { $0.element.shard == event.shard }
            guard let position = related.firstIndex(where: { $0.offset == index }) else { continue }
            let measured = event.shard.map { transitions.of(shard: String($0)) } ?? whole
            let reaction = FaultReaction.reactions(
                to: related.map(\.element), transitions: measured, end: elapsed, slack: configuration.callDeadline
            )[position]
            reactions.append(reaction)
        }
        return reactions
    }

    /// The transitions of the cache's circuit as a whole: over a cluster, the changes of the worst state of any
    /// shard; for one server, ``transitions``.
    package var breakerTransitions: [BreakerTransition] {
        configuration.isCluster ? transitions.worstState() : transitions
    }

    /// The shards of a cluster run, in order (`unassigned` first if it showed); empty for one server.
    package var shardLabels: [String] {
        var labels = Set(transitions.compactMap(\.shard))
        for interval in intervals { labels.formUnion(interval.shards.map(\.shard)) }
        return labels.sorted(by: ShardLabel.precedes)
    }

    /// Over a cluster, what each fault on one shard did to it and to the others; empty for one server.
    package var shardOutages: [ShardOutage] {
        guard configuration.isCluster else { return [] }
        let applied = faults.filter { !$0.failed }
        let whole = breakerTransitions
        return applied.enumerated().compactMap { index, event -> ShardOutage? in
            guard event.isOnset, let shard = event.shard else { return nil }
            let label = String(shard)
            let later = applied[(index + 1)...].filter { $0.shard == shard }
            let nextOnset = later.first { $0.isOnset }?.at ?? elapsed
            let clearing = later.first { !$0.isOnset }?.at
            let own = transitions.of(shard: label)
            let opened = own.first { $0.to == .open && $0.at >= event.at && $0.at < nextOnset }
            let closed = opened.flatMap { opened in
                own.first { $0.to == .closed && $0.at >= opened.at && $0.at < nextOnset }
            }
            let outageEnd = closed?.at ?? clearing ?? nextOnset
            // The baseline is the healthy stretch before the fault: at most 5 s, and none of an earlier outage.
            let lastRecovery = whole.last { $0.to == .closed && $0.at <= event.at }?.at ?? .zero
            let before = max(.zero, event.at - ShardOutage.baseline, lastRecovery)
            func healthyReads(from start: Duration, to end: Duration) -> ShardReads {
                var total = ShardReads()
                for interval in intervals where interval.midpoint >= start && interval.midpoint < end {
                    for other in interval.shards where other.shard != label && Int(other.shard) != nil {
                        total.merge(other.reads)
                    }
                }
                return total
            }
            var degraded = 0
            for interval in intervals where interval.at > event.at && interval.at - interval.length < outageEnd {
                degraded += interval.shards.first { $0.shard == label }?.reads.degraded ?? 0
            }
            return ShardOutage(
                event: event,
                shard: shard,
                openedAfter: opened.map { $0.at - event.at },
                closedAfter: closed.map { $0.at - event.at },
                closedBeforeClearing: closed.map { closed in clearing.map { closed.at < $0 } ?? true } ?? false,
                healthyBefore: healthyReads(from: before, to: event.at),
                healthyDuring: healthyReads(from: event.at, to: outageEnd),
                degradedReads: degraded
            )
        }
    }

    /// Over a cluster, each shard's reads in the last intervals of the run, after every fault was cleared: whether
    /// hits came back everywhere. Empty for one server or when a fault was still in force at the end.
    package var shardReadsAfterRecovery: [(shard: String, reads: ShardReads)] {
        guard configuration.isCluster else { return [] }
        let lastFault = faults.filter { !$0.failed }.map(\.at).max() ?? .zero
        let recovered = breakerTransitions.last.map { $0.to == .closed ? $0.at : elapsed } ?? .zero
        let start = max(lastFault, recovered, elapsed - ShardOutage.baseline)
        var totals: [String: ShardReads] = [:]
        for interval in intervals where interval.at - interval.length >= start {
            for shard in interval.shards { totals[shard.shard, default: ShardReads()].merge(shard.reads) }
        }
        return totals.filter { Int($0.key) != nil }.sorted { ShardLabel.precedes($0.key, $1.key) }.map {
            ($0.key, $0.value)
        }
    }
}

/// What a fault on one shard of a cluster did: how fast that shard's breaker opened and closed again, how many of
/// its reads degraded, and whether the other shards kept hitting.
package struct ShardOutage: Sendable {
    /// How far before the fault the healthy shards' hit rate is taken, for comparison.
    static let baseline: Duration = .seconds(5)

    /// The fault (`kill-shard 1`, `hang-shard 2`).
    package var event: FaultEvent
    package var shard: Int
    /// From the fault to the shard's breaker OPEN; `nil` if it did not open.
    package var openedAfter: Duration?
    /// From the fault to the shard's breaker CLOSED again; `nil` if it did not close before the next fault on the
    /// shard or the end.
    package var closedAfter: Duration?
    /// Whether it closed before the fault was cleared (`start-shard`, `resume-shard`): a replica was promoted.
    package var closedBeforeClearing: Bool
    /// The other shards' reads in the 5 s before the fault (from the end of an earlier outage, if nearer).
    package var healthyBefore: ShardReads
    /// The other shards' reads from the fault until the shard's breaker closed (or the fault was cleared).
    package var healthyDuring: ShardReads
    /// The shard's reads degraded to misses meanwhile (the report intervals that overlap the outage).
    package var degradedReads: Int
}

extension DemoInterval {
    /// The middle of the interval, counted from the start of the run.
    var midpoint: Duration { at - length / 2 }
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
    /// Over a cluster, each shard's reads over the whole run, by shard id; empty for one server.
    package var shardReads: [ShardReads] = []
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
