import Foundation
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
    @Test(arguments: [IOModel.eventLoop, .threadPerConnection])
    func everyThreadTheClientStartsCarriesItsName(model: IOModel) async throws {
        try await RedisServer.withServer { server in
            try await withClient(
                server,
                configure: {
                    $0.connectionCount = 2
                    $0.ioModel = model
                }
            ) { (client: RedisClient) async throws in
                _ = try await client.ping()
                let names = ProcessThreads.names
                let expected =
                    model == .eventLoop
                    ? (0..<min(2, ProcessInfo.processInfo.activeProcessorCount)).map { "redis-loop-\($0)" }
                    : ["redis-io-0", "redis-io-1"]
                for name in expected + ["redis-deadline"] {
                    #expect(names.contains(name), "\(names)")
                }
                #expect(names.filter { $0.hasPrefix("redis-io") || $0.hasPrefix("redis-loop") }.count == expected.count)
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
