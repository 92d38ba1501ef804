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
        row("breaker", "\(totals.stateAtEnd) at the end, \(transitions.count) transitions")
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
        return object.line
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
