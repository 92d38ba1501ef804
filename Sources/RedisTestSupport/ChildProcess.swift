import Foundation
import Glibc
import Synchronization

/// A process started by the test support: redis-server, or a one-shot redis-cli.
///
/// Foundation's `Process` reaps the child on its own thread and calls `terminationHandler`; this type turns
/// that into an exit status anyone can read and an `async` wait that never blocks a thread. Signals are only
/// sent while the child has not been reaped, so a recycled pid never receives them.
final class ChildProcess: Sendable {
    /// The child's process id.
    let pid: Int32
    private let process: Process
    private let exit: ExitState
    private let watchdog: Watchdog?

    private init(process: Process, exit: ExitState, watchdog: Watchdog?) {
        self.pid = process.processIdentifier
        self.process = process
        self.exit = exit
        self.watchdog = watchdog
    }

    deinit {
        // Dropping the last reference to a child that still runs kills it (see `Watchdog`).
        watchdog?.release(childExited: hasExited)
    }

    /// Launches `executable`.
    ///
    /// - Parameters:
    ///   - executable: Absolute path of the program.
    ///   - arguments: Its arguments.
    ///   - standardOutput: Where stdout and stderr go (the redis log, a capture file); `nil` discards them.
    ///   - standardError: Where stderr goes when it must be kept apart from stdout.
    ///   - killWithTestProcess: Starts a watchdog that kills the child if the test process dies first.
    ///   - crashCleanupDirectory: A directory the watchdog removes after killing the child.
    static func launch(
        executable: String,
        arguments: [String],
        standardOutput: FileHandle?,
        standardError: FileHandle? = nil,
        killWithTestProcess: Bool,
        crashCleanupDirectory: String? = nil
    ) throws -> ChildProcess {
        guard access(executable, X_OK) == 0 else {
            throw RedisTestSupportError(.commandFailed, "\(executable) is not an executable file")
        }
        let process = Process()
        // posix_spawn hands the calling thread's signal mask to the child, and the threads Swift concurrency
        // and Dispatch run on block nearly every signal: a redis-server spawned from one would keep SIGTERM
        // blocked forever, so stop() could never be graceful. Process cannot reset the mask; `env
        // --default-signal` (coreutils 8.31+) unblocks every signal, restores default handlers, then execs
        // the program in the same process, so the pid is the program's.
        process.executableURL = URL(fileURLWithPath: envPath)
        process.arguments = ["--default-signal", executable] + arguments
        // The child must never read the test's stdin (swift test may be driven by a terminal or a pipe).
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = standardOutput ?? FileHandle.nullDevice
        process.standardError = standardError ?? standardOutput ?? FileHandle.nullDevice
        let exit = ExitState()
        // Set before run(): a child that dies at once must still be seen exiting.
        process.terminationHandler = { process in
            exit.markExited(status: process.terminationStatus)
        }
        do {
            try process.run()
        } catch {
            throw RedisTestSupportError(.commandFailed, "could not launch \(executable): \(error)")
        }
        let watchdog =
            killWithTestProcess
            ? try? Watchdog.start(guarding: process.processIdentifier, cleaning: crashCleanupDirectory) : nil
        return ChildProcess(process: process, exit: exit, watchdog: watchdog)
    }

    /// Whether the child has exited and been reaped.
    var hasExited: Bool { exit.status != nil }

    /// The exit status (or terminating signal) once the child has exited.
    var terminationStatus: Int32? { exit.status }

    /// Sends `signal` to the child, unless it has already exited.
    func signal(_ signal: Int32) {
        guard !hasExited else { return }
        Glibc.kill(pid, signal)
    }

    /// The scheduler state letter from `/proc/PID/stat`: `R`, `S`, `T` (stopped)…; `nil` once gone.
    var schedulerState: Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let closing = stat.lastIndex(of: ")")
        else {
            return nil
        }
        // "PID (comm) S ...": the command name may contain spaces and parentheses, the state follows the last ")".
        return stat[closing...].dropFirst().first { $0 != " " }
    }

    /// Waits until the child has exited, for at most `timeout`; returns whether it has.
    ///
    /// Suspends instead of blocking a thread; returns early (with the current answer) on cancellation.
    func waitForExit(timeout: Duration) async -> Bool {
        if hasExited {
            return true
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.exit.wait() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return hasExited
    }

    /// Blocks the calling thread until the child has exited, for at most `timeout`; returns whether it has.
    ///
    /// For synchronous callers only (``RedisServer/cli(_:timeout:)``, teardown in `deinit`).
    func waitForExitBlocking(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !hasExited && ContinuousClock.now < deadline {
            usleep(1000)
        }
        return hasExited
    }
}

/// The exit status of a child, and the tasks waiting for it.
private final class ExitState: Sendable {
    private struct State {
        var status: Int32?
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    var status: Int32? { state.withLock { $0.status } }

    func markExited(status: Int32) {
        let waiters = state.withLock { state in
            state.status = status
            defer { state.waiters = [:] }
            return state.waiters
        }
        for waiter in waiters.values {
            waiter.resume()
        }
    }

