import HiredisClient
import Histogram
import Logging
import _LoadKit

/// Checks, before a service is pointed at it, whether a Redis suits the cache: that it answers, its version,
/// round-trip latency, standalone or cluster, persistence, `maxmemory` and its policy, TLS, and whether the
/// connection's user may run every command the cache sends.
///
/// The check reads (`INFO`, `CONFIG GET`, `ACL WHOAMI`, `ACL DRYRUN`) and sends `PING`s. Only when the server
/// cannot answer `ACL DRYRUN` (Redis before 7, or the user may not run it) does it run the cache's commands
/// for real, on one scratch key under ``Options/keyPrefix`` with a 60 s expiry, which it deletes afterwards.
///
/// ```swift
/// let report = try await RedisCheck.run(url: "redis://127.0.0.1:6380", logger: logger)
/// print(report.text)  // or report.json
/// exit(report.exitCode)  // 1 when a finding failed
/// ```
public struct RedisCheck: Sendable {
    /// How the check runs.
    public struct Options: Sendable, Hashable {
        /// How many `PING`s are timed, one after another. Default 1,000.
        public var pings: Int = 1000
        /// A p99 round trip above this is a warning. Default 10 ms.
        public var latencyWarning: Duration = .milliseconds(10)
        /// The cache's key namespace: the permission check asks about keys under it, since ACL key patterns
        /// (`~cache:*`) may allow only those. Default empty.
        public var keyPrefix: String = ""
        /// Used by ``RedisCheck/run(url:options:logger:)`` for its client: how long connecting may take.
        /// Default 1 s.
        public var connectTimeout: Duration = .seconds(1)
        /// Used by ``RedisCheck/run(url:options:logger:)`` for its client: how long a command may take.
        /// Default 1 s.
        public var commandTimeout: Duration = .seconds(1)
        /// Used by ``RedisCheck/run(url:options:logger:)`` for a `rediss://` URL: the CA, client certificate and
        /// server name, over the URL's defaults (the system's trust store). Default `nil`.
        public var tls: RedisClientConfiguration.TLS?

        public init() {}
    }

    /// The commands ``RedisCache`` sends, each of which the connection's user must be allowed to run.
    public static let cacheCommands = ["GET", "MGET", "SET", "UNLINK", "SCAN", "PING"]

    private let client: RedisClient
    private let options: Options

    /// A check over `client`, which it uses but does not close.
    public init(client: RedisClient, options: Options = Options()) {
        self.client = client
        self.options = options
    }

