/// A fault the demo injects into the redis-server it started.
public enum Fault: Sendable, Hashable, CustomStringConvertible {
    /// SIGTERM: Redis shuts down cleanly; connections are closed, new ones refused.
    case stop
    /// A fresh redis-server on the same port (after `stop` or `kill`); it starts empty.
    case start
    /// SIGSTOP: the process freezes; connects still succeed but nothing is answered.
    case hang
    /// SIGCONT after `hang`: Redis answers what was sent meanwhile.
    case resume
    /// SIGKILL, as a crash or the OOM killer would.
    case kill
    /// `DEBUG SLEEP`: Redis blocks its event loop for the given time, then carries on by itself.
    case sleep(Duration)

    /// `stop`, `sleep 2s`…: the form the schedule is written in.
    public var description: String {
        switch self {
        case .stop: "stop"
        case .start: "start"
        case .hang: "hang"
        case .resume: "resume"
        case .kill: "kill"
        case .sleep(let duration): "sleep \(DurationText.format(duration))"
        }
    }

    /// What the fault does to the server, for event lines and the plot.
    public var explanation: String {
        switch self {
        case .stop: "SIGTERM: Redis stopped"
        case .start: "redis-server restarted on the same port"
        case .hang: "SIGSTOP: Redis hung"
        case .resume: "SIGCONT: Redis resumed"
        case .kill: "SIGKILL: Redis killed"
        case .sleep(let duration): "DEBUG SLEEP \(DurationText.format(duration)): Redis busy"
        }
    }

    /// Whether the fault takes Redis away (as opposed to bringing it back).
    public var isOnset: Bool {
        switch self {
        case .stop, .hang, .kill, .sleep: true
        case .start, .resume: false
        }
    }
}

/// One entry of a ``FaultSchedule``: a fault and when, counted from the start of the run.
public struct ScheduledFault: Sendable, Hashable, CustomStringConvertible {
    public var at: Duration
    public var fault: Fault

    public init(at: Duration, fault: Fault) {
        self.at = at
        self.fault = fault
    }

    public var description: String { "\(DurationText.format(at)):\(fault)" }
}

/// When to inject which fault, e.g. `5s:hang,12s:resume,20s:stop,26s:start`.
///
/// Entries are `TIME:FAULT` separated by commas. TIME is counted from the start of the run (`5s`, `500ms`, a
/// bare number is seconds); FAULT is `stop`, `start` (or `restart`), `hang`, `resume`, `kill` or `sleep N`
/// (also `sleep=N`; N is seconds unless it has a unit). `none` is the empty schedule.
///
/// ```swift
/// let schedule = try FaultSchedule(parsing: "6s:hang,11s:resume")
/// try schedule.validate(duration: .seconds(30))
/// ```
public struct FaultSchedule: Sendable, Hashable, CustomStringConvertible {
    /// The entries, in time order.
    public private(set) var entries: [ScheduledFault]

