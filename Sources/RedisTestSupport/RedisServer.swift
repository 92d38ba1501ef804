import Foundation
import Glibc
import Synchronization

/// A real `redis-server` process on a free loopback port, started for one test and torn down after it.
///
/// Tests talk to a real server, never to a shared one: each `RedisServer` runs its own process with its
/// own temporary directory (its name contains `resilient-cache-test`), on a port the kernel reported free
/// (never 6379), without persistence. Faults are real too: ``stop()`` sends SIGTERM, ``kill()`` SIGKILL,
/// ``hang()`` SIGSTOP, ``restart()`` brings a fresh process up on the same port, and ``cli(_:timeout:)``
/// runs `redis-cli` against it for anything else (`DEBUG SLEEP`, `CLIENT PAUSE`, `CLIENT KILL`, `CONFIG SET`).
///
/// Prefer ``withServer(_:isolation:_:)``, which shuts the server down however the test ends. ``shutdown()``
/// does it by hand and `deinit` as a last resort; a watchdog kills the server even if the test process
/// crashes. A `RedisServer` only ever signals or connects to the process it started.
///
/// ```swift
/// @Test func getReturnsNilWhileRedisIsHung() async throws {
///     try await RedisServer.withServer { server in
///         let cache = try await makeCache(url: server.url)
///         server.hang()
///         #expect(await cache.get("key") == nil)
///         server.resume()
///     }
/// }
/// ```
///
/// The fault methods are meant to be called by one task at a time, as a test does.
public final class RedisServer: Sendable {
    /// The loopback port the server listens on; it stays the same across ``restart()``.
    public let port: Int
    /// The address the server listens on, always `127.0.0.1`.
    public let host: String = "127.0.0.1"
    /// The options the server was started with.
    public let options: Options
    /// The Unix socket path when ``Options-swift.struct/unixSocket`` is set, else `nil`.
    public let unixSocketPath: String?
    /// The server's private temporary directory (working directory, log, Unix socket); removed at shutdown.
    public let directory: String
    /// The cluster bus port when ``Options-swift.struct/clusterEnabled`` is set, else `nil`; it stays the same
    /// across ``restart()``, like ``port``.
    public let clusterBusPort: Int?
    /// The TLS port when ``Options-swift.struct/tls`` is set, else `nil`; it stays the same across ``restart()``.
    public let tlsPort: Int?

    /// The name of the log file in ``directory``.
    static let logFileName = "redis.log"
    /// How long a process may take to answer after launch before the start counts as failed.
    private static let readinessTimeout: Duration = .seconds(10)
    /// How many ports ``start(_:)`` tries when others keep taking them first.
    private static let portAttempts = 5
    /// How long ``restart()`` waits for the old process's port to be bindable again.
    private static let rebindTimeout: Duration = .seconds(10)

    private struct State {
        /// The current process, or the last one if it was stopped or killed.
        var process: ChildProcess
        var isHung = false
        var isShutDown = false
    }

    private let state: Mutex<State>

    private init(
        port: Int,
        clusterBusPort: Int?,
        tlsPort: Int?,
        options: Options,
        directory: String,
        unixSocketPath: String?,
        process: ChildProcess
    ) {
        self.port = port
        self.clusterBusPort = clusterBusPort
        self.tlsPort = tlsPort
        self.options = options
        self.directory = directory
        self.unixSocketPath = unixSocketPath
        self.state = Mutex(State(process: process))
    }

