import HiredisClient
import Logging
import RedisTestSupport
import Testing

/// A client for `server`, closed when `body` ends (also when it throws).
func withClient<T>(
    _ server: RedisServer,
    unixSocket: Bool = false,
    logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
    configure: (inout RedisClientConfiguration) -> Void = { _ in },
    _ body: (RedisClient) async throws -> T
) async throws -> T {
    var configuration = RedisClientConfiguration(
        endpoint: unixSocket ? .unix(path: server.unixSocketPath!) : .tcp(host: "127.0.0.1", port: server.port)
    )
    if let password = server.options.password {
        configuration.authentication = .init(password: password)
    }
    configuration.commandTimeout = .milliseconds(500)
    configuration.connectTimeout = .milliseconds(500)
    configure(&configuration)
    let client = RedisClient(configuration: configuration, logger: logger)
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
