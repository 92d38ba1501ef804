import Foundation
import HiredisClient
import Logging
import RedisTestSupport
import Testing

/// A logger that drops everything.
let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// A client for `server`, closed when `body` ends (also when it throws).
func withClient<T>(
    _ server: RedisServer,
    unixSocket: Bool = false,
    logger: Logger = quietLogger,
    configure: (inout RedisClientConfiguration) -> Void = { _ in },
    _ body: (RedisClient) async throws -> T
) async throws -> T {
    var configuration = try RedisClientConfiguration(
        endpoint: unixSocket ? .unix(path: server.unixSocketPath!) : .tcp(host: "127.0.0.1", port: server.port)
    )
    if let password = server.options.password {
        configuration.authentication = .init(password: password)
    }
    configuration.commandTimeout = .milliseconds(500)
    configuration.connectTimeout = .milliseconds(500)
    configure(&configuration)
    let client = try RedisClient(configuration: configuration, logger: logger)
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}

/// Runs `body` and returns how long it took.
func measure(_ body: () async throws -> Void) async rethrows -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    try await body()
    return clock.now - start
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

extension RedisClientError {
    /// The code of the error `body` throws, `nil` when it succeeds.
    static func code(of body: () async throws -> Void) async -> RedisClientError.Code? {
        await caught(body)?.code
    }

    /// The error `body` throws, `nil` when it succeeds; records an issue for an error of another type.
    static func caught(_ body: () async throws -> Void) async -> RedisClientError? {
        do {
            try await body()
            return nil
        } catch let error as RedisClientError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }
}

/// The threads of this process, from `/proc/self/task` (Linux).
enum ProcessThreads {
    /// How many threads the process has now.
    static var count: Int { taskIDs.count }

    /// The names of the process's threads (`/proc/self/task/<tid>/comm`), for the threads that still exist.
    static var names: [String] {
        taskIDs.compactMap { id in
            guard let comm = try? String(contentsOfFile: "/proc/self/task/\(id)/comm", encoding: .utf8) else {
                return nil
            }
            return comm.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    private static var taskIDs: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    }

    /// Polls until the process has at most `limit` threads, for up to `timeout`; returns the last count.
    static func waitForCount(atMost limit: Int, timeout: Duration = .seconds(5)) async throws -> Int {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var current = count
        while current > limit, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            current = count
        }
        return current
    }
}
