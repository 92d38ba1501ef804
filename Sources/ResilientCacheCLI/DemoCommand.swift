import ArgumentParser
import DemoKit
import HiredisClient
import Logging
import RedisTestSupport
import _LoadKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `resilient-cache demo`: shows the product's promise live. Parses the options and hands them to
/// ``DemoKit/DemoRunner``.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show live that a Redis outage never becomes the service's outage.",
        discussion: """
            Runs a read-mostly workload through a ResilientCache in front of Redis — by default a redis-server \
            the demo starts on a free loopback port and stops at exit — and injects faults into it on a \
            schedule. Every second it reports throughput, hit rate, latency, origin queries, degraded \
            operations, the breaker's state and the fault in force; at the end a summary with the time the \
            breaker took to open after each fault and to close after each recovery.

            Exits 1 if an error escaped the cache or a cache call overran its deadline (command timeout + \
            margin; the origin's time does not count), 130/143 when interrupted.

            Durations take a unit (us, ms, s, m); a bare number is in the unit the option names.

            Faults (--faults): TIME:FAULT,... with FAULT one of stop (SIGTERM), start (restart on the same \
            port), hang (SIGSTOP), resume (SIGCONT), kill (SIGKILL), sleep N (DEBUG SLEEP N seconds), pause N \
            (CLIENT PAUSE), client-kill N (CLIENT KILL TYPE normal, over and over for N seconds), or, through a \
            fault proxy the demo then puts in front of its server, proxy-latency N (N ms each way), \
            proxy-blackhole, proxy-reset, proxy-refuse and proxy-clear; 'none' for no faults. Default for the \
            default 30 s: 6s:hang,11s:resume,17s:stop,23s:start (scaled to --duration).

            With --cluster the demo starts a Redis Cluster instead (3 primaries with a replica each, \
            cluster-node-timeout 1s) and the cache has a breaker, a journal and a recovery loop per shard; the live \
            line shows each shard's state (and journal size when not empty). Cluster faults: kill-shard N (SIGKILL \
            to shard N's primary; a replica is promoted after 2-3 s), start-shard N (restart it; it rejoins as a \
            replica), hang-shard N, resume-shard N, and stop, start, kill, hang, resume, sleep N, pause N, \
            client-kill N on every node at once; no proxy faults. Default for 30 s: \
            6s:kill-shard 1,13s:start-shard 1,18s:hang-shard 2,24s:resume-shard 2 (scaled to --duration).
            """
    )

    @Option(
        help:
            "Use this Redis (redis://[[user]:password@]host[:port][/db], rediss://… for TLS, unix:///path) instead of starting one. Inject faults by hand then, e.g. `docker compose stop redis`."
    )
    var redis: String?

    @Flag(
        help:
            "Start a local Redis Cluster (3 primaries, 3 replicas) instead of one redis-server, and kill and hang shards' primaries."
    )
    var cluster = false

    @Option(
        help: ArgumentHelp(
            "Use this Redis Cluster (redis://[[user]:password@]host1:port1,host2:port2,...) instead of starting one. Inject faults by hand then, e.g. `docker compose stop redis-node-1`.",
            valueName: "url"))
    var redisCluster: String?

    @Flag(help: "Start the embedded redis-server with TLS only, on certificates the demo makes (needs openssl).")
    var tls = false

    @OptionGroup var tlsOptions: TLSOptions

    @Option(help: "Concurrent callers.")
    var concurrency: Int = 50

    @Option(help: ArgumentHelp("How long the workload runs (seconds unless a unit is given).", valueName: "duration"))
    var duration: String = "30s"

    @Option(help: "Distinct keys, Zipf-skewed.")
    var keys: Int = 1000

    @Option(
        help: ArgumentHelp(
            "How long the simulated origin query behind the cache takes (ms unless a unit is given).",
            valueName: "duration"))
    var originLatency: String = "20ms"

    @Option(
        help: ArgumentHelp(
            "The Redis client's deadline per command (ms unless a unit is given).", valueName: "duration"))
    var commandTimeout: String = "100ms"

    @Option(
        help: ArgumentHelp(
            "The longest the breaker stays open; the cache probes Redis every 100-250 ms meanwhile and lets calls "
                + "through as soon as it answers (seconds unless a unit is given).", valueName: "duration"))
    var openDuration: String = "2s"

    @Option(
        help: ArgumentHelp(
            "What a cache call may take beyond --command-timeout before it counts as an overrun (ms unless a unit is given).",
            valueName: "duration"))
    var deadlineMargin: String = "100ms"

    @Option(
        help: ArgumentHelp(
            "Faults to inject into the demo's own server, e.g. \"5s:hang,12s:resume,20s:stop,26s:start\" or none.",
            valueName: "schedule"))
    var faults: String?

    @Flag(
        help: "Print one JSON object per second on stdout (and the summary as the last one) instead of the live report."
    )
    var json = false

    @Option(help: ArgumentHelp("Write a timeline picture of the run (SVG) to this path.", valueName: "path"))
    var plot: String?

    @Flag(help: "Show the cache's and the client's own log lines on stderr.")
    var verbose = false

    func validate() throws {
        _ = try makeConfiguration()
    }

    func run() async throws {
        var configuration = try makeConfiguration()
        var logger = Logger(label: "resilient-cache", factory: { _ in SwiftLogNoOpLogHandler() })
        if verbose {
            logger = Logger(label: "resilient-cache", factory: { StreamLogHandler.standardError(label: $0) })
            logger.logLevel = .info
        }
        let reporter: any DemoReporter = json ? JSONLinesReport() : ConsoleReport()
        var options = RedisServer.Options(enableDebugCommand: true)
        let certificates = tls ? try await TestCertificates.generate() : nil
        defer { certificates?.remove() }
        if let certificates {
            options.tls = .init(certificates: certificates)
            configuration.tls = .init(caFile: certificates.caFile)
        }
        let runner = DemoRunner(
            configuration: configuration,
            reporter: reporter,
            logger: logger,
            startCluster: { configuration in
                let cluster = try await RedisCluster.start(
                    primaries: configuration.clusterShards,
                    replicasPerPrimary: 1,
                    nodeTimeout: configuration.clusterNodeTimeout
                )
                return DemoRunner.StartedCluster(target: cluster, seedURL: cluster.seedURL)
            },
            startServer: { [options] proxy in
                try await RedisTestbed.start(options, proxy: proxy)
            }
        )
        let running = Task { try await runner.run() }
        let trap = SignalTrap { _ in running.cancel() }
        let result: DemoResult
        do {
            result = try await running.value
        } catch is CancellationError {
            throw ExitCode(128 + (trap.caught ?? SIGINT))
        }
        if let plot {
            try TimelinePlot(result: result).write(to: plot)
            if !json { print("timeline written to \(plot)") }
        }
        if !result.passed { throw ExitCode.failure }
        if result.interrupted { throw ExitCode(128 + (trap.caught ?? SIGINT)) }
    }

    private func makeConfiguration() throws -> DemoConfiguration {
        var configuration = DemoConfiguration()
        configuration.redisURL = redis
        configuration.cluster = cluster
        configuration.redisClusterURL = redisCluster
        if tls && redis != nil {
            throw ValidationError(
                "--tls starts the embedded server with TLS; for your own server use --redis rediss://…")
        }
        if tls && (cluster || redisCluster != nil) {
            throw ValidationError("--tls starts one redis-server with TLS; the demo's cluster runs without TLS")
        }
        if let settings = try tlsOptions.settings() { configuration.tls = settings }
        configuration.concurrency = concurrency
        configuration.keys = keys
        configuration.duration = try parse(duration, option: "--duration", unit: .seconds)
        configuration.originLatency = try parse(originLatency, option: "--origin-latency", unit: .milliseconds)
        configuration.commandTimeout = try parse(commandTimeout, option: "--command-timeout", unit: .milliseconds)
        configuration.openDuration = try parse(openDuration, option: "--open-duration", unit: .seconds)
        configuration.deadlineMargin = try parse(deadlineMargin, option: "--deadline-margin", unit: .milliseconds)
        if let faults {
            do {
                configuration.faults = try FaultSchedule(parsing: faults)
            } catch {
                throw ValidationError("--faults: \(error)")
            }
        } else {
            configuration.faults = FaultSchedule.default(for: configuration)
        }
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.message)
        }
        return configuration
    }

    private func parse(_ text: String, option: String, unit: DurationText.Unit) throws -> Duration {
        do {
            return try DurationText.parse(text, defaultUnit: unit)
        } catch {
            throw ValidationError("\(option): \(error.message)")
        }
    }
}