    /// Returns once the child has exited or the task is cancelled.
    func wait() async {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.status != nil || Task.isCancelled {
                        return true
                    }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow {
                    continuation.resume()
                }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// Kills a child when the test process dies before tearing it down.
///
/// `deinit` and ``RedisServer/withServer(_:isolation:_:)`` stop servers in every normal path, but a test
/// process that crashes or is killed by a timeout runs neither, and its redis-servers would live on,
/// holding ports and memory on a shared machine. So each server gets a tiny shell that waits on a socket
/// whose other end only this process holds: when the process dies, the kernel closes that end, the shell
/// reads end-of-file, kills the server and removes its directory. A normal teardown writes a line first,
/// and the shell exits quietly.
private final class Watchdog: Sendable {
    private let writeEnd: Mutex<Int32>
    private let shell: Process

    private init(writeEnd: Int32, shell: Process) {
        self.writeEnd = Mutex(writeEnd)
        self.shell = shell
    }

    static func start(guarding pid: Int32, cleaning directory: String?) throws -> Watchdog {
        var ends: [Int32] = [-1, -1]
        // Close-on-exec on both ends: no other child (a redis-server started later) may hold the write end,
        // or the end-of-file would never come. The read end reaches the shell as its stdin via dup2.
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw Posix.failure("socketpair")
        }
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        var onEndOfFile = "kill -KILL \(pid) 2>/dev/null"
        if let directory {
            // Single-quoted for the shell, with any single quote in the path spelled '\''.
            let quoted = "'" + directory.replacingOccurrences(of: "'", with: "'\\''") + "'"
            onEndOfFile += "; rm -rf -- \(quoted)"
        }
        shell.arguments = ["-c", "read -r line || { \(onEndOfFile); }"]
        shell.standardInput = FileHandle(fileDescriptor: ends[1], closeOnDealloc: false)
        shell.standardOutput = FileHandle.nullDevice
        shell.standardError = FileHandle.nullDevice
        do {
            try shell.run()
        } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        close(ends[1])
        return Watchdog(writeEnd: ends[0], shell: shell)
    }

    /// Ends the watch: quietly when the child already exited, by killing it otherwise.
    func release(childExited: Bool) {
        writeEnd.withLock { fd in
            guard fd >= 0 else { return }
            if childExited {
                let line: [UInt8] = Array("exited\n".utf8)
                _ = line.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            close(fd)
            fd = -1
        }
    }

    deinit {
        release(childExited: false)
    }
}

/// The captured result of a one-shot command.
struct CommandOutput: Sendable {
    var status: Int32
    var standardOutput: String
    var standardError: String
}

extension ChildProcess {
    /// Runs `executable` to completion and captures its output, suspending (not blocking) while it runs.
    ///
    /// Output goes to files in `scratchDirectory` rather than pipes: a pipe must be drained while the child
    /// runs or a large reply (`INFO`, a big `GET`) fills it and both sides wait forever.
    static func run(
        executable: String,
        arguments: [String],
        scratchDirectory: String,
        timeout: Duration
    ) async throws -> CommandOutput {
        let capture = try OutputCapture(directory: scratchDirectory)
        defer { capture.remove() }
        let child = try launch(
            executable: executable,
            arguments: arguments,
            standardOutput: capture.standardOutput,
            standardError: capture.standardError,
            killWithTestProcess: false
        )
        let exited = await withTaskCancellationHandler {
            await child.waitForExit(timeout: timeout)
        } onCancel: {
            child.signal(SIGKILL)
        }
        try Task.checkCancellation()
        return try capture.result(of: child, exited: exited, executable: executable, timeout: timeout)
    }

    /// Runs `executable` to completion, blocking the calling thread while it runs.
    static func runBlocking(
        executable: String,
        arguments: [String],
        scratchDirectory: String,
        timeout: Duration
    ) throws -> CommandOutput {
        let capture = try OutputCapture(directory: scratchDirectory)
        defer { capture.remove() }
        let child = try launch(
            executable: executable,
            arguments: arguments,
            standardOutput: capture.standardOutput,
            standardError: capture.standardError,
            killWithTestProcess: false
        )
        let exited = child.waitForExitBlocking(timeout: timeout)
        return try capture.result(of: child, exited: exited, executable: executable, timeout: timeout)
    }

    private static let envPath = executablePath(named: "env")

    /// The absolute path of `name` found on `PATH`, else in the usual Debian places.
    static func executablePath(named name: String) -> String {
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = searchPath.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + name
            if access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return "/usr/bin/" + name
    }
}

/// Two temporary files receiving a command's stdout and stderr.
private struct OutputCapture {
    let outputPath: String
    let errorPath: String
    let standardOutput: FileHandle
    let standardError: FileHandle

    init(directory: String) throws {
        let stem = directory + "/cmd-" + UUID().uuidString
        outputPath = stem + ".out"
        errorPath = stem + ".err"
        standardOutput = try Self.create(outputPath)
        standardError = try Self.create(errorPath)
    }

    private static func create(_ path: String) throws -> FileHandle {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw Posix.failure("open(\(path))")
        }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    func result(of child: ChildProcess, exited: Bool, executable: String, timeout: Duration) throws -> CommandOutput {
        guard exited, let status = child.terminationStatus else {
            child.signal(SIGKILL)
            throw RedisTestSupportError(.timeout, "\(executable) did not finish within \(timeout)")
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let error = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
        return CommandOutput(status: status, standardOutput: output, standardError: error)
    }

    func remove() {
        try? standardOutput.close()
        try? standardError.close()
        unlink(outputPath)
        unlink(errorPath)
    }
}
