import _LoadKit

/// What ``RedisCheck`` found out about a Redis: the facts it read and one finding per aspect, each `ok`,
/// `warn` or `fail`.
///
/// A failure means the cache cannot work against this Redis as it is (unreachable, a command the cache needs
/// is refused); a warning means it works but an operator should know (persistence on, `noeviction`, slow
/// round trips). Facts the check could not read are `nil`.
public struct RedisCheckReport: Sendable {
    /// How serious a finding is. Ordered: `ok` < `warn` < `fail`.
    public enum Level: String, Sendable, Hashable, Comparable, CaseIterable {
        case ok
        case warn
        case fail

        private var rank: Int {
            switch self {
            case .ok: 0
            case .warn: 1
            case .fail: 2
            }
        }

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rank < rhs.rank }
    }

    /// One aspect checked: its name (`connection`, `version`, `topology`, `latency`, `persistence`, `memory`,
    /// `tls`, `permissions`), its level and a sentence for the operator.
    public struct Finding: Sendable, Hashable {
        public var check: String
        public var level: Level
        public var message: String

        public init(check: String, level: Level, message: String) {
            self.check = check
            self.level = level
            self.message = message
        }
    }

    /// Round-trip times of sequential `PING`s, one at a time on one connection.
    public struct Latency: Sendable, Hashable {
        public var pings: Int
        public var p50: Duration
        public var p99: Duration
        public var max: Duration
    }

    /// Whether the connection's user may run one command the cache uses.
    public struct Permission: Sendable, Hashable {
        public var command: String
        public var permitted: Bool
        /// Why not, as the server said it; `nil` when permitted.
        public var detail: String?
    }

    /// The endpoint checked, without credentials: `127.0.0.1:6380`, `unix:/run/redis.sock`.
    public var target: String
    /// The user the connection runs as (`ACL WHOAMI`), when known.
    public var user: String?
    /// `redis_version` from `INFO server`.
    public var version: String?
    /// `standalone`, `cluster` or `sentinel` (`redis_mode`).
    public var mode: String?
    /// `master` or `slave` (`INFO replication`).
    public var role: String?
    public var latency: Latency?
    /// RDB snapshots configured (`CONFIG GET save`) or, when CONFIG is refused, taken.
    public var rdb: Bool?
    /// `aof_enabled` from `INFO persistence`.
    public var aof: Bool?
    /// `maxmemory` in bytes; 0 means no limit.
    public var maxmemory: Int64?
    public var maxmemoryPolicy: String?
    /// Whether the connection is encrypted. Always false for now: the client speaks plain TCP only.
    public var tls: Bool = false
    /// How permissions were checked: `ACL DRYRUN`, or `executed` (each command run on a scratch key).
    public var permissionMethod: String?
    public var permissions: [Permission] = []
    public private(set) var findings: [Finding] = []

    public init(target: String) {
        self.target = target
    }

    mutating func add(_ check: String, _ level: Level, _ message: String) {
        findings.append(Finding(check: check, level: level, message: message))
    }

    /// The worst level among the findings.
    public var level: Level { findings.map(\.level).max() ?? .ok }

    /// The process exit code for `resilient-cache check`: 1 when a finding failed, 0 otherwise (warnings too).
    public var exitCode: Int32 { level == .fail ? 1 : 0 }

    /// The report for a terminal: one line per finding, then the verdict.
    public var text: String {
        var lines = ["Redis check of \(target)" + (user.map { " as user \($0)" } ?? "")]
        let width = (findings.map(\.check.count).max() ?? 0) + 2
        for finding in findings {
            let level = finding.level.rawValue.padding(to: 6)
            lines.append("  \(level)\(finding.check.padding(to: width))\(finding.message)")
        }
        let failures = findings.count { $0.level == .fail }
        let warnings = findings.count { $0.level == .warn }
        let counts = "\(failures) failure\(failures == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")"
        switch level {
        case .fail: lines.append("FAIL: \(counts); the cache cannot use this Redis as it is.")
        case .warn: lines.append("OK with warnings: \(counts); the cache can use this Redis, read the warnings.")
        case .ok: lines.append("OK: \(counts); the cache can use this Redis.")
        }
        return lines.joined(separator: "\n")
    }

    /// The report as one JSON object on one line. Unknown facts are `null`; durations are in microseconds.
    public var json: String {
        var object = JSONLine()
        object.add("target", target)
        object.add("result", level.rawValue)
        object.add("exitCode", Int(exitCode))
        object.add("user", user)
        object.add("version", version)
        object.add("mode", mode)
        object.add("role", role)
        if let latency {
            var entry = JSONLine()
            entry.add("pings", latency.pings)
            entry.add("p50Microseconds", latency.p50.microseconds)
            entry.add("p99Microseconds", latency.p99.microseconds)
            entry.add("maxMicroseconds", latency.max.microseconds)
            object.addRaw("latency", entry.line)
        } else {
            object.addRaw("latency", "null")
        }
        var persistence = JSONLine()
        persistence.addRaw("rdb", rdb.map { $0 ? "true" : "false" } ?? "null")
        persistence.addRaw("aof", aof.map { $0 ? "true" : "false" } ?? "null")
        object.addRaw("persistence", persistence.line)
        object.addRaw("maxmemoryBytes", maxmemory.map { String($0) } ?? "null")
        object.add("maxmemoryPolicy", maxmemoryPolicy)
        object.add("tls", tls)
        object.add("permissionMethod", permissionMethod)
        object.addRaw(
            "permissions",
            JSONLine.array(
                permissions.map { permission in
                    var entry = JSONLine()
                    entry.add("command", permission.command)
                    entry.add("permitted", permission.permitted)
                    entry.add("detail", permission.detail)
                    return entry.line
                }))
        object.addRaw(
            "findings",
            JSONLine.array(
                findings.map { finding in
                    var entry = JSONLine()
                    entry.add("check", finding.check)
                    entry.add("level", finding.level.rawValue)
                    entry.add("message", finding.message)
                    return entry.line
                }))
        return object.line
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
