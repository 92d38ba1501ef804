import HiredisClient
import Logging
import RedisTestSupport
import ServiceLifecycle
import Testing

/// `RedisClient` as a swift-service-lifecycle `Service`: `run()` serves until a graceful shutdown or
/// cancellation, then closes the client.
///
/// The thread checks look at the whole process, so they assume no other test runs beside them
/// (`--no-parallel`, see scripts/test.sh).
@Suite(.serialized)
struct RedisClientServiceTests {
    @Test func cancellingRunClosesTheClientAndEndsItsThreads() async throws {
        try await RedisServer.withServer { server in
            let client = try RedisClient(configuration: configuration(for: server), logger: quietLogger)
            let running = Task { await client.run() }
            #expect(try await client.ping() == "PONG")
            // Two connections: two event loops (on two cores or more), and the deadline thread.
            #expect(clientThreads().count == 3, "\(ProcessThreads.names)")

            running.cancel()
            await running.value

            let code = await RedisClientError.code { try await client.ping() }
            #expect(code == .closed)
            #expect(clientThreads().isEmpty, "threads left after run() returned: \(clientThreads())")
        }
    }

    @Test func aGracefulShutdownOfTheServiceGroupClosesTheClient() async throws {
        try await RedisServer.withServer { server in
            let client = try RedisClient(configuration: configuration(for: server), logger: quietLogger)
            let group = ServiceGroup(services: [client], logger: quietLogger)
            let running = Task { try await group.run() }
            #expect(try await client.ping() == "PONG")
            // run() keeps the client open until the shutdown begins.
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await client.ping() == "PONG")

            await group.triggerGracefulShutdown()
            try await running.value

            let code = await RedisClientError.code { try await client.ping() }
            #expect(code == .closed)
            #expect(clientThreads().isEmpty, "threads left after run() returned: \(clientThreads())")
        }
    }

    private func configuration(for server: RedisServer) throws -> RedisClientConfiguration {
        var configuration = try RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port))
        configuration.connectionCount = 2
        return configuration
    }

    /// The I/O, event-loop and deadline threads of clients in this process (close() joins them before it returns).
    private func clientThreads() -> [String] {
        ProcessThreads.names.filter {
            $0.hasPrefix("redis-io-") || $0.hasPrefix("redis-loop-") || $0 == "redis-deadline"
        }
    }
}
