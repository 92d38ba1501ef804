import Resilience
import Synchronization
import _LoadKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Something that happened during the run, reported as it happens.
package enum DemoEvent: Sendable {
    /// A fault took effect (or its injection failed).
    case fault(FaultEvent)
    /// The breaker changed state.
    case transition(BreakerTransition)
    /// Anything else worth a line: the server started, the run was interrupted.
    case note(String)
}

/// Where a run's progress goes: the live report on a terminal, JSON lines, or nowhere (tests).
///
/// Called from several tasks at once (the ticker, the fault injector, the breaker's event stream); an
/// implementation serializes its output.
package protocol DemoReporter: Sendable {
    /// The run is about to start against `redis`.
    func begin(configuration: DemoConfiguration, redis: String)
    func event(_ event: DemoEvent)
    func interval(_ interval: DemoInterval)
    func finish(_ result: DemoResult)
}

/// Reports nothing; for tests and embedding.
package struct SilentReport: DemoReporter {
    package init() {}
    package func begin(configuration: DemoConfiguration, redis: String) {}
    package func event(_ event: DemoEvent) {}
    package func interval(_ interval: DemoInterval) {}
    package func finish(_ result: DemoResult) {}
}

/// The report for a person: a header, a line per second, a line per fault and per breaker transition, and the
/// summary.
///
/// On a terminal the per-second line is redrawn in place (`\r`, clear line) and cut to the terminal's width;
/// fault and breaker lines scroll above it. Otherwise (a pipe, a file) every line is printed as is.
package final class ConsoleReport: DemoReporter {
    private let isTerminal: Bool
    private let color: Bool
    private let output = Mutex(ConsoleOutput())

    /// - Parameters:
    ///   - isTerminal: redraw the live line in place; `isatty(1)` when `nil`.
    ///   - color: colour the breaker state and faults (terminal only); off when `NO_COLOR` is set.
    package init(isTerminal: Bool? = nil, color: Bool = true) {
        let terminal = isTerminal ?? (isatty(STDOUT_FILENO) == 1)
        self.isTerminal = terminal
        self.color = color && terminal && getenv("NO_COLOR") == nil
    }

    package func begin(configuration: DemoConfiguration, redis: String) {
        var lines = [
            "resilient-cache demo: \(configuration.concurrency) callers on \(grouped(configuration.keys)) Zipf-skewed "
                + "keys for \(DurationText.format(configuration.duration)); origin query "
                + "\(DurationText.format(configuration.originLatency)); command timeout "
                + "\(DurationText.format(configuration.commandTimeout)), deadline per cache call "
                + "\(DurationText.format(configuration.callDeadline)); breaker opens for "
                + "\(DurationText.format(configuration.openDuration))",
            "redis: \(redis)",
        ]
        if configuration.redisURL != nil {
            lines.append(
                "faults: inject them yourself, e.g. `docker compose stop redis`, then `docker compose start redis`")
        } else if configuration.redisClusterURL != nil {
            lines.append(
                "faults: inject them yourself, e.g. `docker compose stop redis-node-1`, then "
                    + "`docker compose start redis-node-1`")
        } else {
            lines.append("faults: \(configuration.faults.entries.isEmpty ? "none" : configuration.faults.description)")
        }
        output.withLock { $0.printLines(lines, isTerminal: isTerminal) }
    }

    package func event(_ event: DemoEvent) {
        let line: [Segment]
        switch event {
        case .fault(let fault):
            let mark: Segment = .init(
                fault.failed ? "FAULT FAILED" : "fault", color: fault.isOnset || fault.failed ? .red : .green)
            line = [.init(timeColumn(fault.at) + "  "), mark, .init("  \(fault.action): \(fault.detail)")]
        case .transition(let transition):
            let breaker = transition.shard.map { "shard \($0) breaker" } ?? "breaker"
            line = [
                .init(timeColumn(transition.at) + "  \(breaker)  \(transition.from) → "),
                .init("\(transition.to)", color: stateColor(transition.to)),
                .init(transition.explanation.isEmpty ? "" : "  (\(transition.explanation))"),
            ]
        case .note(let note):
            line = [.init(note)]
        }
        let text = render(line, cut: false)
        output.withLock { $0.printEvent(text, isTerminal: isTerminal) }
    }

    package func interval(_ interval: DemoInterval) {
        var segments = Self.segments(interval)
        if isTerminal, segments.reduce(0, { $0 + $1.text.count }) >= Self.terminalColumns() {
            segments = Self.compactSegments(interval)
        }
        let text = render(segments, cut: isTerminal)
        output.withLock { $0.printLive(text, isTerminal: isTerminal) }
    }

    package func finish(_ result: DemoResult) {
        output.withLock { $0.printLines(["", result.summaryText], isTerminal: isTerminal) }
    }

    /// The per-second line: elapsed, ops/s, hit rate, p50/p99, origin calls/s, degraded, escaped errors, breaker
    /// state, journal size, over a cluster each shard's state (`shards 0:closed 1:open(12) 2:closed`, the journal
    /// size in parentheses when not empty), and the fault in force.
    static func segments(_ interval: DemoInterval) -> [Segment] {
        let hitRate = interval.hitRate.map(percent) ?? "-"
        var segments: [Segment] = [
            .init(timeColumn(interval.at)),
            .init("  " + grouped(Int(interval.callsPerSecond.rounded())).leftPadding(toLength: 7) + " ops/s"),
            .init("  hit " + hitRate.leftPadding(toLength: 6)),
            .init("  p50 " + DurationText.formatMicroseconds(interval.p50Microseconds).leftPadding(toLength: 6)),
            .init("  p99 " + DurationText.formatMicroseconds(interval.p99Microseconds).leftPadding(toLength: 6)),
            .init("  origin " + grouped(Int(interval.originCallsPerSecond.rounded())).leftPadding(toLength: 5) + "/s"),
            .init("  degraded " + grouped(interval.degraded).leftPadding(toLength: 6)),
            .init("  escaped "),
            .init(String(interval.escapedErrors), color: interval.escapedErrors > 0 ? .red : nil),
            .init("  "),
            .init(interval.state.description.padding(toLength: 9), color: stateColor(interval.state)),
            .init(" journal " + grouped(interval.journal).leftPadding(toLength: 4)),
        ]
        if !interval.shards.isEmpty {
            segments.append(.init("  shards"))
            segments += shardSegments(interval.shards)
        }
        segments += [
            .init("  fault "),
            .init(interval.fault ?? "-", color: interval.fault == nil ? nil : .red),
        ]
        if interval.overruns > 0 {
            segments.append(.init("  OVERRUNS \(interval.overruns)", color: .red))
        }
        return segments
    }

    /// ` 0:closed 1:open(12) 2:closed`: each shard's breaker, and its journal when it is not empty.
    static func shardSegments(_ shards: [ShardInterval]) -> [Segment] {
        shards.map { shard in
            let label = shard.shard == "unassigned" ? "?" : shard.shard
            let journal = shard.journal > 0 ? "(\(grouped(shard.journal)))" : ""
            return .init(" \(label):\(shard.state.name)\(journal)", color: stateColor(shard.state))
        }
    }

    /// The per-second line for a narrow terminal: what matters most first (state, fault, throughput, hit rate,
    /// p99, origin load, escaped errors), so a cut at 80 columns loses only the tail.
    static func compactSegments(_ interval: DemoInterval) -> [Segment] {
        let hitRate = interval.hitRate.map { "\(Int(($0 * 100).rounded()))%" } ?? "-"
        var segments: [Segment] = [
            .init(timeColumn(interval.at) + " "),
            .init(interval.state.description.padding(toLength: 9), color: stateColor(interval.state)),
            .init(" "),
            .init((interval.fault ?? "-").padding(toLength: 8), color: interval.fault == nil ? nil : .red),
            .init(" " + (short(interval.callsPerSecond) + "/s").leftPadding(toLength: 7)),
            .init(" hit " + hitRate.leftPadding(toLength: 4)),
            .init(" p99 " + DurationText.formatMicroseconds(interval.p99Microseconds).leftPadding(toLength: 6)),
            .init(
                " origin "
                    + (short(interval.originCallsPerSecond) + "/s").leftPadding(toLength: 6)),
            .init(" escaped "),
            .init(String(interval.escapedErrors), color: interval.escapedErrors > 0 ? .red : nil),
            .init(" degraded " + short(Double(interval.degraded))),
            .init(" journal \(interval.journal)"),
        ]
        if !interval.shards.isEmpty {
            // The shards right after the overall state: on a narrow terminal they matter more than the rest.
            segments.insert(contentsOf: shardSegments(interval.shards), at: 2)
        }
        if interval.overruns > 0 {
            segments.insert(
                .init(" OVERRUNS \(interval.overruns)", color: .red),
                at: interval.shards.isEmpty ? 9 : 9 + interval.shards.count)
        }
        return segments
    }

    /// `950`, `2.8k`, `19.5k`, `195k`: at most five characters.
    static func short(_ value: Double) -> String {
        if value < 1000 { return String(Int(value.rounded())) }
        if value < 100_000 { return trimmed(fixed(value / 1000, digits: 1)) + "k" }
        if value < 1_000_000 { return String(Int((value / 1000).rounded())) + "k" }
        return trimmed(fixed(value / 1_000_000, digits: 1)) + "M"
    }

    private static func timeColumn(_ at: Duration) -> String {
        (fixed(at.seconds, digits: 1) + "s").leftPadding(toLength: 7)
    }

    private func timeColumn(_ at: Duration) -> String { Self.timeColumn(at) }

    private func render(_ segments: [Segment], cut: Bool) -> String {
        var budget = cut ? Self.terminalColumns() - 1 : Int.max
        var text = ""
        for segment in segments where budget > 0 {
            let piece = segment.text.count > budget ? String(segment.text.prefix(budget)) : segment.text
            budget -= piece.count
            if color, let code = segment.color {
                text += "\u{1B}[\(code.rawValue)m" + piece + "\u{1B}[0m"
            } else {
                text += piece
            }
        }
        return text
    }

    private static func terminalColumns() -> Int {
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 {
            return Int(size.ws_col)
        }
        return 160
    }

    /// A piece of a line, optionally coloured.
    struct Segment {
        var text: String
        var color: ANSIColor?
        init(_ text: String, color: ANSIColor? = nil) {
            self.text = text
            self.color = color
        }
    }

    enum ANSIColor: Int {
        case red = 31, green = 32, yellow = 33
    }

    private static func stateColor(_ state: CircuitBreakerState) -> ANSIColor {
        switch state {
        case .closed: .green
        case .open: .red
        case .halfOpen: .yellow
        }
    }

    private func stateColor(_ state: CircuitBreakerState) -> ANSIColor { Self.stateColor(state) }
}

