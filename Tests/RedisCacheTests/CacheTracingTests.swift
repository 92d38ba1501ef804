import HiredisClient
import InMemoryTracing
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import Testing
import Tracing

/// Spans of cache operations and of the Redis commands under them, recorded by an in-memory tracer, against a
/// real redis-server.
struct CacheTracingTests {
    @Test func aGetInsideAParentSpanIsACacheGetChildWithItsResultAndARedisGetSpanUnderIt() async throws {
        try await withTracedCache { (cache, tracer, port) async throws in
            try await cache.set("present", bytes("v"))
            tracer.clearFinishedSpans()

            let parent = tracer.startSpan("request")
            try await ServiceContext.$current.withValue(parent.context) { () async throws in
                #expect(try await cache.get("present") == bytes("v"))
                #expect(try await cache.get("absent") == nil)
            }
            parent.end()

            let spans = tracer.finishedSpans
            let gets = spans.filter { $0.operationName == "cache.get" }
            #expect(gets.map { $0.attributes.get("cache.result") } == [.string("hit"), .string("miss")])
            for get in gets {
                #expect(get.parentSpanID == parent.spanID)
                #expect(get.traceID == parent.traceID)
                #expect(get.attributes.get("cache.circuit.state") == .string("closed"))
                #expect(get.attributes.get("cache.namespace") == .string("traced:"))
                let commands = spans.filter { $0.parentSpanID == get.spanID }
                #expect(commands.map(\.operationName) == ["GET"])
                let command = try #require(commands.first)
                #expect(command.kind == .client)
                #expect(command.attributes.get("db.system.name") == .string("redis"))
                #expect(command.attributes.get("db.operation.name") == .string("GET"))
                #expect(command.attributes.get("server.address") == .string("127.0.0.1"))
                #expect(command.attributes.get("server.port") == .int64(Int64(port)))
                #expect(command.errors.isEmpty)
            }
            // No key or value in any attribute.
            for span in spans {
                span.attributes.forEach { name, value in
                    let text = "\(value)"
                    #expect(!text.contains("present") && !text.contains("absent"), "\(span.operationName) \(name)")
                }
            }
        }
    }

    @Test func whileTheCircuitIsOpenCallsMakeDegradedOrFencedSpansAndNoRedisSpan() async throws {
        try await withTracedCache { (cache, tracer, _) async throws in
            cache.circuit.forceOpen(reason: "test")
            tracer.clearFinishedSpans()

            #expect(try await cache.get("k") == nil)
            #expect(try await cache.set("k", bytes("v")))  // journaled: Redis may hold an older value
            #expect(try await cache.get("k") == nil)  // fenced by the journal, before the breaker is asked

            let spans = tracer.finishedSpans
            #expect(spans.map(\.operationName) == ["cache.get", "cache.set", "cache.get"])
            #expect(
                spans.map { $0.attributes.get("cache.result") } == [
                    .string("degraded"), .string("degraded"), .string("fenced"),
                ])
            #expect(spans.allSatisfy { $0.attributes.get("cache.circuit.state") == .string("open") })
            #expect(spans[1].attributes.get("cache.journaled") == .bool(true))
            #expect(spans[0].errors.count == 1)
            #expect(spans[0].status == nil, "a degraded read is a miss to the caller, not an error")
            #expect(spans.allSatisfy { $0.kind != .client })
        }
    }

    @Test func getManyIsOneMgetClientSpanAndFetchNestsItsLookupComputeAndStore() async throws {
        try await withTracedCache { (cache, tracer, _) async throws in
            tracer.clearFinishedSpans()
            _ = try await cache.get(many: ["a", "b", "c"])
            let getMany = try #require(tracer.finishedSpans.first { $0.operationName == "cache.get_many" })
            let mget = tracer.finishedSpans.filter { $0.parentSpanID == getMany.spanID }
            #expect(mget.map(\.operationName) == ["MGET"])
            #expect(mget.first?.kind == .client)

            tracer.clearFinishedSpans()
            let value = try await cache.fetch("page") {
                tracer.withSpan("render") { _ in bytes("computed") }
            }
            #expect(value == bytes("computed"))
            var spans = tracer.finishedSpans
            let fetch = try #require(spans.first { $0.operationName == "cache.fetch" })
            #expect(fetch.attributes.get("cache.result") == .string("miss"))
            let children = spans.filter { $0.parentSpanID == fetch.spanID }
            #expect(children.map(\.operationName) == ["cache.get", "render", "cache.set"])
            let store = try #require(children.last)
            #expect(spans.filter { $0.parentSpanID == store.spanID }.map(\.operationName) == ["SET"])

            tracer.clearFinishedSpans()
            #expect(try await cache.fetch("page") { bytes("recomputed") } == bytes("computed"))
            spans = tracer.finishedSpans
            let hit = try #require(spans.first { $0.operationName == "cache.fetch" })
            #expect(hit.attributes.get("cache.result") == .string("hit"))
            #expect(!spans.contains { $0.operationName == "cache.set" })
        }
    }

    @Test func aFetchWhoseComputeThrowsRecordsTheErrorOnItsSpan() async throws {
        struct OriginDown: Error {}
        try await withTracedCache { (cache, tracer, _) async throws in
            tracer.clearFinishedSpans()
            await #expect(throws: OriginDown.self) {
                _ = try await cache.fetch("page") { throw OriginDown() }
            }
            let fetch = try #require(tracer.finishedSpans.first { $0.operationName == "cache.fetch" })
            #expect(fetch.errors.count == 1)
            #expect(fetch.errors.first?.error is OriginDown)
            #expect(fetch.status?.code == .error)
        }
    }

    @Test func deleteAndInvalidateAreSpansWithTheirRedisCommandsUnderThem() async throws {
        try await withTracedCache { (cache, tracer, _) async throws in
            try await cache.set("user:1", bytes("a"))
            tracer.clearFinishedSpans()
            #expect(try await cache.delete("user:1") == 1)
            #expect(try await cache.invalidate(pattern: "user:*") == 0)
            let spans = tracer.finishedSpans
            let delete = try #require(spans.first { $0.operationName == "cache.delete" })
            let invalidate = try #require(spans.first { $0.operationName == "cache.invalidate" })
            #expect(spans.filter { $0.parentSpanID == delete.spanID }.map(\.operationName) == ["UNLINK"])
            #expect(spans.filter { $0.parentSpanID == invalidate.spanID }.map(\.operationName).first == "SCAN")
        }
    }
}

/// A running cache over a real server whose cache and client both trace to one in-memory tracer.
private func withTracedCache(
    _ body: (ResilientCache, InMemoryTracer, Int) async throws -> Void
) async throws {
    try await RedisServer.withServer { (server) async throws in
        let tracer = InMemoryTracer()
        var redis = try RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port))
        if let password = server.options.password { redis.authentication = .init(password: password) }
        redis.tracer = tracer
        var configuration = ResilientCacheConfiguration(namespace: "traced:", breaker: testBreakerConfiguration())
        configuration.tracer = tracer
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let cache = try ResilientCache(redis: redis, configuration: configuration, logger: quiet)
        let running = Task { await cache.run() }
        defer { running.cancel() }
        try await body(cache, tracer, server.port)
        cache.shutdown()
        await running.value
    }
}
