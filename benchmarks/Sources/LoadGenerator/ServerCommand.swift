import ArgumentParser
import Dispatch
import Foundation
import RedisTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A redis-server for a suite's runs, started by the server harness (free loopback port, never 6379, no
/// persistence, killed by the harness's watchdog if this process dies), so the suites start Redis the way the tests
/// and the demo do. Writes the port to a file once the server answers; shuts it down on SIGTERM or SIGINT.
///
/// ```sh
/// LoadGenerator server --port-file "$dir/port" &
/// ```
struct Server: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a redis-server through the test harness and keep it until SIGTERM or SIGINT."
    )

    @Option(help: "Where to write the server's port once it answers (the file appears whole).")
    var portFile: String

    func run() async throws {
        // Caught before the server starts: a stop that comes early still shuts it down.
        let stop = SignalWaiter([SIGTERM, SIGINT])
        let server = try await RedisServer.start()
        do {
            try String(server.port).write(toFile: portFile, atomically: true, encoding: .utf8)
        } catch {
            await server.shutdown()
            throw error
        }
        await stop.wait()
        await server.shutdown()
    }
}

/// Turns the first of some signals into the end of a wait.
private final class SignalWaiter: Sendable {
    // DispatchSource is thread-safe; the array is written only in init.
    private nonisolated(unsafe) let sources: [any DispatchSourceSignal]
    private let signals: AsyncStream<Int32>

    init(_ numbers: [Int32]) {
        let (signals, continuation) = AsyncStream<Int32>.makeStream()
        self.signals = signals
        self.sources = numbers.map { number in
            // Dispatch sees the signal only if its default action (terminate) is off.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    func wait() async {
        for await _ in signals { return }
    }

    deinit {
        for source in sources { source.cancel() }
    }
}
