import RedisTestSupport
import Testing

/// Each test puts a FaultProxy in front of its own real redis-server and checks what a client really sees.
@Suite(.timeLimit(.minutes(1)))
struct FaultProxyTests {
    /// A PING is 14 bytes on the wire (`*1\r\n$4\r\nPING\r\n`), its reply 7 (`+PONG\r\n`).
    static let pingBytes = 14
    static let pongBytes = 7

    /// Runs `body` with a server and a proxy in front of it, and tears both down.
    func withProxiedServer(_ body: (RedisServer, FaultProxy) async throws -> Void) async throws {
        try await RedisServer.withServer { server in
            let proxy = try FaultProxy.start(upstreamPort: server.port)
            defer { proxy.stop() }
            try await body(server, proxy)
        }
    }

    @Test func passThroughForwardsPingAndCountsBytes() async throws {
        try await withProxiedServer { server, proxy in
            #expect(proxy.port != server.port)
            #expect(proxy.port != 6379)
            #expect(proxy.mode == .passThrough)
            let connection = try await RawConnection.connect(port: proxy.port)
            #expect(try await connection.command("PING") == .simpleString("PONG"))
            #expect(proxy.acceptedConnectionCount == 1)
            #expect(proxy.connectionCount == 1)
            #expect(proxy.bytesForwarded == Self.pingBytes + Self.pongBytes)

            // The server saw a client connected from the proxy, not from the test.
            #expect(try await connection.command("SET", "via", "proxy") == .simpleString("OK"))
            #expect(try await server.cliAsync("GET", "via") == "proxy")

            connection.close()
            try await eventually { proxy.connectionCount == 0 }
        }
    }

    @Test func latencyDelaysEachDirection() async throws {
        try await withProxiedServer { _, proxy in
            let connection = try await RawConnection.connect(port: proxy.port)
            #expect(try await connection.command("PING") == .simpleString("PONG"))

            let delay = Duration.milliseconds(100)
            try await proxy.setMode(.latency(delay))
            let started = ContinuousClock.now
            #expect(try await connection.command("PING", timeout: .seconds(5)) == .simpleString("PONG"))
            let roundTrip = ContinuousClock.now - started
            // The request and the reply are each held for the delay.
            #expect(roundTrip >= delay * 2)
            #expect(roundTrip < delay * 2 + .seconds(2))

            try await proxy.setMode(.passThrough)
            let fastStart = ContinuousClock.now
            #expect(try await connection.command("PING") == .simpleString("PONG"))
            #expect(ContinuousClock.now - fastStart < delay)
        }
    }

    @Test func latencyWithJitterPreservesOrder() async throws {
        try await withProxiedServer { _, proxy in
            try await proxy.setMode(.latency(.milliseconds(5), jitter: .milliseconds(40)))
            let connection = try await RawConnection.connect(port: proxy.port)
            // Separate writes, so the proxy reads them as separate chunks with different random delays;
            // reordering them would scramble the commands or the replies.
            for index in 0..<20 {
                try await connection.send(RawConnection.encode(["ECHO", "message-\(index)"]))
                try await Task.sleep(for: .milliseconds(2))
            }
            for index in 0..<20 {
                #expect(try await connection.readReply(timeout: .seconds(5)) == .bulkString("message-\(index)"))
            }
        }
    }

    @Test func blackholeNeverAnswersAndDropsWhatWasSent() async throws {
        try await withProxiedServer { _, proxy in
            let connection = try await RawConnection.connect(port: proxy.port)
            try await proxy.setMode(.blackhole)
            let forwardedBefore = proxy.bytesForwarded

            let started = ContinuousClock.now
            let error = await #expect(throws: RedisTestSupportError.self) {
                try await connection.command("SET", "lost", "1", timeout: .milliseconds(300))
            }
            #expect(error?.code == .timeout)
            #expect(ContinuousClock.now - started < .seconds(3))

            // New connections are accepted, then ignored as well.
            let newcomer = try await RawConnection.connect(port: proxy.port)
            let newcomerError = await #expect(throws: RedisTestSupportError.self) {
                try await newcomer.command("PING", timeout: .milliseconds(200))
            }
            #expect(newcomerError?.code == .timeout)
            #expect(proxy.bytesForwarded == forwardedBefore)

