import Resilience
import _LoadKit

extension DemoResult {
    /// The end-of-run summary for a person: totals, the deadline check, the breaker's reaction to each fault,
    /// and the verdict.
    package var summaryText: String {
        let configuration = self.configuration
        var lines: [String] = []
        let title = interrupted ? "Summary (interrupted after \(DurationText.format(elapsed)))" : "Summary"
        lines.append(title)
        func row(_ label: String, _ value: String) {
            lines.append("  " + label.padding(toLength: 16) + value)
        }
        let perSecond = elapsed > .zero ? Double(totals.calls) / elapsed.seconds : 0
        row("calls", "\(grouped(totals.calls)) in \(DurationText.format(elapsed)) (\(grouped(Int(perSecond)))/s)")
        row("hit rate", percent(totals.hitRate) + " (\(grouped(totals.hits)) hits, \(grouped(totals.misses)) misses)")
        var degraded = grouped(totals.degraded) + " operations"
        if !totals.degradedByOperation.isEmpty {
            degraded +=
                " ("
                + totals.degradedByOperation.map { "\($0.operation) \(grouped($0.count))" }
                .joined(separator: ", ") + ")"
        }
        row("degraded", degraded)
        row("origin calls", grouped(totals.originCalls))
        row("escaped errors", grouped(totals.escapedErrors))
        let deadline = DurationText.format(configuration.callDeadline)
        let worstCache = DurationText.formatMicroseconds(totals.worstCacheMicroseconds)
        if totals.overruns == 0 {
            row("deadline", "every cache call within \(deadline) (worst \(worstCache), origin time excluded)")
        } else {
            row("deadline", "\(grouped(totals.overruns)) calls overran \(deadline) (worst \(worstCache))")
        }
        row(
            "latency",
            "p50 \(DurationText.formatMicroseconds(totals.p50Microseconds))  "
                + "p99 \(DurationText.formatMicroseconds(totals.p99Microseconds))  "
                + "p99.9 \(DurationText.formatMicroseconds(totals.p999Microseconds))  "
                + "worst \(DurationText.formatMicroseconds(totals.maxMicroseconds)) (origin included)"
        )
        row("journal", "\(totals.journalAtEnd) waiting at the end, \(totals.journalReplays) replays")
        if configuration.isCluster {
            let shards = shardLabels.filter { Int($0) != nil }.count
            row(
                "breakers",
                "\(shards) shards, \(totals.stateAtEnd) at the end (the worst of them), \(transitions.count) transitions"
            )
        } else {
            row("breaker", "\(totals.stateAtEnd) at the end, \(transitions.count) transitions")
        }
        let reactions = self.reactions
        if !reactions.isEmpty {
            lines.append("  faults")
            // Wide enough for the longest action (`proxy-blackhole`, `client-kill over`) and a space.
            let actionWidth = max(11, (reactions.map(\.event.action.count).max() ?? 0) + 1)
            for reaction in reactions {
                let event = reaction.event
                lines.append(
                    "    " + (fixed(event.at.seconds, digits: 1) + "s").leftPadding(toLength: 6) + "  "
                        + event.action.padding(toLength: actionWidth) + "→ " + reaction.summary
                )
            }
        }
        if configuration.isCluster {
            lines += clusterLines
        }
        let failedFaults = faults.filter(\.failed)
        for fault in failedFaults {
            lines.append("  fault at \(DurationText.format(fault.at)) failed: \(fault.detail)")
        }
        if !incidents.isEmpty {
            lines.append("  incidents (first \(incidents.count))")
            for incident in incidents { lines.append("    " + incident) }
        }
        if passed {
            lines.append("PASS: no error escaped, every cache call returned within its deadline of \(deadline)")
        } else {
            lines.append(
                "FAIL: \(totals.escapedErrors) errors escaped, \(totals.overruns) cache calls overran \(deadline)"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// Over a cluster: each shard's reads and hit rate (overall and after the last recovery), and what each
    /// shard fault did — time to OPEN, to CLOSED again, the shard's degraded reads, the other shards' hit rate.
    private var clusterLines: [String] {
        var lines = ["  shards"]
        let after = Dictionary(shardReadsAfterRecovery, uniquingKeysWith: { first, _ in first })
        let states = intervals.last.map {
            Dictionary($0.shards.map { ($0.shard, $0.state) }, uniquingKeysWith: { a, _ in a })
        }
        for label in shardLabels {
            var text = "shard \(label)".padding(toLength: 12)
            text += "\(states?[label] ?? .closed) at the end"
            if let id = Int(label), totals.shardReads.indices.contains(id) {
                let reads = totals.shardReads[id]
                text += ", \(grouped(reads.reads)) reads, hit rate \(reads.hitRate.map(percent) ?? "-")"
                if reads.degraded > 0 { text += ", \(grouped(reads.degraded)) degraded" }
            }
            if let recovered = after[label]?.hitRate {
                text += "; after recovery \(percent(recovered))"
            }
            lines.append("    " + text)
        }
        let outages = shardOutages
        if !outages.isEmpty {
            lines.append("  shard faults")
        }
        for outage in outages {
            let event = outage.event
            var text =
                "    " + (fixed(event.at.seconds, digits: 1) + "s").leftPadding(toLength: 6) + "  "
                + event.action.padding(toLength: 15) + "shard \(outage.shard) "
            if let opened = outage.openedAfter {
                text += "OPEN after \(DurationText.format(opened))"
                if let closed = outage.closedAfter {
                    text += ", CLOSED again \(DurationText.format(closed)) after the fault"
                    if outage.closedBeforeClearing { text += " (a replica took over)" }
                } else {
                    text += ", not CLOSED again before the next fault or the end"
                }
            } else {
                text += "did not open"
            }
            lines.append(text)
            let before = outage.healthyBefore.hitRate.map(percent) ?? "-"
            let during = outage.healthyDuring.hitRate.map(percent) ?? "-"
            lines.append(
                String(repeating: " ", count: 27) + "\(grouped(outage.degradedReads)) of its reads degraded to misses; "
                    + "the other shards' hit rate \(before) before, \(during) meanwhile"
            )
        }
        return lines
    }

    /// The summary as one JSON object (`"type": "summary"`), the last line of `--json` output.
    package var summaryJSON: String {
        var object = JSONLine()
        object.add("type", "summary")
        object.add("passed", passed)
        object.add("interrupted", interrupted)
        object.add("elapsed_s", elapsed.seconds, digits: 3)
        object.add("ops", totals.calls)
        object.add("ops_per_sec", elapsed > .zero ? Double(totals.calls) / elapsed.seconds : 0, digits: 1)
        object.add("hits", totals.hits)
        object.add("misses", totals.misses)
        object.add("hit_rate", totals.hitRate, digits: 4)
        object.add("degraded", totals.degraded)
        object.add("origin_calls", totals.originCalls)
        object.add("escaped_errors", totals.escapedErrors)
        object.add("overruns", totals.overruns)
        object.add("deadline_us", configuration.callDeadline.microseconds)
        object.add("worst_cache_us", totals.worstCacheMicroseconds)
        object.add("p50_us", totals.p50Microseconds)
        object.add("p99_us", totals.p99Microseconds)
        object.add("max_us", totals.maxMicroseconds)
        object.add("journal", totals.journalAtEnd)
        object.add("state", totals.stateAtEnd.name)
        object.addRaw(
            "transitions",
            JSONLine.array(
                transitions.map { transition in
                    var item = JSONLine()
                    item.add("t", transition.at.seconds, digits: 3)
                    item.add("from", transition.from.name)
                    item.add("to", transition.to.name)
                    item.add("reason", transition.reason)
                    if let lastFailure = transition.lastFailure { item.add("last_failure", lastFailure) }
                    if let shard = transition.shard { item.add("shard", shard) }
                    return item.line
                }
            )
        )
        object.addRaw(
            "faults",
            JSONLine.array(
                reactions.map { reaction in
                    var item = JSONLine()
                    item.add("t", reaction.event.at.seconds, digits: 3)
                    item.add("fault", reaction.event.action)
                    if let shard = reaction.event.shard { item.add("shard", shard) }
                    switch reaction.outcome {
                    case .opened(let after): item.add("time_to_open_s", after.seconds, digits: 3)
                    case .closed(let after): item.add("time_to_closed_s", after.seconds, digits: 3)
                    default: break
                    }
                    item.add("reaction", reaction.summary)
                    return item.line
                }
            )
        )
        if configuration.isCluster {
            addCluster(to: &object)
        }
        return object.line
    }

    /// `shards` (each shard's reads, hit rate, state at the end and hit rate after the last recovery) and
    /// `shard_outages` (each shard fault: time to OPEN and to CLOSED, degraded reads, the other shards' hit rate).
    private func addCluster(to object: inout JSONLine) {
        let after = Dictionary(shardReadsAfterRecovery, uniquingKeysWith: { first, _ in first })
        let last = intervals.last?.shards ?? []
        object.addRaw(
            "shards",
            JSONLine.array(
                shardLabels.map { label in
                    var item = JSONLine()
                    item.add("shard", label)
                    let atEnd = last.first { $0.shard == label }
                    item.add("state", (atEnd?.state ?? .closed).name)
                    item.add("journal", atEnd?.journal ?? 0)
                    if let id = Int(label), totals.shardReads.indices.contains(id) {
                        let reads = totals.shardReads[id]
                        item.add("reads", reads.reads)
                        item.add("hits", reads.hits)
                        item.add("degraded_reads", reads.degraded)
                        item.add("hit_rate", reads.hitRate ?? .nan, digits: 4)
                    }
                    item.add("hit_rate_after_recovery", after[label]?.hitRate ?? .nan, digits: 4)
                    return item.line
                }
            )
        )
        object.addRaw(
            "shard_outages",
            JSONLine.array(
                shardOutages.map { outage in
                    var item = JSONLine()
                    item.add("t", outage.event.at.seconds, digits: 3)
                    item.add("fault", outage.event.action)
                    item.add("shard", outage.shard)
                    item.add("time_to_open_s", outage.openedAfter?.seconds ?? .nan, digits: 3)
                    item.add("time_to_closed_s", outage.closedAfter?.seconds ?? .nan, digits: 3)
                    item.add("closed_before_cleared", outage.closedBeforeClearing)
                    item.add("degraded_reads", outage.degradedReads)
                    item.add("other_shards_hit_rate_before", outage.healthyBefore.hitRate ?? .nan, digits: 4)
                    item.add("other_shards_hit_rate_during", outage.healthyDuring.hitRate ?? .nan, digits: 4)
                    return item.line
                }
            )
        )
    }
}

/// `1234567` as `1,234,567`.
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (offset, character) in digits.enumerated() {
        if offset > 0 && (digits.count - offset) % 3 == 0 { result.append(",") }
        result.append(character)
    }
    return (value < 0 ? "-" : "") + result
}

/// `0.9731` as `97.3%`.
func percent(_ fraction: Double) -> String {
    fixed(fraction * 100, digits: 1) + "%"
}

extension String {
    /// The string padded with spaces on the right to `length` characters (never cut).
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }

    /// The string padded with spaces on the left to `length` characters (never cut).
    func leftPadding(toLength length: Int) -> String {
        count >= length ? self : String(repeating: " ", count: length - count) + self
    }
}
