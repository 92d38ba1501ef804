import HiredisClient
import RedisTestSupport
import Testing

/// Every typed helper against a real redis-server.
struct RedisClientCommandTests {
    @Test func pingAndInfo() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server) { (client: RedisClient) async throws in
                #expect(try await client.ping() == "PONG")
                let info = try await client.info("server")
                #expect(info.contains("redis_version:"))
                #expect(info.contains("tcp_port:\(server.port)"))
            }
        }
    }

    @Test func setGetAndMissingKey() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server) { (client: RedisClient) async throws in
                #expect(try await client.get("absent") == nil)
                #expect(try await client.set("k", value: bytes("v1")))
                #expect(try await client.get("k") == bytes("v1"))
                #expect(try server.cli("GET", "k") == "v1")
            }
        }
    }

    @Test func setConditionsAndExpiration() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server) { (client: RedisClient) async throws in
                #expect(try await client.set("nx", value: bytes("a"), condition: .ifNotExists))
                #expect(try await client.set("nx", value: bytes("b"), condition: .ifNotExists) == false)
                #expect(try await client.get("nx") == bytes("a"))
                #expect(try await client.set("xx", value: bytes("a"), condition: .ifExists) == false)
                #expect(try await client.get("xx") == nil)
                #expect(try await client.set("nx", value: bytes("c"), condition: .ifExists))
                #expect(try await client.get("nx") == bytes("c"))

                try await client.set("ttl", value: bytes("x"), expiration: .seconds(30))
                guard case .expires(let remaining) = try await client.ttl("ttl") else {
                    Issue.record("expected an expiry")
                    return
                }
                #expect(remaining > .seconds(29) && remaining <= .seconds(30))
                #expect(try await client.ttl("nx") == .noExpiry)
                #expect(try await client.ttl("absent") == .missingKey)

                #expect(try await client.expire("nx", after: .milliseconds(1500)))
                guard case .expires(let pexpire) = try await client.ttl("nx") else {
                    Issue.record("expected an expiry after PEXPIRE")
                    return
                }
                #expect(pexpire > .milliseconds(1000) && pexpire <= .milliseconds(1500))
                #expect(try await client.expire("absent", after: .seconds(1)) == false)

                try await client.set("short", value: bytes("x"), expiration: .milliseconds(50))
                try await Task.sleep(for: .milliseconds(120))
                #expect(try await client.get("short") == nil)
            }
        }
    }

    @Test func mgetDelUnlinkExists() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server) { (client: RedisClient) async throws in
                try await client.set("a", value: bytes("1"))
                try await client.set("b", value: bytes("2"))
                #expect(try await client.mget(["a", "missing", "b"]) == [bytes("1"), nil, bytes("2")])
                #expect(try await client.exists(["a", "b", "missing", "a"]) == 3)
                #expect(try await client.del(["a", "missing"]) == 1)
                #expect(try await client.unlink(["b", "missing"]) == 1)
                #expect(try await client.exists(["a", "b"]) == 0)
            }
        }
    }

    @Test func scanVisitsEveryMatchingKeyAndNoOther() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server) { (client: RedisClient) async throws in
                for index in 0..<1_000 {
                    try await client.set(RedisKey("scan:\(index)"), value: bytes("\(index)"))
                }
                for index in 0..<100 {
                    try await client.set(RedisKey("other:\(index)"), value: bytes("x"))
                }
                var seen = Set<RedisKey>()
                var batches = 0
                for try await batch in client.scan(match: "scan:*", count: 100) {
                    batches += 1
                    seen.formUnion(batch)
                }
                #expect(seen == Set((0..<1_000).map { RedisKey("scan:\($0)") }))
                #expect(batches > 1)
            }
        }
    }

    @Test func genericSendAndServerErrorCodes() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server) { (client: RedisClient) async throws in
                let added = try await client.send("HSET", [bytes("h"), bytes("f"), bytes("v")])
                #expect(added == .integer(1))
                #expect(try await client.send("HGET", [bytes("h"), bytes("f")]) == .bulkString(bytes("v")))
                let list = try await client.send("HGETALL", [bytes("h")])
                #expect(list == .array([.bulkString(bytes("f")), .bulkString(bytes("v"))]))

                let wrongType = await RedisClientError.caught { _ = try await client.get("h") }
                #expect(wrongType?.code == .serverError)
                #expect(wrongType?.serverError?.code == "WRONGTYPE")
                let unknown = await RedisClientError.caught { _ = try await client.send("NOSUCHCOMMAND") }
                #expect(unknown?.serverError?.code == "ERR")
                // The connection is still in sync after error replies.
                #expect(try await client.ping() == "PONG")
            }
        }
    }

    @Test func anExplicitPipelineReturnsEachCommandsOwnResult() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server, configure: { $0.connectionCount = 1 }) { (client: RedisClient) async throws in
                _ = try server.cli("HSET", "hash", "f", "v")
                var commands = (0..<16).map { RedisCommand("SET", [bytes("p\($0)"), bytes("value-\($0)")]) }
                commands.append(RedisCommand("GET", [bytes("hash")]))  // WRONGTYPE in the middle
                commands += (0..<16).map { RedisCommand("GET", [bytes("p\($0)")]) }
                let results = await client.pipeline(commands)
                #expect(results.count == 33)
                for index in 0..<16 {
                    #expect(try results[index].get() == .simpleString("OK"))
                    #expect(try results[17 + index].get() == .bulkString(bytes("value-\(index)")))
                }
                guard case .failure(let error) = results[16] else {
                    Issue.record("GET of a hash must fail")
                    return
                }
                #expect(error.serverError?.code == "WRONGTYPE")
                // One write: the server saw the whole pipeline from a single connection.
                #expect(try server.cli("GET", "p15") == "value-15")
            }
        }
    }

    @Test func binaryKeysAndValuesRoundTrip() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server) { (client: RedisClient) async throws in
                let awkward: [UInt8] = [0x0D, 0x0A, 0x00, 0xFF, 0x24, 0x2A, 0x0D, 0x0A, 0x00]
                let cases: [(RedisKey, [UInt8])] = [
                    (RedisKey(bytes: awkward), awkward),
                    (RedisKey(bytes: [0x00]), [0xFF, 0x00, 0xFF]),
                    ("empty-value", []),
                    ("crlf\r\nkey", Array("line1\r\nline2\n".utf8)),
                    ("one-mebibyte", (0..<1_048_576).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }),
                ]
                for (key, value) in cases {
                    try await client.set(key, value: value)
                }
                for (key, value) in cases {
                    #expect(try await client.get(key) == value, "key \(key.bytes.prefix(16))")
                }
                #expect(try await client.exists([RedisKey(bytes: awkward)]) == 1)
                #expect(try server.cli("STRLEN", "one-mebibyte") == "1048576")
            }
        }
    }
}
