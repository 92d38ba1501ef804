import HiredisClient
import MetricsTestKit
import RedisTestSupport
import Testing

/// The `redis_*` metrics, with their names, types and values, against a real redis-server.
@Suite(.serialized)
struct RedisClientMetricsTests {
    /// A client with its own `TestMetrics`, closed when `body` ends.
    private func withMeteredClient<T>(
        _ server: RedisServer,
        configure: (inout RedisClientConfiguration) -> Void = { _ in },
        _ body: (RedisClient, TestMetrics) async throws -> T
    ) async throws -> T {
        let metrics = TestMetrics()
        var configuration = try RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port))
        configuration.commandTimeout = .milliseconds(500)
        configuration.connectTimeout = .milliseconds(500)
        configuration.reconnect = try .init(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(50))
        configure(&configuration)
        let client = try RedisClient(configuration: configuration, logger: quietLogger, metricsFactory: metrics)
        do {
            let result = try await body(client, metrics)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    @Test func connectionsOpenConnectsAndReconnectsFollowTheConnectionsLife() async throws {
        try await RedisServer.withServer { server in
            let metrics = try await withMeteredClient(server, configure: { $0.connectionCount = 1 }) {
                client, metrics in
                // Nothing connects before the first command.
                #expect(try metrics.expectMeter("redis_connections_open").lastValue == nil)
                #expect(try metrics.expectCounter("redis_connects_total").totalValue == 0)

                try await client.set("k", value: bytes("v"))
                #expect(try metrics.expectMeter("redis_connections_open").lastValue == 1)
                #expect(try metrics.expectCounter("redis_connects_total").totalValue == 1)
                #expect(try metrics.expectCounter("redis_reconnects_total").totalValue == 0)

                // The server drops the idle connection: the client notices before its next command and connects
                // again, so the command succeeds.
                _ = try server.cli("CLIENT", "KILL", "TYPE", "normal")
                #expect(try await client.get("k") == bytes("v"))
                #expect(try metrics.expectMeter("redis_connections_open").lastValue == 1)
                #expect(try metrics.expectCounter("redis_connects_total").totalValue == 2)
                #expect(try metrics.expectCounter("redis_reconnects_total").totalValue == 1)
                return metrics
            }
            // Closing the client closes its connection.
            #expect(try metrics.expectMeter("redis_connections_open").lastValue == 0)
        }
    }

    @Test func aCallThatOutlivesItsDeadlineCountsOneTimeout() async throws {
        try await RedisServer.withServer { server in
            try await withMeteredClient(server) { client, metrics in
                #expect(try metrics.expectCounter("redis_timeouts_total").totalValue == 0)
                // BLPOP on an empty list with no server-side timeout never answers: only the deadline ends it.
                let code = await RedisClientError.code {
                    _ = try await client.send("BLPOP", [bytes("empty"), bytes("0")], timeout: .milliseconds(100))
                }
                #expect(code == .timeout)
                #expect(try metrics.expectCounter("redis_timeouts_total").totalValue == 1)
                // A call that answers is not a timeout.
                _ = try await client.send("PING")
                #expect(try metrics.expectCounter("redis_timeouts_total").totalValue == 1)
            }
        }
    }

    @Test func anExplicitPipelineIsOneBatchOfItsSizeAndLeavesNothingInFlight() async throws {
        try await RedisServer.withServer { server in
            try await withMeteredClient(server, configure: { $0.connectionCount = 1 }) { client, metrics in
                _ = try await client.send("PING")  // connected, so the pipeline goes out as one write
                let results = await client.pipeline((0..<16).map { RedisCommand("GET", [bytes("key:\($0)")]) })
                #expect(results.count == 16)

                let batches = try metrics.expectRecorder("redis_pipeline_batch_size").values
                #expect(batches == [1, 16], "one record per write batch: the PING, then the pipeline")
                let inFlight = try metrics.expectMeter("redis_commands_in_flight")
                #expect(inFlight.values.max() == 16)
                // The I/O thread counts the batch finished right after it completes the last reply.
                for _ in 0..<100 where inFlight.lastValue != 0 { try await Task.sleep(for: .milliseconds(10)) }
                #expect(inFlight.lastValue == 0)
            }
        }
    }
}
