import HiredisClient
import Logging
import RedisTestSupport
import Synchronization
import Testing

/// Pooling, pipelining, authentication, databases, sockets and URLs.
struct RedisClientConnectionTests {
    @Test(arguments: [IOModel.threadPerConnection, .eventLoop])
    func tenThousandConcurrentCallsOnFourConnectionsGetTheirOwnReplies(model: IOModel) async throws {
        try await RedisServer.withServer { server in
            try await withClient(
                server,
                configure: {
                    $0.connectionCount = 4; $0.commandTimeout = .seconds(10); $0.ioModel = model
                }
            ) { (client: RedisClient) async throws in
                try await tenThousandCallersEachReadTheirOwnWrite(client)
                #expect(try server.cli("DBSIZE") == "10000")
                // Four connections carried it all (plus redis-cli's own).
                let clients = try server.cli("INFO", "clients")
                #expect(clients.contains("connected_clients:5"))
            }
        }
    }

    @Test func authenticatesWithPassword() async throws {
        try await RedisServer.withServer(.init(password: "s3cret!")) { server in
            try await withClient(server) { (client: RedisClient) async throws in
                #expect(try await client.ping() == "PONG")
            }
        }
    }

    @Test func wrongOrMissingPasswordFailsWithoutLeakingIt() async throws {
        try await RedisServer.withServer(.init(password: "right-password")) { server in
            try await withClient(server, configure: { $0.authentication = .init(password: "wrong-password") }) {
                (client: RedisClient) async throws in
                let error = await RedisClientError.caught { try await client.ping() }
                #expect(error?.code == .connectionFailed)
                #expect(error?.message.contains("AUTH") == true)
                #expect(error?.serverError?.code == "WRONGPASS")
                #expect(error.map { !$0.description.contains("wrong-password") } == true)
                #expect(!client.configuration.description.contains("wrong-password"))
            }
            try await withClient(server, configure: { $0.authentication = nil }) { (client: RedisClient) async throws in
                let error = await RedisClientError.caught { try await client.ping() }
                #expect(error?.code == .serverError)
                #expect(error?.serverError?.code == "NOAUTH")
            }
        }
    }

    @Test func authenticatesAsAnACLUser() async throws {
        let options = RedisServer.Options(aclUsers: [
            .init(name: "cache", password: "pw-cache", rules: "~cache:* +@all")
        ])
        try await RedisServer.withServer(options) { server in
            try await withClient(
                server, configure: { $0.authentication = .init(username: "cache", password: "pw-cache") }
            ) { (client: RedisClient) async throws in
                try await client.set("cache:1", value: bytes("ok"))
                #expect(try await client.get("cache:1") == bytes("ok"))
                let error = await RedisClientError.caught { try await client.set("elsewhere", value: bytes("no")) }
                #expect(error?.serverError?.code == "NOPERM")
            }
            try await withClient(server, configure: { $0.authentication = .init(username: "cache", password: "nope") })
            { (client: RedisClient) async throws in
                let code = await RedisClientError.code { try await client.ping() }
                #expect(code == .connectionFailed)
            }
        }
    }

    @Test func selectedDatabasesAreIsolated() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server, configure: { $0.database = 3 }) { (three: RedisClient) async throws in
                try await withClient(server) { (zero: RedisClient) async throws in
                    try await three.set("shared", value: bytes("in-3"))
                    try await zero.set("shared", value: bytes("in-0"))
                    #expect(try await three.get("shared") == bytes("in-3"))
                    #expect(try await zero.get("shared") == bytes("in-0"))
                    #expect(try server.cli("-n", "3", "GET", "shared") == "in-3")
                }
            }
        }
    }

    @Test func connectsOverAUnixSocket() async throws {
        try await RedisServer.withServer(.init(unixSocket: true)) { server in
            let path = try #require(server.unixSocketPath)
            try await withClient(server, unixSocket: true) { (client: RedisClient) async throws in
                try await client.set("over-unix", value: bytes("yes"))
                #expect(try await client.get("over-unix") == bytes("yes"))
            }
            let configuration = try RedisClientConfiguration(url: "unix://\(path)?db=2")
            let client = try RedisClient(configuration: configuration, logger: quietLogger)
            try await client.set("db2", value: bytes("x"))
            await client.close()
            #expect(try server.cli("-n", "2", "GET", "db2") == "x")
        }
    }

    @Test func urlsParse() throws {
        let full = try RedisClientConfiguration(url: "redis://alice:p%40ss@cache.internal:6380/4")
        #expect(full.endpoint == .tcp(host: "cache.internal", port: 6380))
        #expect(full.authentication == .init(username: "alice", password: "p@ss"))
        #expect(full.database == 4)
        #expect(!full.description.contains("p@ss"))
        #expect(full.description.contains("alice"))

        let passwordOnly = try RedisClientConfiguration(url: "redis://:secret@127.0.0.1")
        #expect(passwordOnly.authentication == .init(password: "secret"))
        #expect(passwordOnly.endpoint == .tcp(host: "127.0.0.1", port: 6379))
        #expect(passwordOnly.database == 0)

        let ipv6 = try RedisClientConfiguration(url: "redis://[::1]:7000")
        #expect(ipv6.endpoint == .tcp(host: "::1", port: 7000))

        let unix = try RedisClientConfiguration(url: "unix:///run/redis.sock?db=5")
        #expect(unix.endpoint == .unix(path: "/run/redis.sock"))
        #expect(unix.database == 5)
    }

    @Test(arguments: [
        "http://127.0.0.1:6379",
        "redis://",
        "redis://host:notaport",
        "redis://host:70000",
        "redis://host:6379/db",
        "redis://host:6379/-1",
        "redis://user@host",
        "redis://:@host",
        "redis://:bad%zzescape@host",
        "redis://[::1",
        "unix://relative/path",
        "unix:///run/redis.sock?db=x",
        "unix:///run/redis.sock?color=blue",
    ])
    func malformedURLsAreRejectedWithAClearError(url: String) {
        do {
            _ = try RedisClientConfiguration(url: url)
            Issue.record("\(url) must be rejected")
        } catch {
            #expect(error.code == .invalidURL)
            #expect(error.message.hasPrefix("invalid Redis URL: "))
            #expect(!error.message.contains("bad%zz"))
        }
    }
}

/// 10,000 concurrent callers, each writing its own value and reading it back: a reply handed to the wrong caller
/// shows as a wrong value (the values differ per key).
func tenThousandCallersEachReadTheirOwnWrite(_ client: RedisClient) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<10_000 {
            group.addTask {
                let key = RedisKey("pipelined:\(index)")
                let value = bytes("value-\(index)-\(String(repeating: "x", count: index % 50))")
                try await client.set(key, value: value)
                let read = try await client.get(key)
                #expect(read == value, "caller \(index) got another caller's reply")
            }
        }
        try await group.waitForAll()
    }
}