/// The console's output state: whether a live line is on screen and must be cleared before other text.
private struct ConsoleOutput {
    private var liveLine: String?

    mutating func printLive(_ line: String, isTerminal: Bool) {
        if isTerminal {
            write("\r\u{1B}[2K" + line)
            liveLine = line
        } else {
            write(line + "\n")
        }
    }

    mutating func printEvent(_ line: String, isTerminal: Bool) {
        if isTerminal, let liveLine {
            write("\r\u{1B}[2K" + line + "\n" + liveLine)
        } else {
            write(line + "\n")
        }
    }

    mutating func printLines(_ lines: [String], isTerminal: Bool) {
        var text = lines.joined(separator: "\n") + "\n"
        if isTerminal, liveLine != nil {
            // Keep the last live line on screen, and start below it.
            text = "\n" + text
            liveLine = nil
        }
        write(text)
    }

    private func write(_ text: String) {
        writeAll(text, to: STDOUT_FILENO)
    }
}

/// Writes all of `text` to the file descriptor (write(2) may take less than it is given), unbuffered: the
/// output is in order with anything else written to the same descriptor.
func writeAll(_ text: String, to descriptor: Int32) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            return
        }
        bytes = bytes.dropFirst(written)
    }
}

/// One JSON object per interval on stdout (and the summary as the last one, `"type": "summary"`); events and the
/// human summary go to stderr, so stdout stays machine-readable.
package final class JSONLinesReport: DemoReporter {
    private let lock = Mutex(())

    package init() {}

    package func begin(configuration: DemoConfiguration, redis: String) {
        lock.withLock { _ in
            writeAll("resilient-cache demo: redis \(redis); faults \(configuration.faults)\n", to: STDERR_FILENO)
        }
    }

    package func event(_ event: DemoEvent) {
        let text: String
        switch event {
        case .fault(let fault): text = "\(fixed(fault.at.seconds, digits: 1))s fault \(fault.action): \(fault.detail)"
        case .transition(let transition):
            let breaker = transition.shard.map { "shard \($0) breaker" } ?? "breaker"
            text =
                "\(fixed(transition.at.seconds, digits: 1))s \(breaker) \(transition.from) → \(transition.to)"
                + (transition.explanation.isEmpty ? "" : " (\(transition.explanation))")
        case .note(let note): text = note
        }
        lock.withLock { _ in writeAll(text + "\n", to: STDERR_FILENO) }
    }

    package func interval(_ interval: DemoInterval) {
        lock.withLock { _ in
            writeAll(interval.json + "\n", to: STDOUT_FILENO)
        }
    }

    package func finish(_ result: DemoResult) {
        lock.withLock { _ in
            writeAll(result.summaryJSON + "\n", to: STDOUT_FILENO)
            writeAll(result.summaryText + "\n", to: STDERR_FILENO)
        }
    }
}
