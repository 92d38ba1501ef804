import HiredisClient
import Logging
import RedisTestSupport
import Testing

/// The threads a client starts: named, and gone once the client is closed or dropped.
///
/// These tests count the threads of the whole process, so they assume no other test runs beside them
/// (the suite runs with `--no-parallel`, see scripts/test.sh).
@Suite(.serialized)
struct RedisClientThreadTests {
    @Test func everyThreadTheClientStartsCarriesItsName() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server, configure: { $0.connectionCount = 2 }) { (client: RedisClient) async throws in
                _ = try await client.ping()
                let names = ProcessThreads.names
                #expect(names.contains("redis-io-0"), "\(names)")
                #expect(names.contains("redis-io-1"), "\(names)")
                #expect(names.contains("redis-deadline"), "\(names)")
            }
        }
    }

    @Test func clientsDroppedWithoutCloseLeaveNoThreadsBehind() async throws {
        try await RedisServer.withServer { server in
            let before = ProcessThreads.count
            for index in 0..<200 {
                var configuration = try RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port))
                configuration.connectionCount = 2
                let client = try RedisClient(configuration: configuration, logger: quietLogger)
                if index % 10 == 0 {
                    #expect(try await client.ping() == "PONG")
                }
            }
            let after = try await ProcessThreads.waitForCount(atMost: before + 3)
            #expect(after <= before + 3, "\(before) threads before 200 dropped clients, \(after) after")
        }
    }
}