            // The dropped command never reaches the server, even after the path heals.
            try await proxy.setMode(.passThrough)
            #expect(try await connection.command("PING") == .simpleString("PONG"))
            #expect(try await connection.command("EXISTS", "lost") == .integer(0))
        }
    }

    @Test func resetAllResetsOpenAndNewConnections() async throws {
        try await withProxiedServer { _, proxy in
            let connection = try await RawConnection.connect(port: proxy.port)
            #expect(try await connection.command("PING") == .simpleString("PONG"))

            try await proxy.setMode(.resetAll)
            #expect(proxy.connectionCount == 0)
            let error = await #expect(throws: RedisTestSupportError.self) {
                try await connection.readReply(timeout: .seconds(2))
            }
            #expect(error?.code == .connectionReset)

            // While the mode holds, every new connection is reset as soon as it is accepted.
            // The reset may even beat the connect's completion, so both steps sit in the expectation.
            let newcomerError = await #expect(throws: RedisTestSupportError.self) {
                let newcomer = try await RawConnection.connect(port: proxy.port)
                return try await newcomer.command("PING", timeout: .seconds(2))
            }
            #expect(newcomerError?.code == .connectionReset)
            #expect(proxy.connectionCount == 0)
            #expect(proxy.acceptedConnectionCount == 2)

            try await proxy.setMode(.passThrough)
            let healed = try await RawConnection.connect(port: proxy.port)
            #expect(try await healed.command("PING") == .simpleString("PONG"))
        }
    }

    @Test func closeAfterCutsTheConnectionInTheMiddleOfAReply() async throws {
        try await withProxiedServer { _, proxy in
            // The whole request and the first three bytes of the reply.
            try await proxy.setMode(.closeAfter(bytes: Self.pingBytes + 3))
            let connection = try await RawConnection.connect(port: proxy.port)
            try await connection.send(RawConnection.encode(["PING"]))
            var received: [UInt8] = []
            var ending: RedisTestSupportError?
            while ending == nil {
                do {
                    received += try await connection.receive(timeout: .seconds(2))
                } catch let error as RedisTestSupportError {
                    ending = error
                }
            }
            #expect(String(decoding: received, as: UTF8.self) == "+PO")
            #expect(ending?.code == .connectionClosed)
            try await eventually { proxy.connectionCount == 0 }
        }
    }

    @Test func closeAfterCountsFromWhenTheModeIsSet() async throws {
        try await withProxiedServer { _, proxy in
            let connection = try await RawConnection.connect(port: proxy.port)
            #expect(try await connection.command("PING") == .simpleString("PONG"))
            // One more full exchange is allowed on the open connection, then it is closed.
            try await proxy.setMode(.closeAfter(bytes: Self.pingBytes + Self.pongBytes))
            #expect(try await connection.command("PING") == .simpleString("PONG"))
            let error = await #expect(throws: RedisTestSupportError.self) {
                try await connection.command("PING", timeout: .seconds(2))
            }
            #expect(error?.code == .connectionClosed || error?.code == .connectionReset)
        }
    }

    @Test func refuseRefusesNewConnectionsAndPassThroughListensAgain() async throws {
        try await withProxiedServer { _, proxy in
            let existing = try await RawConnection.connect(port: proxy.port)
            #expect(try await existing.command("PING") == .simpleString("PONG"))

            try await proxy.setMode(.refuse)
            let refused = await #expect(throws: RedisTestSupportError.self) {
                try await RawConnection.connect(port: proxy.port)
            }
            #expect(refused?.code == .connectionRefused)
            // Connections made before keep working.
            #expect(try await existing.command("PING") == .simpleString("PONG"))

            try await proxy.setMode(.passThrough)
            let again = try await RawConnection.connect(port: proxy.port)
            #expect(try await again.command("PING") == .simpleString("PONG"))
        }
    }

    @Test func aDownUpstreamResetsProxiedConnections() async throws {
        try await withProxiedServer { server, proxy in
            await server.kill()
            // The proxy accepts, fails to reach the server and resets the client, maybe before connect returns.
            let error = await #expect(throws: RedisTestSupportError.self) {
                let connection = try await RawConnection.connect(port: proxy.port)
                return try await connection.command("PING", timeout: .seconds(2))
            }
            #expect(error?.code == .connectionReset || error?.code == .connectionClosed)

            // The proxy recovers with the server, on the same ports.
            try await server.restart()
            let healed = try await RawConnection.connect(port: proxy.port)
            #expect(try await healed.command("PING") == .simpleString("PONG"))
        }
    }

    @Test func stopClosesEverythingAndIsIdempotent() async throws {
        try await withProxiedServer { _, proxy in
            let connection = try await RawConnection.connect(port: proxy.port)
            #expect(try await connection.command("PING") == .simpleString("PONG"))

            proxy.stop()
            proxy.stop()
            let closed = await #expect(throws: RedisTestSupportError.self) {
                try await connection.readReply(timeout: .seconds(2))
            }
            #expect(closed?.code == .connectionClosed)
            let refused = await #expect(throws: RedisTestSupportError.self) {
                try await RawConnection.connect(port: proxy.port)
            }
            #expect(refused?.code == .connectionRefused)
            let stopped = await #expect(throws: RedisTestSupportError.self) { try await proxy.setMode(.blackhole) }
            #expect(stopped?.code == .proxyStopped)
        }
    }
}

/// Polls `condition` until it holds, failing the test after `timeout`.
func eventually(
    timeout: Duration = .seconds(2),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition did not hold within \(timeout)", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}
