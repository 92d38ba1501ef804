import CacheTestKit
import Foundation
import HiredisClient
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import ServiceLifecycle
import Testing

/// The README's examples, verbatim but for the URL, so the README cannot drift from the API.
struct ReadmeCacheExampleTests {
    @Test func theReadmeServiceExampleRunsAndClosesEverythingWhenTheGroupStops() async throws {
        try await RedisServer.withServer { server in
            let url = "redis://127.0.0.1:\(server.port)"
            let rendered = ConcurrentCounter()
            @Sendable func renderProduct(_ id: Int) async throws -> [UInt8] {
                rendered.increment()
                return Array("<h1>product \(id)</h1>".utf8)
            }
            let logger = Logger(label: "catalog", factory: { _ in SwiftLogNoOpLogHandler() })
            let clientThreadsBefore = ClientThreads.count  // the suite runs serially (`swift test --no-parallel`)

            // --- README example begins (URL from the test server) ---
            var configuration = ResilientCacheConfiguration(namespace: "catalog:")
            configuration.defaultTTL = .seconds(300)
            let cache = try ResilientCache(url: url, configuration: configuration, logger: logger)
            let group = ServiceGroup(services: [cache], logger: logger)  // with your HTTP server beside it
            // --- README example ends ---

            let running = Task { try await group.run() }

            // --- README handler example begins ---
            // Cache-aside: runs the query once per miss (concurrent misses of one key share one computation),
            // also while Redis is down, and never waits on a Redis that is known to be down.
            let page = try await cache.fetch("product:42", ttl: .seconds(60)) { try await renderProduct(42) }

            try await cache.set("product:42", page)  // true even when Redis is unreachable (journaled)
            try await cache.delete("product:42")  // 0 when Redis is unreachable (journaled)
            try await cache.invalidate(pattern: "product:*")  // SCAN + UNLINK inside the namespace, never KEYS
            let health = cache.health()  // Codable: serve it from your health endpoint
            // --- README handler example ends ---

            #expect(page == Array("<h1>product 42</h1>".utf8))
            #expect(rendered.value == 1)
            #expect(health.status == "ok")
            #expect(try server.cli("EXISTS", "catalog:product:42") == "0")
            #expect(
                ClientThreads.count > clientThreadsBefore, "the cache's client runs its I/O threads while it serves")

            await group.triggerGracefulShutdown()
            try await running.value

            // run() returned: the client the cache created is closed, and its threads are gone.
            // (`close()` returns as its last thread, `redis-close`, finishes: give that thread a moment to exit.)
            try await eventually(timeout: .seconds(2)) { ClientThreads.count == clientThreadsBefore }
            try await cache.set("after", Array("x".utf8))
            #expect(try server.cli("EXISTS", "catalog:after") == "0", "a closed client reaches nothing")
        }
    }

    @Test func theReadmeClusterExampleServesEveryShardAndClosesItsThreads() async throws {
        try await RedisCluster.withCluster { cluster in
            let logger = Logger(label: "catalog", factory: { _ in SwiftLogNoOpLogHandler() })
            let seeds = cluster.seedURL
            let clientThreadsBefore = ClientThreads.count

            // --- README cluster example begins (seeds from the test cluster) ---
            let cache = try ResilientCache(
                clusterURL: seeds,  // seeds: any nodes, ideally all
                configuration: ResilientCacheConfiguration(namespace: "catalog:"),
                logger: logger
            )
            // run it in a ServiceGroup exactly as above; it also keeps the cluster's topology fresh.
            // --- README cluster example ends ---

            let group = ServiceGroup(services: [cache], logger: logger)
            let running = Task { try await group.run() }
            for index in 0..<60 { try await cache.set("product:\(index)", [UInt8(index)]) }
            for index in 0..<60 { #expect(try await cache.get("product:\(index)") == [UInt8(index)]) }
            let shards = try #require(cache.health().shards)
            #expect(Set(shards.compactMap(\.shard)) == ["0", "1", "2"], "60 keys reach all three shards")
            #expect(shards.allSatisfy { $0.state == "closed" })
            // The event loops all nodes share (one per core, at most 2) + 1 deadline thread: the README's thread table.
            #expect(
                ClientThreads.count - clientThreadsBefore == min(2, ProcessInfo.processInfo.activeProcessorCount) + 1)
            await group.triggerGracefulShutdown()
            try await running.value
            try await eventually(timeout: .seconds(2)) { ClientThreads.count == clientThreadsBefore }
        }
    }

    @Test func theReadmeTLSExampleServesOverTLSWithMutualAuthentication() async throws {
        let certificates = try await TestCertificates.generate()
        defer { certificates.remove() }
        var options = RedisServer.Options()
        options.tls = .init(certificates: certificates, authenticateClients: true)
        try await RedisServer.withServer(options) { server in
            let logger = Logger(label: "catalog", factory: { _ in SwiftLogNoOpLogHandler() })
            let url = try #require(server.tlsURL)  // rediss://127.0.0.1:PORT
            let caFile = certificates.caFile
            let (certificateFile, keyFile) = (certificates.client.certificateFile, certificates.client.keyFile)

            // --- README TLS example begins (URL and files from the test server) ---
            var redis = try RedisClientConfiguration(url: url)  // rediss://: TLS 1.2+, certificate and name verified
            redis.tls?.caFile = caFile  // the CA your provider gives you (the system's trust store when nil)
            redis.tls?.certificateFile = certificateFile  // mutual TLS, when the server asks for a client certificate
            redis.tls?.keyFile = keyFile
            let cache = try ResilientCache(redis: redis, logger: logger)
            // --- README TLS example ends ---

            let running = Task { await cache.run() }
            try await cache.set("over-tls", Array("yes".utf8))
            #expect(try await cache.get("over-tls") == Array("yes".utf8))
            #expect(cache.metrics.degradedTotal == 0)
            #expect(try server.cli("GET", "cache:over-tls") == "yes", "written through the TLS port")
            cache.shutdown()
            await running.value
        }
    }

    @Test func theReadmeBreakerExampleRuns() async throws {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let calls = ConcurrentCounter()
        @Sendable func callDependency() async throws { calls.increment() }

        // --- README example begins ---
        let breaker = CircuitBreaker(
            configuration: .init(failureThreshold: 5, openDuration: .seconds(30)), logger: logger)
        let permit = try breaker.acquire()  // throws CircuitBreakerError (.open / .throttled), allocation-free
        do { try await callDependency(); permit.succeeded() } catch { permit.failed(error) }
        // --- README example ends ---

        #expect(calls.value == 1)
        #expect(breaker.state == .closed)
    }
}

/// The threads the Redis client starts (`redis-loop-N` or `redis-io-N`, `redis-deadline`, `redis-connect`,
/// `redis-close`), from `/proc/self/task`.
enum ClientThreads {
    static var count: Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.count { task in
            let name = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
            return name.hasPrefix("redis-")
        }
    }
}
