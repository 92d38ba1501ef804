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
/// `proxy-reset`, `proxy-refuse`, `proxy-clear`, or for a cluster one of the shard faults, `kill-shard N`,
/// `start-shard N`, `hang-shard N`, `resume-shard N`. `none` is the empty schedule.
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

    /// The schedule a cluster run of `duration` gets when none is given: shard 1's primary killed at 20 % of the
    /// run and restarted at 43 %, shard 2's primary hung at 60 % and resumed at 80 % — for 30 s:
    /// `6s:kill-shard 1,13s:start-shard 1,18s:hang-shard 2,24s:resume-shard 2`.
    ///
    /// The cluster fails each shard over by itself (a replica is promoted two to three node timeouts after the
    /// fault), so the shard's breaker closes again long before its old primary comes back; the restarted or
    /// resumed node rejoins as a replica. Each gap leaves time for the failover and for hits to come back.
    package static func standardCluster(for duration: Duration) -> FaultSchedule {
        func at(_ fraction: Double) -> Duration {
            .milliseconds(Int64((duration.seconds * fraction * 10).rounded()) * 100)
        }
        return FaultSchedule([
            ScheduledFault(at: at(0.2), fault: .killShard(1)),
            ScheduledFault(at: at(13.0 / 30), fault: .startShard(1)),
            ScheduledFault(at: at(0.6), fault: .hangShard(2)),
            ScheduledFault(at: at(0.8), fault: .resumeShard(2)),
        ])
    }

    /// The schedule a run gets when none is given: ``standard(for:)`` against the demo's own server,
    /// ``standardCluster(for:)`` against its own cluster, none against the user's Redis or cluster.
    package static func `default`(for configuration: DemoConfiguration) -> FaultSchedule {
        if configuration.redisURL != nil || configuration.redisClusterURL != nil { return .none }
        return configuration.cluster
            ? .standardCluster(for: configuration.duration) : .standard(for: configuration.duration)
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
    ///
    /// With `shards` (a Redis Cluster of that many shards) the shard faults are accepted for shards
    /// `0..<shards` — `start-shard N` only after `kill-shard N`, `resume-shard N` only after `hang-shard N`, one
    /// fault at a time per shard — and the others act on the whole cluster, only while no shard fault is in force;
    /// the proxy faults are refused (a cluster has no proxy). Without `shards` the shard faults are refused.
    package func validate(duration: Duration, shards: Int? = nil) throws(ParseError) {
        var server = ServerCondition.up
        var shardConditions: [Int: ServerCondition] = [:]
        var proxyFaulted = false
        for entry in entries {
            guard entry.at < duration else {
                throw ParseError(
                    message:
                        "fault '\(entry)' is at or after the end of the run (--duration \(DurationText.format(duration)))"
                )
            }
            if let shard = entry.fault.shard {
                guard let shards else {
                    throw ParseError(
                        message: "fault '\(entry)' acts on a shard of a Redis Cluster: run the demo with --cluster")
                }
                guard shard < shards else {
                    throw ParseError(
                        message: "fault '\(entry)': the cluster has shards 0 to \(shards - 1), no shard \(shard)")
                }
                guard server == .up else {
                    throw ParseError(
                        message: "fault '\(entry)': the whole cluster is \(server == .hung ? "hung" : "down")")
                }
                let condition = shardConditions[shard, default: .up]
                switch (entry.fault, condition) {
                case (.killShard, .up): shardConditions[shard] = .down
                case (.hangShard, .up): shardConditions[shard] = .hung
                case (.startShard, .down), (.resumeShard, .hung): shardConditions[shard] = .up
                case (.startShard, _):
                    throw ParseError(
                        message: "fault '\(entry)': no node of shard \(shard) was killed (kill-shard it first)")
                case (.resumeShard, _):
                    throw ParseError(message: "fault '\(entry)': shard \(shard) is not hung (hang-shard it first)")
                case (_, .down):
                    throw ParseError(
                        message: "fault '\(entry)': shard \(shard)'s primary was killed (start-shard it first)")
                default:
                    throw ParseError(
                        message: "fault '\(entry)': shard \(shard)'s primary is hung (resume-shard it first)")
                }
                continue
            }
            if entry.fault.needsProxy {
                guard shards == nil else {
                    throw ParseError(
                        message: "fault '\(entry)' needs a fault proxy, and the demo's cluster has none; "
                            + "use kill-shard N, hang-shard N or a whole-cluster fault (stop, hang, sleep N…)")
                }
                guard entry.fault != .proxyClear || proxyFaulted else {
                    throw ParseError(message: "fault '\(entry)': the proxy forwards everything already")
                }
                proxyFaulted = entry.fault != .proxyClear
                continue
            }
            if let shard = shardConditions.filter({ $0.value != .up }).keys.min() {
                throw ParseError(
                    message: "fault '\(entry)' acts on the whole cluster while shard \(shard) is faulted "
                        + "(start-shard or resume-shard it first)")
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
