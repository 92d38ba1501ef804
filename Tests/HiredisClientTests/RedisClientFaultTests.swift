import HiredisClient
import InMemoryLogging
import Logging
import RedisTestSupport
import Testing

/// Deadlines, outages, reconnection, cancellation and shutdown, with faults injected into a real server.
struct RedisClientFaultTests {
    @Test func aHungServerTimesOutWithinTheDeadline() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server, configure: { $0.commandTimeout = .milliseconds(300) }) {
                (client: RedisClient) async throws in
                #expect(try await client.ping() == "PONG")
                server.hang()
                defer { server.resume() }
                let elapsed = await measure {
                    let code = await RedisClientError.code { _ = try await client.get("k") }
                    #expect(code == .timeout)
                }
                #expect(elapsed >= .milliseconds(290))
                #expect(elapsed < .milliseconds(400), "deadline 300 ms + 100 ms margin, took \(elapsed)")

                // Many callers at once, some on the connection the timeout cut: all honour the deadline.
                let worst = await measure {
                    await withTaskGroup(of: Void.self) { group in
                        for index in 0..<20 {
                            group.addTask {
                                let code = await RedisClientError.code {
                                    _ = try await client.get(RedisKey("k\(index)"))
                                }
                                #expect(code == .timeout)
                            }
                        }
                    }
                }
                #expect(worst < .milliseconds(400), "slowest of 20 calls took \(worst)")

                server.resume()
                // The cut connections come back by themselves.
                try await eventually { try await client.ping() == "PONG" }
            }
        }
    }

    @Test(arguments: [1, 4])
    func callsThatTimeOutTogetherAllFailWithTimeout(connections: Int) async throws {
        try await RedisServer.withServer { server in
            try await withClient(
                server,
                configure: {
                    $0.connectionCount = connections
                    $0.commandTimeout = .milliseconds(100)
                }
            ) { (client: RedisClient) async throws in
                _ = try await client.ping()
                server.hang()
                defer { server.resume() }
                // Calls share write batches; when the first of a batch times out its connection is cut, and the
                // others, whose deadlines pass at the same moment, must say TIMEOUT too, not CONNECTION_LOST.
                for round in 0..<8 {
                    let codes = await withTaskGroup(of: RedisClientError.Code?.self) { group in
                        for index in 0..<50 {
                            group.addTask {
                                await RedisClientError.code { _ = try await client.get(RedisKey("k\(index)")) }
                            }
                        }
                        var codes: [RedisClientError.Code?] = []
                        for await code in group { codes.append(code) }
                        return codes
                    }
                    let others = codes.filter { $0 != .timeout }
                    #expect(others.isEmpty, "round \(round): \(others.count) of 50 calls: \(others)")
                }
            }
        }
    }

    @Test func aPerCallTimeoutOverridesTheDefault() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server, configure: { $0.commandTimeout = .seconds(5) }) {
                (client: RedisClient) async throws in
                _ = try await client.ping()
                server.hang()
                defer { server.resume() }
                let elapsed = await measure {
                    let code = await RedisClientError.code {
                        _ = try await client.get("k", timeout: .milliseconds(100))
                    }
                    #expect(code == .timeout)
                }
                #expect(elapsed < .milliseconds(200))
            }
        }
    }

    @Test func aTimeoutTooLongToCountMeansWaitingNotAnImmediateTimeout() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server) { (client: RedisClient) async throws in
                _ = try await client.ping()
                server.hang()
                defer { server.resume() }
                let call = Task {
                    await RedisClientError.caught { _ = try await client.get("k", timeout: .seconds(Int64.max)) }
                }
                try await Task.sleep(for: .milliseconds(200))
                server.resume()
                let error = await call.value
                #expect(
                    error == nil, "a call with an endless timeout failed: \(error.map(String.init(describing:)) ?? "")")
            }
        }
    }

    @Test func connectingToAHungServerHonoursTheDeadline() async throws {
        try await RedisServer.withServer(.init(password: "pw")) { server in
            server.hang()
            defer { server.resume() }
            // The kernel still accepts the TCP connection; AUTH never gets an answer.
            try await withClient(
                server,
                configure: {
                    $0.commandTimeout = .milliseconds(200); $0.connectTimeout = .seconds(2)
                }
            ) { (client: RedisClient) async throws in
                let elapsed = await measure {
                    let code = await RedisClientError.code { try await client.ping() }
                    #expect(code == .timeout)
                }
                #expect(elapsed < .milliseconds(300), "took \(elapsed)")
            }
        }
    }

    @Test func aStoppedServerIsRefusedFast() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server) { (client: RedisClient) async throws in
                _ = try await client.ping()
                await server.stop()
                let elapsed = await measure {
                    for _ in 0..<10 {
                        let code = await RedisClientError.code { _ = try await client.get("k") }
                        #expect(code == .connectionRefused || code == .connectionLost)
                    }
                }
                #expect(elapsed < .milliseconds(200), "10 calls to a stopped server took \(elapsed)")
            }
        }
    }

    @Test func theClientReconnectsByItselfAfterARestart() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server) { (client: RedisClient) async throws in
                try await client.set("before", value: bytes("1"))
                await server.kill()
                let code = await RedisClientError.code { _ = try await client.get("before") }
                #expect(code == .connectionRefused || code == .connectionLost)
                try await server.restart()
                // The restarted server is empty (no persistence); what matters is that calls succeed again
                // without a new client, within the reconnect backoff's cap (2 s).
                let elapsed = try await measure {
                    try await eventually(timeout: .seconds(5)) { try await client.ping() == "PONG" }
                }
                #expect(elapsed < .seconds(3))
                try await client.set("after", value: bytes("2"))
                #expect(try await client.get("after") == bytes("2"))
            }
        }
    }

    /// Servers drop idle connections (their `timeout` setting, `CLIENT KILL`, a proxy's idle cut); the next call
    /// must get a new connection, not the old one's error.
    @Test(arguments: [false, true])
    func aConnectionTheServerDroppedWhileIdleIsReplacedBeforeTheNextCall(tls: Bool) async throws {
        try await TestCertificates.withCertificates { certificates in
            let options = RedisServer.Options(
                extraArguments: ["--timeout", "1"],
                tls: tls ? RedisServer.Options.TLS(certificates: certificates) : nil
            )
            try await RedisServer.withServer(options) { server in
                try await withClient(
                    server,
                    configure: {
                        $0.connectionCount = 2
                        if tls {
                            $0.endpoint = .tcp(host: "127.0.0.1", port: server.tlsPort!)
                            $0.tls = .init(caFile: certificates.caFile)
                        }
                    }
                ) { (client: RedisClient) async throws in
                    try await client.set("k", value: bytes("v"))
                    // Both connections carry calls.
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<50 { group.addTask { _ = try await client.get("k") } }
                        try await group.waitForAll()
                    }
                    #expect(try server.cli("INFO", "clients").contains("connected_clients:3"))
                    // The server's idle timeout (1 s) closes both.
                    try await eventually(timeout: .seconds(5)) {
                        try server.cli("INFO", "clients").contains("connected_clients:1")
                    }
                    for _ in 0..<10 { #expect(try await client.get("k") == bytes("v")) }
                    // Killed while idle, from the server's side: the next call still succeeds.
                    #expect(try await client.get("k") == bytes("v"))
                    _ = try server.cli("CLIENT", "KILL", "TYPE", "normal")
                    #expect(try await client.get("k") == bytes("v"))
                }
            }
        }
    }

    @Test func startingWhileTheServerIsDownIsNotAnError() async throws {
        try await RedisServer.withServer { server in
            await server.stop()
            try await withClient(server) { (client: RedisClient) async throws in
                let code = await RedisClientError.code { try await client.ping() }
                #expect(code == .connectionRefused)
                try await server.restart()
                try await eventually(timeout: .seconds(5)) { try await client.ping() == "PONG" }
            }
        }
    }

    @Test func cancellationEndsAWaitPromptly() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server, configure: { $0.commandTimeout = .seconds(10) }) {
                (client: RedisClient) async throws in
                _ = try await client.ping()
                server.hang()
                defer { server.resume() }
                let task = Task { await RedisClientError.code { _ = try await client.get("k") } }
                try await Task.sleep(for: .milliseconds(50))
                let elapsed = await measure {
                    task.cancel()
                    #expect(await task.value == .cancelled)
                }
                #expect(elapsed < .milliseconds(100), "cancellation took \(elapsed)")
                // A task cancelled before it calls fails at once, too.
                let early = Task {
                    withUnsafeCurrentTask { $0?.cancel() }
                    return await RedisClientError.code { _ = try await client.get("k") }
                }
                #expect(await early.value == .cancelled)
            }
        }
    }

    @Test func aCancelledCallWhoseReplyNeverComesDoesNotHoldItsConnectionPastTheDeadline() async throws {
        try await RedisServer.withServer { server in
            let proxy = try FaultProxy.start(upstreamPort: server.port)
            defer { proxy.stop() }
            var configuration = try RedisClientConfiguration(endpoint: .tcp(host: proxy.host, port: proxy.port))
            configuration.connectionCount = 1
            configuration.commandTimeout = .milliseconds(300)
            configuration.reconnect = try .init(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(50))
            let client = try RedisClient(configuration: configuration, logger: quietLogger)
            _ = try await client.ping()

            // The command is written, its reply will never come (dropped on the way), and its caller gives up.
            try await proxy.setMode(.blackhole)
            let task = Task { await RedisClientError.code { _ = try await client.ping() } }
            try await Task.sleep(for: .milliseconds(50))
            task.cancel()
            #expect(await task.value == .cancelled)
            try await proxy.setMode(.passThrough)

            // The only connection must be usable again once the abandoned command's deadline has passed.
            let clock = ContinuousClock()
            let start = clock.now
            var answered = false
            while clock.now - start < .seconds(3) {
                if (try? await client.ping()) != nil {
                    answered = true
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(answered, "the connection stayed blocked on a reply that never comes")
            #expect(clock.now - start < .seconds(1))
            await client.close()
        }
    }

    @Test func commandsBeyondThePendingLimitFailWithPoolExhausted() async throws {
        try await RedisServer.withServer { server in
            try await withClient(
                server,
                configure: {
                    $0.connectionCount = 1
                    $0.maximumPendingCommands = 3
                    $0.commandTimeout = .seconds(1)
                }
            ) { (client: RedisClient) async throws in
                _ = try await client.ping()
                server.hang()
                defer { server.resume() }
                // One command in flight on the hung connection, then three queued behind it fill the limit.
                let inFlight = Task { await RedisClientError.code { _ = try await client.get("in-flight") } }
                try await Task.sleep(for: .milliseconds(50))
                let queued = (0..<3).map { index in
                    Task { await RedisClientError.code { _ = try await client.get(RedisKey("queued\(index)")) } }
                }
                try await Task.sleep(for: .milliseconds(50))
                let elapsed = await measure {
                    let code = await RedisClientError.code { _ = try await client.get("one-too-many") }
                    #expect(code == .poolExhausted)
                }
                #expect(elapsed < .milliseconds(50))
                #expect(await inFlight.value == .timeout)
                for task in queued {
                    #expect(await task.value == .timeout)
                }
            }
        }
    }

    @Test func closeFailsQueuedCallsAndLaterCallsWithClosed() async throws {
        try await RedisServer.withServer { server in
            var configuration = try RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port))
            configuration.commandTimeout = .seconds(10)
            configuration.connectionCount = 1
            let client = try RedisClient(configuration: configuration, logger: quietLogger)
            _ = try await client.ping()
            server.hang()
            defer { server.resume() }
            let waiting = (0..<5).map { index in
                Task { await RedisClientError.code { _ = try await client.get(RedisKey("w\(index)")) } }
            }
            try await Task.sleep(for: .milliseconds(50))
            let elapsed = await measure { await client.close() }
            #expect(elapsed < .milliseconds(500), "close took \(elapsed) with a hung server")
            for task in waiting {
                #expect(await task.value == .closed)
            }
            let code = await RedisClientError.code { try await client.ping() }
            #expect(code == .closed)
            await client.close()  // idempotent
        }
    }

    @Test func logsOneLinePerConnectionStateChangeNotPerCommand() async throws {
        let logging = InMemoryLogHandler()
        let logger = Logger(label: "test", factory: { _ in logging })
        try await RedisServer.withServer { server in
            try await withClient(server, logger: logger, configure: { $0.connectionCount = 1 }) {
                (client: RedisClient) async throws in
                _ = try await client.ping()
                await server.stop()
                for _ in 0..<200 {
                    _ = try? await client.get("k")
                }
                try await server.restart()
                try await eventually(timeout: .seconds(5)) { try await client.ping() == "PONG" }
                for _ in 0..<200 { _ = try await client.get("k") }
            }
        }
        let messages = logging.entries.map { $0.message.description }
        // established, lost (or failed), established again — a few lines, not 400.
        #expect(messages.filter { $0 == "redis connection established" }.count == 2)
        #expect(messages.count <= 4, "\(messages)")
    }
}

/// Polls `condition` until it returns true, failing after `timeout`.
func eventually(
    timeout: Duration = .seconds(3),
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("condition not met within \(timeout)")
}