    /// A schedule of `entries` (sorted by time; entries at the same time keep their order).
    public init(_ entries: [ScheduledFault] = []) {
        self.entries = entries.enumerated()
            .sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }
            .map(\.element)
    }

    /// A schedule without faults.
    public static let none = FaultSchedule()

    /// The schedule a run of `duration` gets when none is given: a hang at 20 % of the run, resumed at 37 %, a
    /// stop at 57 %, a start at 77 % — for 30 s: `6s:hang,11s:resume,17s:stop,23s:start`. Each fault lasts long
    /// enough for the breaker to open, and the run long enough after each to show it closing again.
    public static func standard(for duration: Duration) -> FaultSchedule {
        func at(_ fraction: Double) -> Duration {
            // Rounded to a tenth of a second so the schedule reads well in the report.
            .milliseconds(Int64((duration.seconds * fraction * 10).rounded()) * 100)
        }
        return FaultSchedule([
            ScheduledFault(at: at(0.2), fault: .hang),
            ScheduledFault(at: at(11.0 / 30), fault: .resume),
            ScheduledFault(at: at(17.0 / 30), fault: .stop),
            ScheduledFault(at: at(23.0 / 30), fault: .start),
        ])
    }

    /// A schedule or its syntax error.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Reads a schedule such as `5s:hang,12s:resume,20s:stop,26s:start`; see the type's discussion.
    public init(parsing text: String) throws(ParseError) {
        let trimmed = text.trimmingWhitespace()
        if trimmed.isEmpty || trimmed.lowercased() == "none" {
            self.init()
            return
        }
        var entries: [ScheduledFault] = []
        for item in trimmed.split(separator: ",") {
            let item = item.trimmingWhitespace()
            guard let colon = item.firstIndex(of: ":") else {
                throw ParseError(message: "fault '\(item)' is not TIME:FAULT, e.g. 5s:hang")
            }
            let at: Duration
            do {
                at = try DurationText.parse(String(item[..<colon]), defaultUnit: .seconds)
            } catch {
                throw ParseError(message: "fault '\(item)': \(error.message)")
            }
            let fault = try Self.parseFault(item[item.index(after: colon)...], in: item)
            entries.append(ScheduledFault(at: at, fault: fault))
        }
        self.init(entries)
    }

    private static func parseFault(_ text: Substring, in item: Substring) throws(ParseError) -> Fault {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "=" || $0 == ":" }).map { $0.lowercased() }
        switch words.first {
        case "stop" where words.count == 1: return .stop
        case "start" where words.count == 1, "restart" where words.count == 1: return .start
        case "hang" where words.count == 1: return .hang
        case "resume" where words.count == 1: return .resume
        case "kill" where words.count == 1: return .kill
        case "sleep":
            guard words.count == 2 else {
                throw ParseError(message: "fault '\(item)': sleep needs a length, e.g. 8s:sleep 2")
            }
            let length: Duration
            do {
                length = try DurationText.parse(words[1], defaultUnit: .seconds)
            } catch {
                throw ParseError(message: "fault '\(item)': \(error.message)")
            }
            guard length > .zero else { throw ParseError(message: "fault '\(item)': sleep must be longer than 0") }
            return .sleep(length)
        default:
            throw ParseError(
                message: "fault '\(item)': unknown fault '\(text.trimmingWhitespace())' "
                    + "(use stop, start, hang, resume, kill or sleep N)"
            )
        }
    }

    /// Checks that every fault falls inside a run of `duration` and makes sense where it stands: `resume` only
    /// after `hang`, `start` only after `stop` or `kill`, no `hang` or `sleep` of a server that is down.
    public func validate(duration: Duration) throws(ParseError) {
        var server = ServerCondition.up
        for entry in entries {
            guard entry.at < duration else {
                throw ParseError(
                    message:
                        "fault '\(entry)' is at or after the end of the run (--duration \(DurationText.format(duration)))"
                )
            }
            switch (entry.fault, server) {
            case (.hang, .up): server = .hung
            case (.resume, .hung): server = .up
            case (.stop, .up), (.stop, .hung), (.kill, .up), (.kill, .hung): server = .down
            case (.start, .down): server = .up
            case (.sleep, .up): break
            case (.resume, _): throw ParseError(message: "fault '\(entry)': the server is not hung (hang it first)")
            case (.start, _):
                throw ParseError(message: "fault '\(entry)': the server is running (stop or kill it first)")
            case (_, .down): throw ParseError(message: "fault '\(entry)': the server is down (start it first)")
            case (_, .hung): throw ParseError(message: "fault '\(entry)': the server is hung (resume it first)")
            }
        }
    }

    private enum ServerCondition { case up, hung, down }

    /// The schedule in the form it is written in.
    public var description: String {
        entries.isEmpty ? "none" : entries.map(\.description).joined(separator: ",")
    }
}
