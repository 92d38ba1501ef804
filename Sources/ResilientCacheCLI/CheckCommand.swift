import ArgumentParser
import DemoKit
import HiredisClient
import Logging
import _LoadKit

/// `resilient-cache check`: what an operator runs before pointing a service at a Redis. Parses the options and
/// hands them to ``DemoKit/RedisCheck``.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check whether a Redis is fit to back the cache, before a service is pointed at it.",
        discussion: """
            Connects to the Redis at --redis and reports its version, the round-trip latency (p50/p99 of \
            1,000 PINGs sent one at a time), standalone or cluster, persistence (RDB/AOF: a snapshot loaded on \
            restart can resurrect overwritten values), maxmemory and its policy (noeviction is a warning for a \
            cache), TLS (on with rediss://, and whether the certificate is verified), and whether the connection's user may \
            run every command the cache sends (GET, MGET, SET, UNLINK, SCAN, PING) — asked with ACL DRYRUN where \
            the server has it, otherwise run on one scratch key that is deleted afterwards.

            Each finding is ok, warn or fail. Exits 0 when nothing failed (warnings included), 1 when something \
            failed (unreachable, a command not permitted, a cluster that does not serve every slot, a read-only replica), 2 on bad arguments.
            """
    )

    @Option(
        help: ArgumentHelp(
            "The Redis to check: redis://[[user]:password@]host[:port][/db], rediss://… (TLS) or unix:///path.",
            valueName: "url"))
    var redis: String

    @OptionGroup var tlsOptions: TLSOptions

    @Flag(help: "Print one JSON object instead of the report.")
    var json = false

    @Option(help: "How many PINGs are timed.")
    var pings: Int = 1000

    @Option(
        help: ArgumentHelp(
            "A p99 round trip above this is a warning (ms unless a unit is given).", valueName: "duration"))
    var latencyWarning: String = "10ms"

    @Option(
        help: ArgumentHelp(
            "How long connecting, and then each command, may take (ms unless a unit is given).",
            valueName: "duration"))
    var timeout: String = "1000ms"

    @Option(
        help: ArgumentHelp(
            "The cache's key namespace: permissions are checked for keys under it (ACL key patterns).",
            valueName: "prefix"))
    var keyPrefix: String = ""

    @Flag(help: "Show the client's own log lines on stderr.")
    var verbose = false

    func validate() throws {
        _ = try makeOptions()
    }

    func run() async throws {
        let options = try makeOptions()
        var logger = Logger(label: "resilient-cache", factory: { _ in SwiftLogNoOpLogHandler() })
        if verbose {
            logger = Logger(label: "resilient-cache", factory: { StreamLogHandler.standardError(label: $0) })
            logger.logLevel = .info
        }
        let report: RedisCheckReport
        do {
            report = try await RedisCheck.run(url: redis, options: options, logger: logger)
        } catch {
            throw ValidationError("--redis: \(error)")
        }
        print(json ? report.json : report.text)
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }

    private func makeOptions() throws -> RedisCheck.Options {
        var options = RedisCheck.Options()
        guard pings >= 1 && pings <= 1_000_000 else { throw ValidationError("--pings must be 1...1000000") }
        options.pings = pings
        options.keyPrefix = keyPrefix
        options.latencyWarning = try parse(latencyWarning, option: "--latency-warning")
        let timeout = try parse(timeout, option: "--timeout")
        guard timeout > .zero else { throw ValidationError("--timeout must be positive") }
        options.connectTimeout = timeout
        options.commandTimeout = timeout
        if let settings = try tlsOptions.settings() { options.tls = settings }
        return options
    }

    private func parse(_ text: String, option: String) throws -> Duration {
        do {
            return try DurationText.parse(text, defaultUnit: .milliseconds)
        } catch {
            throw ValidationError("\(option): \(error.message)")
        }
    }
}
