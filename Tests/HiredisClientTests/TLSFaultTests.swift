import HiredisClient
import RedisTestSupport
import Testing

/// The fault behaviour of plain TCP, over TLS: deadlines while the handshake or a reply hangs, reconnects with a
/// new handshake, cancellation.
@Suite(.serialized)
struct TLSFaultTests {
    @Test func aServerThatNeverCompletesTheHandshakeFailsWithinTheDeadline() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                let proxy = try FaultProxy.start(upstreamPort: server.tlsPort!)
                defer { proxy.stop() }
                try await proxy.setMode(.blackhole)
                // The call's deadline comes first...
                try await withTLSClient(
                    server, certificates, port: proxy.port,
                    configure: {
                        $0.commandTimeout = .milliseconds(300)
                        $0.connectTimeout = .seconds(5)
                    }
                ) { (client: RedisClient) async throws in
                    let elapsed = await measure {
                        #expect(await RedisClientError.code { _ = try await client.ping() } == .timeout)
                    }
                    #expect(elapsed >= .milliseconds(290) && elapsed < .milliseconds(400), "took \(elapsed)")
                }
                // ...or the connect timeout, which covers the handshake.
                try await withTLSClient(
                    server, certificates, port: proxy.port,
                    configure: {
                        $0.commandTimeout = .seconds(5)
                        $0.connectTimeout = .milliseconds(300)
                    }
                ) { (client: RedisClient) async throws in
                    let elapsed = await measure {
                        let error = await RedisClientError.caught { _ = try await client.ping() }
                        #expect(error?.code == .timeout)
                        #expect(error?.message.contains("TLS handshake") == true, "\(String(describing: error))")
                    }
                    #expect(elapsed >= .milliseconds(290) && elapsed < .milliseconds(400), "took \(elapsed)")
                    // Once the path is clear, the next call makes a new connection and handshake.
                    try await proxy.setMode(.passThrough)
                    try await eventually { try await client.ping() == "PONG" }
                }
            }
        }
    }

    @Test func aServerHungDuringTheHandshakeFailsWithinTheDeadlineAndServesOnceResumed() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                try await withTLSClient(server, certificates, configure: { $0.commandTimeout = .milliseconds(300) }) {
                    (client: RedisClient) async throws in
                    server.hang()
                    defer { server.resume() }
                    let elapsed = await measure {
                        #expect(await RedisClientError.code { _ = try await client.ping() } == .timeout)
                    }
                    #expect(elapsed >= .milliseconds(290) && elapsed < .milliseconds(400), "took \(elapsed)")
                    server.resume()
                    try await eventually { try await client.ping() == "PONG" }
                }
            }
        }
    }

    @Test func aServerHungMidStreamTimesOutWithinTheDeadline() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                try await withTLSClient(server, certificates, configure: { $0.commandTimeout = .milliseconds(300) }) {
                    (client: RedisClient) async throws in
                    #expect(try await client.ping() == "PONG")
                    server.hang()
                    defer { server.resume() }
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
                    #expect(worst >= .milliseconds(290) && worst < .milliseconds(400), "slowest took \(worst)")
                    server.resume()
                    // The cut connections come back by themselves, each with a new handshake.
                    try await eventually { try await client.ping() == "PONG" }
                }
            }
        }
    }

    @Test func theClientReconnectsWithANewHandshakeAfterARestart() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                try await withTLSClient(server, certificates) { (client: RedisClient) async throws in
                    try await client.set("before", value: bytes("1"))
                    await server.kill()
                    let code = await RedisClientError.code { _ = try await client.get("before") }
                    #expect(code == .connectionRefused || code == .connectionLost)
                    try await server.restart()
                    let elapsed = try await measure {
                        try await eventually(timeout: .seconds(5)) { try await client.ping() == "PONG" }
                    }
                    #expect(elapsed < .seconds(3))
                    try await client.set("after", value: bytes("2"))
                    #expect(try await client.get("after") == bytes("2"))
                }
            }
        }
    }

    @Test func aStoppedServerIsRefusedFast() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                try await withTLSClient(server, certificates) { (client: RedisClient) async throws in
                    #expect(try await client.ping() == "PONG")
                    await server.stop()
                    let elapsed = await measure {
                        for _ in 0..<10 {
                            let code = await RedisClientError.code { _ = try await client.ping() }
                            #expect(code == .connectionRefused || code == .connectionLost)
                        }
                    }
                    #expect(elapsed < .milliseconds(200), "10 calls to a stopped server took \(elapsed)")
                }
            }
        }
    }

    @Test func cancellationEndsAWaitOnAHungServerPromptly() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                try await withTLSClient(server, certificates, configure: { $0.commandTimeout = .seconds(5) }) {
                    (client: RedisClient) async throws in
                    #expect(try await client.ping() == "PONG")
                    server.hang()
                    defer { server.resume() }
                    let task = Task { await RedisClientError.code { _ = try await client.get("k") } }
                    try await Task.sleep(for: .milliseconds(50))
                    let elapsed = await measure {
                        task.cancel()
                        #expect(await task.value == .cancelled)
                    }
                    #expect(elapsed < .milliseconds(100), "cancelled after \(elapsed)")
                }
            }
        }
    }

    @Test func aConnectionCutMidReplyIsLostAndReplaced() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                let proxy = try FaultProxy.start(upstreamPort: server.tlsPort!)
                defer { proxy.stop() }
                try await withTLSClient(
                    server, certificates, port: proxy.port,
                    configure: {
                        $0.connectionCount = 1
                        $0.commandTimeout = .seconds(2)
                    }
                ) { (client: RedisClient) async throws in
                    let value = [UInt8](repeating: 7, count: 1 << 20)
                    try await client.set("big", value: value)
                    try await proxy.setMode(.closeAfter(bytes: 100_000))
                    let code = await RedisClientError.code { _ = try await client.get("big") }
                    #expect(code == .connectionLost)
                    try await proxy.setMode(.passThrough)
                    try await eventually { try await client.get("big") == value }
                }
            }
        }
    }
}