    deinit {
        // The last resort when a test forgot shutdown(): stop the process and clean the directory here,
        // blocking only for the moment a SIGKILLed process takes to be reaped.
        let (process, isShutDown) = state.withLock { ($0.process, $0.isShutDown) }
        if !isShutDown {
            process.signal(SIGKILL)
            _ = process.waitForExitBlocking(timeout: .seconds(2))
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    // MARK: - Starting

    /// Starts a redis-server on a free loopback port and returns once it answers `PING`.
    ///
    /// The port comes from binding a socket to 127.0.0.1:0 (6379 is never used). Another process may take
    /// it before redis-server binds it; the server then exits with "Address already in use" and the start
    /// is retried on another port, a few times. Readiness means the log says "Ready to accept connections"
    /// (so the listening socket is this server's, not an intruder's) and the port answers `PING` with
    /// `PONG`, or with `NOAUTH` when a password is set.
    ///
    /// ```swift
    /// let server = try await RedisServer.start(.init(password: "secret"))
    /// // ... test against server.url ...
    /// await server.shutdown()
    /// ```
    ///
    /// - Parameter options: How to configure the server.
    /// - Returns: The running server. Call ``shutdown()`` when done, or use ``withServer(_:isolation:_:)``.
    /// - Throws: ``RedisTestSupportError`` with code `serverStartFailed` and the tail of `redis.log` when
    ///   the server exits or does not answer within 10 seconds.
    public static func start(_ options: Options = .init()) async throws -> RedisServer {
        let directory = try makeDirectory()
        let unixSocketPath = options.unixSocket ? directory + "/redis.sock" : nil
        do {
            var lastLog = ""
            for _ in 0..<portAttempts {
                let port = try Posix.freeLoopbackPort()
                var clusterBusPort: Int?
                if options.clusterEnabled {
                    clusterBusPort = try Posix.freeLoopbackPort()
                    // Two sockets closed in turn may get the same port; the next attempt draws again.
                    guard clusterBusPort != port else { continue }
                }
                var tlsPort: Int?
                if options.tls != nil {
                    tlsPort = try Posix.freeLoopbackPort()
                    guard tlsPort != port, tlsPort != clusterBusPort else { continue }
                }
                switch try await launch(
                    port: port,
                    clusterBusPort: clusterBusPort,
                    tlsPort: tlsPort,
                    directory: directory,
                    options: options,
                    unixSocketPath: unixSocketPath
                ) {
                case .ready(let process):
                    return RedisServer(
                        port: port,
                        clusterBusPort: clusterBusPort,
                        tlsPort: tlsPort,
                        options: options,
                        directory: directory,
                        unixSocketPath: unixSocketPath,
                        process: process
                    )
                case .addressInUse(let log):
                    lastLog = log
                }
            }
            throw RedisTestSupportError(
                .serverStartFailed,
                "\(portAttempts) free ports were taken before redis-server could bind them; last log:\n\(lastLog)"
            )
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// Starts a server, runs `body` with it and shuts the server down, also when `body` throws.
    ///
    /// ```swift
    /// @Test func setThenGet() async throws {
    ///     try await RedisServer.withServer(.init(maxmemory: "1mb", maxmemoryPolicy: "noeviction")) { server in
    ///         _ = try await server.cliAsync("SET", "key", "value")
    ///         #expect(try await server.cliAsync("GET", "key") == "value")
    ///     }
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - options: How to configure the server.
    ///   - isolation: The caller's actor, inherited so `body` may touch its state.
    ///   - body: The test; the server is shut down when it returns or throws.
    /// - Returns: What `body` returns.
    public static func withServer<T>(
        _ options: Options = .init(),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisServer) async throws -> T
    ) async throws -> T {
        let server = try await start(options)
        do {
            let result = try await body(server)
            await server.shutdown()
            return result
        } catch {
            await server.shutdown()
            throw error
        }
    }

    // MARK: - Properties

    /// The id of the current redis-server process (of the last one, after ``stop()`` or ``kill()``).
    public var pid: Int32 { state.withLock { $0.process.pid } }

    /// Whether the redis-server process exists; also `true` while it is hung.
    public var isRunning: Bool { state.withLock { !$0.isShutDown && !$0.process.hasExited } }

    /// Whether the process was stopped with ``hang()`` and not resumed.
    public var isHung: Bool { state.withLock { $0.isHung } }

    /// `redis://127.0.0.1:PORT`, or `redis://:PASSWORD@127.0.0.1:PORT` with a password (percent-encoded).
    public var url: String { url(host: host, port: port) }

    /// The URL of `host`:`port` with this server's password, for a proxy in front of it.
    func url(host: String, port: Int) -> String {
        guard let password = options.password else {
            return "redis://\(host):\(port)"
        }
        let encoded = password.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? password
        return "redis://:\(encoded)@\(host):\(port)"
    }

    /// `rediss://127.0.0.1:TLSPORT` (with the password, as ``url``) when the server listens for TLS, else `nil`.
    public var tlsURL: String? {
        guard let tlsPort else { return nil }
        return "rediss://" + url(host: host, port: tlsPort).dropFirst("redis://".count)
    }

    /// The path of the server's log file.
    public var logPath: String { directory + "/" + Self.logFileName }

    // MARK: - Faults

    /// Stops the server with SIGTERM and waits until the process has exited.
    ///
    /// Redis shuts down cleanly: clients see their connections closed, new connections are refused.
    /// A hung server is continued so it can act on the signal; one that does not exit within 10 seconds
    /// is killed. ``restart()`` brings a server back on the same port. Does nothing if the server is not running.
    public func stop() async {
        await Self.terminate(currentProcess, gracefully: true)
        state.withLock { $0.isHung = false }
    }

    /// Kills the server with SIGKILL, as a crash or an OOM killer would, and waits until it has exited.
    ///
    /// Clients see their connections reset or closed, new connections are refused.
    /// Does nothing if the server is not running.
    public func kill() async {
        await Self.terminate(currentProcess, gracefully: false)
        state.withLock { $0.isHung = false }
    }

    /// Freezes the server with SIGSTOP: connections stay open and connects still succeed (the kernel
    /// completes them), but nothing is ever answered until ``resume()``.
    ///
    /// Returns once the kernel reports the process stopped, so the next line of the test talks to a hung
    /// server. Does nothing if the server is not running.
    public func hang() {
        let process = currentProcess
        guard !process.hasExited else { return }
        process.signal(SIGSTOP)
        Self.waitForSchedulerState(of: process) { $0 == "T" }
        state.withLock { $0.isHung = true }
    }

    /// Continues a server frozen by ``hang()`` with SIGCONT; it then answers what was sent meanwhile.
    public func resume() {
        let process = currentProcess
        guard !process.hasExited else { return }
        process.signal(SIGCONT)
        Self.waitForSchedulerState(of: process) { $0 != "T" }
        state.withLock { $0.isHung = false }
    }

    /// Starts a fresh redis-server process on the same port with the same options, and waits until it answers.
    ///
    /// A running server is stopped first (SIGTERM), a hung one killed (SIGKILL). Also brings a server back
    /// after ``stop()`` or ``kill()``. The new process starts empty: nothing is persisted. It runs in the same
    /// directory, so a cluster node keeps its `nodes.conf` (its node id, its bus port) and rejoins. The port may
    /// stay taken for a moment, so binding is retried for up to 10 seconds.
    ///
    /// ```swift
    /// await server.kill()
    /// // ... the cache degrades ...
    /// try await server.restart()
    /// // ... the cache recovers, on the same URL ...
    /// ```
    ///
    /// - Throws: ``RedisTestSupportError`` with code `serverShutDown` after ``shutdown()``,
    ///   `serverStartFailed` (with the log tail) if the new process does not come up.
    public func restart() async throws {
        let (previous, wasHung) = try state.withLock { state throws(RedisTestSupportError) in
            guard !state.isShutDown else {
                throw RedisTestSupportError(.serverShutDown, "the server on port \(port) was shut down")
            }
            return (state.process, state.isHung)
        }
        await Self.terminate(previous, gracefully: !wasHung)
        state.withLock { $0.isHung = false }

        let deadline = ContinuousClock.now + Self.rebindTimeout
        while true {
            switch try await Self.launch(
                port: port,
                clusterBusPort: clusterBusPort,
                tlsPort: tlsPort,
                directory: directory,
                options: options,
                unixSocketPath: unixSocketPath
            ) {
            case .ready(let process):
                let adopted = state.withLock { state in
                    guard !state.isShutDown else { return false }
                    state.process = process
                    return true
                }
                guard adopted else {
                    // shutdown() ran while this process was starting: it must not outlive the server.
                    await Self.terminate(process, gracefully: false)
                    throw RedisTestSupportError(.serverShutDown, "the server on port \(port) was shut down")
                }
                return
            case .addressInUse(let log):
                guard ContinuousClock.now < deadline else {
                    throw RedisTestSupportError(
                        .serverStartFailed,
                        "port \(port) stayed in use for \(Self.rebindTimeout); last log:\n\(log)"
                    )
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Tears the server down for good: kills the process, waits for it and removes its directory.
    ///
    /// Idempotent; later calls return at once. SIGKILL rather than SIGTERM because nothing needs saving and
    /// it also ends a hung (stopped) process without continuing it first. ``withServer(_:isolation:_:)``
    /// calls this for you.
    public func shutdown() async {
        let process = state.withLock { state -> ChildProcess? in
            guard !state.isShutDown else { return nil }
            state.isShutDown = true
            state.isHung = false
            return state.process
        }
        guard let process else { return }
        await Self.terminate(process, gracefully: false)
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: - redis-cli

    /// Runs `redis-cli` against the server and returns its output; blocks the calling thread for the run.
    ///
    /// Authenticates with the server's password when it has one. Replies come in redis-cli's non-terminal
    /// format: `PONG`, `OK`, an integer as digits, an error as its message (`OOM command not allowed...`),
    /// with trailing newlines removed. An error reply is output, not a thrown error.
    /// Prefer ``cliAsync(_:timeout:)`` in `async` code.
    ///
    /// ```swift
    /// let keys = try server.cli("DBSIZE")
    /// ```
    ///
    /// - Parameters:
    ///   - arguments: The command and its arguments, one per argument (no shell quoting needed).
    ///   - timeout: The bound for the whole run; redis-cli waits forever on a hung server.
    /// - Throws: ``RedisTestSupportError`` with code `commandFailed` (with redis-cli's stderr) when it
    ///   could not run the command (server down), `timeout`, or `serverShutDown`.
    public func cli(_ arguments: String..., timeout: Duration = .seconds(30)) throws -> String {
        let output = try ChildProcess.runBlocking(
            executable: Self.redisCLIPath,
            arguments: try cliArguments(arguments),
            scratchDirectory: directory,
            timeout: timeout
        )
        return try Self.cliResult(output, arguments: arguments)
    }

    /// Runs `redis-cli` against the server and returns its output, suspending (not blocking) while it runs.
    ///
    /// The same as ``cli(_:timeout:)``, but waits on the process exit without holding a thread of the
    /// cooperative pool; cancelling the task kills redis-cli.
    ///
    /// ```swift
    /// _ = try await server.cliAsync("CONFIG", "SET", "maxmemory", "1mb")
    /// let stats = try await server.cliAsync("INFO", "stats")
    /// ```
    public func cliAsync(_ arguments: String..., timeout: Duration = .seconds(30)) async throws -> String {
        let output = try await ChildProcess.run(
            executable: Self.redisCLIPath,
            arguments: try cliArguments(arguments),
            scratchDirectory: directory,
            timeout: timeout
        )
        return try Self.cliResult(output, arguments: arguments)
    }

    private func cliArguments(_ arguments: [String]) throws(RedisTestSupportError) -> [String] {
        guard !state.withLock({ $0.isShutDown }) else {
            throw RedisTestSupportError(.serverShutDown, "the server on port \(port) was shut down")
        }
        var command = ["-h", host, "-p", String(port)]
        if let password = options.password {
            command += ["-a", password]
        }
        return command + ["--no-auth-warning"] + arguments
    }

    private static func cliResult(_ output: CommandOutput, arguments: [String]) throws -> String {
        guard output.status == 0 else {
            throw RedisTestSupportError(
                .commandFailed,
                "redis-cli \(arguments.joined(separator: " ")) exited with status \(output.status): "
                    + (output.standardError + output.standardOutput).trimmingCharacters(in: .whitespacesAndNewlines)
            )
        }
        var text = output.standardOutput
        while text.hasSuffix("\n") {
            text.removeLast()
        }
        return text
    }

    // MARK: - Process management

    private static let redisServerPath = ChildProcess.executablePath(named: "redis-server")
    private static let redisCLIPath = ChildProcess.executablePath(named: "redis-cli")

    private var currentProcess: ChildProcess { state.withLock { $0.process } }

    private enum LaunchOutcome {
        /// The process is up and answering on the port.
        case ready(ChildProcess)
        /// Something else holds the port; the process has exited. Carries the log tail.
        case addressInUse(String)
    }

    /// Launches one redis-server process on `port` and waits until it is ready or has failed.
    private static func launch(
        port: Int,
        clusterBusPort: Int?,
        tlsPort: Int?,
        directory: String,
        options: Options,
        unixSocketPath: String?
    ) async throws -> LaunchOutcome {
        let logPath = directory + "/" + logFileName
        // Restarts append to the same log; only what this process writes decides its fate.
        let logOffset = (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? UInt64) ?? 0
        // redis-server writes its own log, but a fatal configuration error goes to stderr before the log is
        // open: send stdout and stderr to the same file (O_APPEND keeps the two writers from overwriting).
        let logDescriptor = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard logDescriptor >= 0 else {
            throw Posix.failure("open(\(logPath))")
        }
        // The child has its own copy once launched; this process never writes to the log.
        defer { close(logDescriptor) }
        let process = try ChildProcess.launch(
            executable: redisServerPath,
            arguments: options.arguments(
                port: port,
                directory: directory,
                unixSocketPath: unixSocketPath,
                clusterBusPort: clusterBusPort,
                tlsPort: tlsPort
            ),
            standardOutput: FileHandle(fileDescriptor: logDescriptor, closeOnDealloc: false),
            killWithTestProcess: true,
            crashCleanupDirectory: directory
        )
        let deadline = ContinuousClock.now + readinessTimeout
        do {
            while true {
                let log = readLog(logPath, from: logOffset)
                if process.hasExited {
                    if log.contains("Address already in use") {
                        return .addressInUse(tail(of: log))
                    }
                    throw RedisTestSupportError(
                        .serverStartFailed,
                        "redis-server on port \(port) exited with status \(process.terminationStatus ?? -1) "
                            + "before it was ready; log:\n\(tail(of: log))"
                    )
                }
                // The log line first: a PING alone could be answered by whatever took the port while this
                // process was failing to bind it, and a test must never talk to a server it did not start.
                if log.contains("Ready to accept connections"), await answersPing(port: port) {
                    return .ready(process)
                }
                guard ContinuousClock.now < deadline else {
                    throw RedisTestSupportError(
                        .serverStartFailed,
                        "redis-server on port \(port) did not answer PING within \(readinessTimeout); log:\n"
                            + tail(of: log)
                    )
                }
                try await Task.sleep(for: .milliseconds(10))
            }
        } catch {
            // Timed out, failed or cancelled: the half-started process must not be left behind.
            await terminate(process, gracefully: false)
            throw error
        }
    }

    /// Whether the port answers a `PING` (with `PONG`, or `NOAUTH` when a password is required).
    private static func answersPing(port: Int) async -> Bool {
        guard let connection = try? await RawConnection.connect(port: port, timeout: .milliseconds(500)) else {
            return false
        }
        defer { connection.close() }
        switch try? await connection.command("PING", timeout: .seconds(1)) {
        case .simpleString("PONG"):
            return true
        case .error(let message):
            // LOADING means not ready yet; NOAUTH means ready but locked.
            return message.hasPrefix("NOAUTH")
        default:
            return false
        }
    }

    /// Ends `process`: SIGTERM (continuing it, in case it is hung) with SIGKILL after 10 s, or SIGKILL at once.
    private static func terminate(_ process: ChildProcess, gracefully: Bool) async {
        guard !process.hasExited else { return }
        if gracefully {
            process.signal(SIGTERM)
            // A stopped process keeps SIGTERM pending until it runs again.
            process.signal(SIGCONT)
            if await process.waitForExit(timeout: .seconds(10)) {
                return
            }
        }
        // SIGKILL ends a stopped process too; no SIGCONT needed.
        process.signal(SIGKILL)
        _ = await process.waitForExit(timeout: .seconds(10))
    }

    /// Polls `/proc` until the process's state satisfies `condition` (at most a second: signals take effect
    /// within microseconds, but `kill(2)` returns before they do).
    private static func waitForSchedulerState(of process: ChildProcess, _ condition: (Character) -> Bool) {
        let deadline = ContinuousClock.now + .seconds(1)
        while let current = process.schedulerState, !condition(current), ContinuousClock.now < deadline {
            usleep(100)
        }
    }

    /// A fresh private directory whose name says what it is, so a leftover one is easy to attribute.
    private static func makeDirectory() throws -> String {
        var base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        while base.count > 1 && base.hasSuffix("/") {
            base.removeLast()
        }
        // A Unix socket path must fit in 108 bytes: a long TMPDIR would leave no room for redis.sock.
        if base.utf8.count > 64 || base.isEmpty {
            base = "/tmp"
        }
        var template = Array((base + "/resilient-cache-test-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let created else {
            throw Posix.failure("mkdtemp(\(base))")
        }
        return String(cString: created)
    }

    private static func readLog(_ path: String, from offset: UInt64) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.readToEnd() else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    private static func tail(of log: String, lines: Int = 20) -> String {
        log.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}
