import HiredisClient
import InMemoryTracing
import RedisTestSupport
import Testing
import Tracing

/// Client spans of commands and pipelines, recorded by an in-memory tracer, against a real redis-server.
struct RedisClientTracingTests {
    @Test func eachCommandIsAClientSpanUnderTheCallersSpanWithDatabaseAttributesAndNoArguments() async throws {
        let tracer = InMemoryTracer()
        try await RedisServer.withServer { (server) async throws in
            try await withClient(
                server,
                configure: {
                    $0.tracer = tracer; $0.database = 3
                }
            ) { (client) async throws in
                let parent = tracer.startSpan("request")
                try await ServiceContext.$current.withValue(parent.context) { () async throws in
                    try await client.set("secret-key", value: bytes("secret-value"))
                    _ = try await client.mget(["secret-key", "other"])
                }
                parent.end()
                let commands = tracer.finishedSpans.filter { $0.kind == .client }
                #expect(commands.map(\.operationName) == ["SET", "MGET"])
                for span in commands {
                    #expect(span.parentSpanID == parent.spanID)
                    #expect(span.attributes.get("db.system.name") == .string("redis"))
                    #expect(span.attributes.get("db.operation.name") == .string(span.operationName))
                    #expect(span.attributes.get("db.namespace") == .string("3"))
                    #expect(span.attributes.get("server.address") == .string("127.0.0.1"))
                    #expect(span.attributes.get("server.port") == .int64(Int64(server.port)))
                    span.attributes.forEach { name, value in
                        #expect(!"\(value)".contains("secret"), "\(span.operationName) \(name)")
                    }
                }
            }
        }
    }

    @Test func aPipelineIsOneBatchSpanAndFailedCommandsAreRecordedErrors() async throws {
        let tracer = InMemoryTracer()
        try await RedisServer.withServer { (server) async throws in
            try await withClient(server, configure: { $0.tracer = tracer }) { (client) async throws in
                _ = await client.pipeline((0..<4).map { RedisCommand("GET", [bytes("k\($0)")]) })
                _ = try await client.send("SET", [bytes("text"), bytes("v")])
                tracer.clearFinishedSpans()
                let results = await client.pipeline([
                    RedisCommand("GET", [bytes("text")]), RedisCommand("HGET", [bytes("text"), bytes("f")]),
                ])
                #expect(results.count == 2)
                #expect((try? results[1].get()) == nil, "HGET on a string is WRONGTYPE")

                let mixed = try #require(tracer.finishedSpans.first)
                #expect(tracer.finishedSpans.count == 1)
                #expect(mixed.operationName == "BATCH")
                #expect(mixed.kind == .client)
                #expect(mixed.attributes.get("db.operation.batch.size") == .int64(2))
                #expect(mixed.errors.count == 1)
                #expect(mixed.status?.code == .error)
            }
            let sameTracer = InMemoryTracer()
            try await withClient(server, configure: { $0.tracer = sameTracer }) { (client) async throws in
                _ = await client.pipeline((0..<4).map { RedisCommand("GET", [bytes("k\($0)")]) })
                let batch = try #require(sameTracer.finishedSpans.first)
                #expect(batch.operationName == "BATCH GET")
                #expect(batch.attributes.get("db.operation.batch.size") == .int64(4))
                #expect(batch.errors.isEmpty)
                #expect(batch.status == nil)
            }
        }
    }

    @Test func aFailedCommandRecordsItsErrorAndAnErrorStatus() async throws {
        let tracer = InMemoryTracer()
        try await RedisServer.withServer { (server) async throws in
            try await withClient(server, configure: { $0.tracer = tracer }) { (client) async throws in
                _ = try await client.send("SET", [bytes("text"), bytes("v")])
                tracer.clearFinishedSpans()
                await #expect(throws: RedisClientError.self) {
                    _ = try await client.send("HGET", [bytes("text"), bytes("f")])
                }
                #expect(try await client.get("missing") == nil)
                let spans = tracer.finishedSpans
                #expect(spans.map(\.operationName) == ["HGET", "GET"])
                #expect(spans[0].errors.first?.error is RedisClientError)
                #expect(spans[0].status?.code == .error)
                #expect(spans[1].errors.isEmpty, "a nil reply is a reply")
                #expect(spans[1].status == nil)
            }
        }
    }
}
