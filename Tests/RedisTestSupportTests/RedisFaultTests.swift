import RedisTestSupport
import Testing
import _LoadKit

/// Every fault of the shared vocabulary, applied through a testbed to a real redis-server (and the proxy in front
/// of it), seen from a raw connection the way a client sees it.
@Suite(.timeLimit(.minutes(1)))
struct RedisFaultTests {
    @Test func theProcessFaultsHangResumeStopAndStartTheServer() async throws {
        try await RedisTestbed.withTestbed { testbed in
            #expect(!testbed.hasProxy && testbed.port == testbed.server.port)
            try await testbed.apply(.hang)
            #expect(testbed.server.isHung)
            try await testbed.apply(.resume)
            #expect(!testbed.server.isHung)
            try await testbed.apply(.kill)
            #expect(!testbed.server.isRunning)
            try await testbed.apply(.start)
            #expect(testbed.server.isRunning)
            let connection = try await RawConnection.connect(port: testbed.port)
            #expect(try await connection.command("PING") == .simpleString("PONG"))
        }
    }

    @Test(arguments: [RedisFault.sleep(.milliseconds(400)), .pause(.milliseconds(400))])
    func aFaultThatEndsByItselfHoldsCommandsAndReturnsWhenOver(fault: RedisFault) async throws {
        try await RedisTestbed.withTestbed { testbed in
            let connection = try await RawConnection.connect(port: testbed.port)
            let clock = ContinuousClock()
            let started = clock.now
            let applying = Task { try await testbed.apply(fault) }
            try await Task.sleep(for: .milliseconds(150))
            let error = await #expect(throws: RedisTestSupportError.self) {
                try await connection.command("SET", "held", "1", timeout: .milliseconds(100))
            }
            #expect(error?.code == .timeout)
            try await applying.value
            #expect(clock.now - started >= .milliseconds(400))
            let after = try await RawConnection.connect(port: testbed.port)
            #expect(try await after.command("PING", timeout: .milliseconds(200)) == .simpleString("PONG"))
        }
    }

    @Test func clientKillCutsConnectionsWhileItLasts() async throws {
        try await RedisTestbed.withTestbed { testbed in
            let connection = try await RawConnection.connect(port: testbed.port)
            #expect(try await connection.command("PING") == .simpleString("PONG"))
            try await testbed.apply(.clientKill(.milliseconds(100)))
            await #expect(throws: RedisTestSupportError.self) {
                try await connection.command("PING", timeout: .milliseconds(500))
            }
            let after = try await RawConnection.connect(port: testbed.port)
            #expect(try await after.command("PING") == .simpleString("PONG"))
        }
    }

    @Test func maxClientsRefusesEveryNewConnectionWhileItLasts() async throws {
        try await RedisTestbed.withTestbed { testbed in
            let connection = try await RawConnection.connect(port: testbed.port)
            #expect(try await connection.command("PING") == .simpleString("PONG"))
            let fault = Task { try await testbed.apply(.maxClients(.milliseconds(500))) }
            try await Task.sleep(for: .milliseconds(150))
            await #expect(throws: RedisTestSupportError.self) {
                try await connection.command("PING", timeout: .milliseconds(300))
            }
            let refused = try await RawConnection.connect(port: testbed.port)
            #expect(try await refused.command("PING") == .error("ERR max number of clients reached"))
            try await fault.value
            let after = try await RawConnection.connect(port: testbed.port)
            #expect(try await after.command("PING") == .simpleString("PONG"))
            #expect(
                try await after.command("CONFIG", "GET", "maxclients")
                    != .array([.bulkString(Array("maxclients".utf8)), .bulkString(Array("1".utf8))]))
        }
    }

    @Test func theProxyFaultsActOnTheProxyInFrontOfTheServer() async throws {
        try await RedisTestbed.withTestbed(proxy: true) { testbed in
            let proxy = try #require(testbed.proxy)
            #expect(testbed.port == proxy.port && testbed.port != testbed.server.port)
            #expect(testbed.url == "redis://127.0.0.1:\(proxy.port)")
            try await testbed.apply(.proxyBlackhole)
            #expect(proxy.mode == .blackhole)
            let connection = try await RawConnection.connect(port: testbed.port)
            let error = await #expect(throws: RedisTestSupportError.self) {
                try await connection.command("PING", timeout: .milliseconds(200))
            }
            #expect(error?.code == .timeout)
            try await testbed.apply(.proxyLatency(.milliseconds(50)))
            #expect(proxy.mode == .latency(.milliseconds(50)))
            try await testbed.apply(.proxyClear)
            #expect(proxy.mode == .passThrough)
            let after = try await RawConnection.connect(port: testbed.port)
            #expect(try await after.command("PING") == .simpleString("PONG"))
        }
    }

    @Test func aProxyFaultWithoutAProxyIsRefused() async throws {
        try await RedisTestbed.withTestbed { testbed in
            let error = await #expect(throws: RedisTestSupportError.self) { try await testbed.apply(.proxyReset) }
            #expect(error?.code == .noProxy)
        }
    }

    @Test func aShardFaultOnASingleServerIsRefused() async throws {
        try await RedisTestbed.withTestbed { testbed in
            let error = await #expect(throws: RedisTestSupportError.self) { try await testbed.apply(.killShard(0)) }
            #expect(error?.code == .notACluster)
            #expect(error?.message.contains("kill-shard 0") == true)
            #expect(testbed.server.isRunning)
        }
    }

    @Test func theDescriptionSaysWhatRunsWhere() async throws {
        try await RedisTestbed.withTestbed(proxy: true) { testbed in
            let text = testbed.description
            let version = try #require(testbed.version)
            #expect(text.hasPrefix("redis-server \(version) on 127.0.0.1:\(testbed.server.port)"))
            #expect(text.hasSuffix("behind a fault proxy on 127.0.0.1:\(testbed.port)"))
        }
    }
}