    /// Checks the Redis at `url` with a client of its own (one connection, ``Options/connectTimeout`` and
    /// ``Options/commandTimeout``), closed before it returns.
    ///
    /// - Parameters:
    ///   - url: `redis://[[user]:password@]host[:port][/db]`, `rediss://…` or `unix:///path`.
    ///   - options: how the check runs.
    ///   - logger: for the client's connection log lines; silent by default, the report says what matters.
    ///
    /// - Throws: ``HiredisClient/RedisClientError`` with code `invalidURL` or `invalidConfiguration` when `url`,
    ///   the timeouts or the TLS settings are not valid (TLS settings need a `rediss://` URL); an unreachable server
    ///   or a refused certificate is a failed finding, not an error.
    public static func run(
        url: String,
        options: Options = Options(),
        logger: Logger = Logger(label: "resilient-cache-check", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws(RedisClientError) -> RedisCheckReport {
        var configuration = try RedisClientConfiguration(url: url)
        if let tls = options.tls {
            guard configuration.tls != nil else {
                throw RedisClientError(.invalidConfiguration, "TLS settings need a rediss:// URL")
            }
            configuration.tls = tls
        }
        configuration.connectionCount = 1
        configuration.connectTimeout = options.connectTimeout
        configuration.commandTimeout = options.commandTimeout
        let client = try RedisClient(configuration: configuration, logger: logger)
        let report = await RedisCheck(client: client, options: options).run()
        await client.close()
        return report
    }

    /// Runs every check; never throws: what could not be checked is a finding.
    public func run() async -> RedisCheckReport {
        let endpoint = client.configuration.endpoint.description
        var report = RedisCheckReport(target: endpoint)
        let started = ContinuousClock.now
        do {
            try await client.ping()
        } catch {
            let elapsed = DurationText.format(ContinuousClock.now - started)
            report.add(
                "connection", .fail,
                "cannot reach \(endpoint) (after \(elapsed)): \(error); nothing else was checked")
            return report
        }
        report.user = await whoAmI()
        report.add("connection", .ok, "connected to \(endpoint) as user \(report.user ?? "(unknown)")")

        let server = await info("server")
        checkVersion(server, into: &report)
        await checkTopology(server, into: &report)
        await checkLatency(into: &report)
        await checkPersistence(into: &report)
        await checkMemory(into: &report)
        checkTLS(into: &report)
        await checkPermissions(into: &report)
        return report
    }

    // MARK: - The checks

    private func checkVersion(_ server: Info, into report: inout RedisCheckReport) {
        guard let version = server["redis_version"] else {
            report.add("version", .warn, "unknown (\(server.failure ?? "INFO server has no redis_version"))")
            return
        }
        report.version = version
        if let valkey = server["valkey_version"] {
            report.add("version", .ok, "Valkey \(valkey) (Redis \(version) compatible)")
        } else {
            report.add("version", .ok, "Redis \(version)")
        }
    }

    private func checkTopology(_ server: Info, into report: inout RedisCheckReport) async {
        let mode = server["redis_mode"]
        report.mode = mode
        let replication = await info("replication")
        report.role = replication["role"]
        if mode == "sentinel" {
            report.add("topology", .fail, "a Sentinel, which stores no data: point the cache at the primary it names")
            return
        }
        let cluster = await info("cluster")
        if cluster["cluster_enabled"] == "1" || mode == "cluster" {
            report.mode = "cluster"
            report.add(checkCluster: await clusterFacts())
            return
        }
        if report.role == "slave" {
            let readOnly = replication["slave_read_only"] != "0"
            report.add(
                "topology", readOnly ? .fail : .warn,
                "a replica of \(replication["master_host"] ?? "?"):\(replication["master_port"] ?? "?")"
                    + (readOnly
                        ? ", read-only: SET and UNLINK fail with READONLY; point the cache at the primary"
                        : ", writable: what the cache writes here is lost on the next full resync"))
            return
        }
        if mode == nil && report.role == nil {
            report.add("topology", .warn, "unknown (\(server.failure ?? replication.failure ?? "INFO incomplete"))")
            return
        }
        report.add("topology", .ok, "standalone" + (report.role == "master" ? " primary" : ""))
    }

    /// What `CLUSTER INFO` and `CONFIG GET cluster-require-full-coverage` say of a cluster node.
    private func clusterFacts() async -> ClusterFacts {
        var facts = ClusterFacts()
        if let reply = try? await client.send("CLUSTER", [Array("INFO".utf8)]), let text = reply.string {
            let clusterInfo = Info(text: text)
            facts.state = clusterInfo["cluster_state"]
            facts.shards = clusterInfo["cluster_size"]
            facts.nodes = clusterInfo["cluster_known_nodes"]
        }
        let setting = Array("cluster-require-full-coverage".utf8)
        if let reply = try? await client.send("CONFIG", [Array("GET".utf8), setting]),
            case .array(let values) = reply, values.count == 2
        {
            facts.requiresFullCoverage = values[1].string
        }
        return facts
    }

    private func checkLatency(into report: inout RedisCheckReport) async {
        // Microseconds up to 60 s, three significant digits.
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        let clock = ContinuousClock()
        var longest = Duration.zero
        for index in 0..<options.pings {
            let started = clock.now
            do {
                try await client.ping()
            } catch {
                report.add("latency", .fail, "PING \(index + 1) of \(options.pings) failed: \(error)")
                return
            }
            let elapsed = clock.now - started
            longest = max(longest, elapsed)
            _ = histogram.record(min(elapsed.microseconds, 60_000_000))
        }
        guard options.pings > 0 else { return }
        let latency = RedisCheckReport.Latency(
            pings: options.pings,
            p50: .microseconds(Int64(histogram.valueAtPercentile(50))),
            p99: .microseconds(Int64(histogram.valueAtPercentile(99))),
            max: longest
        )
        report.latency = latency
        let summary =
            "p50 \(DurationText.format(latency.p50)), p99 \(DurationText.format(latency.p99)), "
            + "max \(DurationText.format(latency.max)) over \(options.pings) PINGs, one at a time"
        if latency.p99 > options.latencyWarning {
            report.add(
                "latency", .warn,
                summary + ": p99 is above \(DurationText.format(options.latencyWarning)); every cache call pays "
                    + "at least this, so a cache may not be worth it, and the command timeout must be well above it")
        } else {
            report.add("latency", .ok, summary)
        }
    }

    private func checkPersistence(into report: inout RedisCheckReport) async {
        let persistence = await info("persistence")
        report.aof = persistence["aof_enabled"].map { $0 == "1" }
        var rdbText: String
        switch await configGet("save") {
        case .value(let save):
            report.rdb = !save.trimmingWhitespace().isEmpty
            rdbText = report.rdb == true ? "RDB snapshots (save \(save))" : "no RDB save points"
        case .unavailable(let why):
            // CONFIG refused: a snapshot already taken is the next best evidence.
            let saves = Int(persistence["rdb_saves"] ?? "") ?? 0
            let lastSave = persistence["rdb_last_bgsave_time_sec"] ?? "-1"
            if saves > 0 || lastSave != "-1" {
                report.rdb = true
                rdbText = "RDB snapshots were taken (save points unknown: \(why))"
            } else {
                rdbText = "RDB unknown (\(why))"
            }
        }
        let aofText: String
        switch report.aof {
        case true?: aofText = "AOF on"
        case false?: aofText = "AOF off"
        case nil: aofText = "AOF unknown (\(persistence.failure ?? "INFO persistence has no aof_enabled"))"
        }
        let facts = rdbText + ", " + aofText
        if report.rdb == true || report.aof == true {
            report.add(
                "persistence", .warn,
                "on (\(facts)): after a restart Redis loads data saved before it, so values overwritten or deleted "
                    + "since can come back (resurrected) and be served until they expire; the cache cannot detect "
                    + "that. For a cache, run without persistence (save \"\", appendonly no)")
        } else if report.rdb == false && report.aof == false {
            report.add("persistence", .ok, "off (\(facts)): a restart starts empty, nothing overwritten comes back")
        } else {
            report.add(
                "persistence", .warn,
                "unknown (\(facts)): if Redis persists, a restart can resurrect overwritten values")
        }
    }

    private func checkMemory(into report: inout RedisCheckReport) async {
        let memory = await info("memory")
        report.maxmemory = memory["maxmemory"].flatMap { Int64($0) }
        let policySource: String
        switch await configGet("maxmemory-policy") {
        case .value(let policy):
            report.maxmemoryPolicy = policy
            policySource = ""
        case .unavailable(let why):
            report.maxmemoryPolicy = memory["maxmemory_policy"]
            policySource = report.maxmemoryPolicy == nil ? "" : " (from INFO; CONFIG GET: \(why))"
            if report.maxmemoryPolicy == nil {
                report.add(
                    "memory", .warn,
                    "maxmemory \(memory["maxmemory_human"] ?? "unknown"), policy unknown (\(why); "
                        + "\(memory.failure ?? "INFO memory has no maxmemory_policy"))")
                return
            }
        }
        let policy = (report.maxmemoryPolicy ?? "") + policySource
        guard let limit = report.maxmemory else {
            report.add(
                "memory", .warn, "maxmemory unknown (\(memory.failure ?? "not in INFO memory")), policy \(policy)")
            return
        }
        let limitText = memory["maxmemory_human"].map { "\(limit) bytes (\($0))" } ?? "\(limit) bytes"
        let isNoEviction = report.maxmemoryPolicy == "noeviction"
        if limit == 0 {
            report.add(
                "memory", .warn,
                "no maxmemory limit, policy \(policy): nothing is evicted and Redis grows until the machine runs "
                    + "out of memory; for a cache set maxmemory and allkeys-lru or allkeys-lfu")
        } else if isNoEviction {
            report.add(
                "memory", .warn,
                "maxmemory \(limitText), policy noeviction: once full, every SET fails with OOM and the cache "
                    + "stops storing (the breaker counts it as an outage); a cache wants allkeys-lru or allkeys-lfu")
        } else if report.maxmemoryPolicy?.hasPrefix("volatile-") == true {
            report.add(
                "memory", .ok,
                "maxmemory \(limitText), policy \(policy): evicts only keys with a TTL, so give every cached "
                    + "value one (defaultTTL) or use allkeys-lru")
        } else {
            report.add("memory", .ok, "maxmemory \(limitText), policy \(policy)")
        }
    }

    private func checkTLS(into report: inout RedisCheckReport) {
        let endpoint = client.configuration.endpoint.description
        if let tls = client.configuration.tls {
            report.tls = true
            if tls.verifyPeer {
                report.add("tls", .ok, "on: the server's certificate and name were verified (\(tls))")
            } else {
                report.add(
                    "tls", .warn,
                    "on, but the server's certificate is not verified: anyone on the path can pose as this Redis")
            }
            return
        }
        report.tls = false
        if endpoint.hasPrefix("unix:") {
            report.add("tls", .ok, "not used: a Unix socket stays on this machine")
        } else if Self.isLoopback(endpoint) {
            report.add("tls", .ok, "not used: redis:// is plain TCP, here on loopback")
        } else {
            report.add(
                "tls", .warn,
                "not used: redis:// is plain TCP, so commands, values and the AUTH password cross the network "
                    + "unencrypted; use rediss:// or keep this Redis on a private network")
        }
    }

    private func checkPermissions(into report: inout RedisCheckReport) async {
        let key = options.keyPrefix + "resilient-cache-check:" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        var results: [RedisCheckReport.Permission]? = nil
        if let user = report.user {
            results = await dryRun(user: user, key: key)
        }
        if let results {
            report.permissionMethod = "ACL DRYRUN"
            report.permissions = results
        } else {
            report.permissionMethod = "executed"
            report.permissions = await execute(key: key)
        }
        let how = report.permissionMethod == "ACL DRYRUN" ? "ACL DRYRUN" : "ran each on a scratch key, then deleted it"
        let who = report.user.map { "user \($0)" } ?? "this connection"
        let denied = report.permissions.filter { !$0.permitted }
        if denied.isEmpty {
            report.add(
                "permissions", .ok,
                "\(who) may run \(Self.cacheCommands.joined(separator: ", ")) on \(options.keyPrefix)* (\(how))")
        } else {
            let reasons = denied.map { "\($0.command) (\($0.detail ?? "refused"))" }.joined(separator: "; ")
            report.add(
                "permissions", .fail,
                "\(who) may not run \(denied.map(\.command).joined(separator: ", ")), which the cache needs: "
                    + "\(reasons) (\(how))")
        }
    }

    // MARK: - Permissions

    /// Each cache command with the arguments the cache sends, for `ACL DRYRUN` and for running it.
    private func sampleCommands(key: String) -> [(name: String, arguments: [String])] {
        [
            ("GET", [key]),
            ("MGET", [key]),
            ("SET", [key, "resilient-cache check", "PX", "60000"]),
            ("UNLINK", [key]),
            ("SCAN", ["0", "MATCH", key, "COUNT", "10"]),
            ("PING", []),
        ]
    }

    /// `ACL DRYRUN user command args…` for each command; `nil` when the server cannot answer it (before
    /// Redis 7, or the user may not run `ACL DRYRUN`).
    private func dryRun(user: String, key: String) async -> [RedisCheckReport.Permission]? {
        var results: [RedisCheckReport.Permission] = []
        for command in sampleCommands(key: key) {
            let arguments = ["DRYRUN", user, command.name] + command.arguments
            let reply: RedisReply
            do {
                reply = try await client.send("ACL", arguments.map { Array($0.utf8) })
            } catch {
                return nil
            }
            if case .simpleString("OK") = reply {
                results.append(.init(command: command.name, permitted: true, detail: nil))
            } else {
                results.append(.init(command: command.name, permitted: false, detail: reply.string ?? "\(reply)"))
            }
        }
        return results
    }

    /// Runs each command on `key` (set with a 60 s expiry, so it goes away even if it cannot be deleted), then
    /// deletes the key.
    private func execute(key: String) async -> [RedisCheckReport.Permission] {
        var results: [RedisCheckReport.Permission] = []
        var keyExists = false
        for command in sampleCommands(key: key) {
            do {
                _ = try await client.send(command.name, command.arguments.map { Array($0.utf8) })
                if command.name == "SET" { keyExists = true }
                if command.name == "UNLINK" { keyExists = false }
                results.append(.init(command: command.name, permitted: true, detail: nil))
            } catch {
                results.append(
                    .init(command: command.name, permitted: false, detail: error.serverError?.message ?? "\(error)"))
            }
        }
        if keyExists {
            _ = try? await client.send("DEL", [Array(key.utf8)])
        }
        return results
    }

    // MARK: - Reading the server

    /// An `INFO` section as `field: value`, or why it could not be read.
    struct Info {
        var fields: [String: String] = [:]
        var failure: String?

        init(text: String) {
            for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
                guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { continue }
                fields[String(line[..<colon])] =
                    String(line[line.index(after: colon)...]).trimmingWhitespace()
                    .description
            }
        }

        init(failure: String) {
            self.failure = failure
        }

        subscript(field: String) -> String? { fields[field] }
    }

    private func info(_ section: String) async -> Info {
        do {
            return Info(text: try await client.info(section))
        } catch {
            return Info(failure: "INFO \(section) refused: " + (error.serverError?.message ?? "\(error)"))
        }
    }

    private enum ConfigValue {
        case value(String)
        case unavailable(String)
    }

    /// `CONFIG GET parameter`; a refusal (`NOPERM`, a renamed or disabled CONFIG) is a reason, not an error.
    private func configGet(_ parameter: String) async -> ConfigValue {
        do {
            let reply = try await client.send("CONFIG", [Array("GET".utf8), Array(parameter.utf8)])
            guard let pair = reply.array, pair.count == 2, let value = pair[1].string else {
                return .unavailable("CONFIG GET \(parameter) gave no value")
            }
            return .value(value)
        } catch {
            if error.serverError?.code == "NOPERM" { return .unavailable("CONFIG not permitted") }
            if error.serverError != nil { return .unavailable("CONFIG unavailable: \(error.message)") }
            return .unavailable("CONFIG GET failed: \(error)")
        }
    }

    /// `ACL WHOAMI`; `nil` before Redis 6 or when the user may not run it.
    private func whoAmI() async -> String? {
        guard let reply = try? await client.send("ACL", [Array("WHOAMI".utf8)]) else {
            return client.configuration.authentication?.username
        }
        return reply.string
    }

    // MARK: - Helpers

    static func isLoopback(_ endpoint: String) -> Bool {
        var host = Substring(endpoint)
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// A cluster node's view of its cluster, for the topology check.
struct ClusterFacts {
    var state: String?
    var shards: String?
    var nodes: String?
    /// `yes`, `no`, or `nil` when `CONFIG GET` was refused.
    var requiresFullCoverage: String?
}

extension RedisCheckReport {
    /// The topology line of a cluster: usable with `ResilientCache(cluster:)`, failing while the cluster is down,
    /// and a warning when one dead shard stops every shard from serving.
    mutating func add(checkCluster facts: ClusterFacts) {
        let summary =
            "cluster mode (cluster_state \(facts.state ?? "?"), \(facts.shards ?? "?") shards, "
            + "\(facts.nodes ?? "?") nodes)"
        guard facts.state == "ok" else {
            add("topology", .fail, summary + ": the cluster does not serve every slot now")
            return
        }
        if facts.requiresFullCoverage == "yes" {
            add(
                "topology", .warn,
                summary + ": use ResilientCache(cluster:) or (clusterURL:) with every node as a seed; "
                    + "cluster-require-full-coverage is yes, so while one shard is down the others refuse every "
                    + "key too (CLUSTERDOWN): set it to no to let the healthy shards keep serving")
            return
        }
        add("topology", .ok, summary + ": use ResilientCache(cluster:) or (clusterURL:) with every node as a seed")
    }
}
