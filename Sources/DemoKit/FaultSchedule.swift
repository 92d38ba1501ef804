import _LoadKit

/// One entry of a ``FaultSchedule``: a fault and when, counted from the start of the run.
package struct ScheduledFault: Sendable, Hashable, CustomStringConvertible {
    package var at: Duration
    package var fault: RedisFault

    package init(at: Duration, fault: RedisFault) {
        self.at = at
        self.fault = fault
    }

    package var description: String { "\(DurationText.format(at)):\(fault)" }
}

/// When to inject which fault, e.g. `5s:hang,12s:resume,20s:stop,26s:start`.
///
/// Entries are `TIME:FAULT` separated by commas. TIME is counted from the start of the run (`5s`, `500ms`, a
/// bare number is seconds); FAULT is a ``RedisFault`` as it is written: `stop`, `start` (or `restart`), `hang`,
/// `resume`, `kill`, `sleep N`, `pause N`, `client-kill N` (also `sleep=N`; N is seconds unless it has a unit), or
/// one of the proxy faults, `proxy-latency N` (N in milliseconds unless it has a unit), `proxy-blackhole`,
/// `proxy-reset`, `proxy-refuse`, `proxy-clear`. `none` is the empty schedule.
///
/// ```swift
/// let schedule = try FaultSchedule(parsing: "6s:hang,11s:resume")
/// try schedule.validate(duration: .seconds(30))
/// ```
package struct FaultSchedule: Sendable, Hashable, CustomStringConvertible {
    /// The entries, in time order.
    package private(set) var entries: [ScheduledFault]

    /// A schedule of `entries` (sorted by time; entries at the same time keep their order).
    package init(_ entries: [ScheduledFault] = []) {
        self.entries = entries.enumerated()
            .sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }
            .map(\.element)
    }

    /// A schedule without faults.
    package static let none = FaultSchedule()

    /// The schedule a run of `duration` gets when none is given: a hang at 20 % of the run, resumed at 37 %, a
    /// stop at 57 %, a start at 77 % — for 30 s: `6s:hang,11s:resume,17s:stop,23s:start`. Each fault lasts long
    /// enough for the breaker to open, and the run long enough after each to show it closing again.
    package static func standard(for duration: Duration) -> FaultSchedule {
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
    package struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        package let message: String
        package var description: String { message }
    }

    /// Reads a schedule such as `5s:hang,12s:resume,20s:stop,26s:start`; see the type's discussion.
    package init(parsing text: String) throws(ParseError) {
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
            let fault: RedisFault
            do {
                fault = try RedisFault(parsing: item[item.index(after: colon)...])
            } catch {
                throw ParseError(message: "fault '\(item)': \(error.message)")
            }
            entries.append(ScheduledFault(at: at, fault: fault))
        }
        self.init(entries)
    }

    /// Checks that every fault falls inside a run of `duration` and makes sense where it stands: `resume` only
    /// after `hang`, `start` only after `stop` or `kill`, no `hang`, `sleep`, `pause` or `client-kill` of a server
    /// that is down, `proxy-clear` only after a proxy fault.
    package func validate(duration: Duration) throws(ParseError) {
        var server = ServerCondition.up
        var proxyFaulted = false
        for entry in entries {
            guard entry.at < duration else {
                throw ParseError(
                    message:
                        "fault '\(entry)' is at or after the end of the run (--duration \(DurationText.format(duration)))"
                )
            }
            if entry.fault.needsProxy {
                guard entry.fault != .proxyClear || proxyFaulted else {
                    throw ParseError(message: "fault '\(entry)': the proxy forwards everything already")
                }
                proxyFaulted = entry.fault != .proxyClear
                continue
            }
            switch (entry.fault, server) {
            case (.hang, .up): server = .hung
            case (.resume, .hung): server = .up
            case (.stop, .up), (.stop, .hung), (.kill, .up), (.kill, .hung): server = .down
            case (.start, .down): server = .up
            case (.sleep, .up), (.pause, .up), (.clientKill, .up), (.maxClients, .up): break
            case (.resume, _): throw ParseError(message: "fault '\(entry)': the server is not hung (hang it first)")
            case (.start, _):
                throw ParseError(message: "fault '\(entry)': the server is running (stop or kill it first)")
            case (_, .down): throw ParseError(message: "fault '\(entry)': the server is down (start it first)")
            case (_, .hung): throw ParseError(message: "fault '\(entry)': the server is hung (resume it first)")
            default: break
            }
        }
    }

    /// Whether any fault acts on the proxy, so the run needs one in front of its server.
    package var needsProxy: Bool {
        entries.contains { $0.fault.needsProxy }
    }

    private enum ServerCondition { case up, hung, down }

    /// The schedule in the form it is written in.
    package var description: String {
        entries.isEmpty ? "none" : entries.map(\.description).joined(separator: ",")
    }
}
