import CacheTestKit
import HiredisClient
import RedisCache
import RedisTestSupport
import Resilience
import Testing

/// Every operation with Redis healthy.
struct ResilientCacheHealthyTests {
    struct Profile: Codable, Equatable, Sendable {
        var name: String
        var visits: Int
    }

    @Test func everyOperationWorksAgainstRedis() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, _, _) async throws in
                #expect(try await cache.get("a") == nil)
                #expect(try await cache.set("a", bytes("1"), ttl: .seconds(30)))
                #expect(try await cache.get("a") == bytes("1"))
                #expect(try server.cli("GET", "test:a") == "1")
                let ttl = Int(try server.cli("PTTL", "test:a")) ?? 0
                #expect(ttl > 29_000 && ttl <= 30_000)

                try await cache.set("b", bytes("2"))
                #expect(try await cache.get(many: ["a", "missing", "b"]) == [bytes("1"), nil, bytes("2")])

                guard case .hit(let value) = try await cache.lookup("a") else {
                    Issue.record("expected a hit")
                    return
                }
                #expect(value == bytes("1"))
                guard case .miss = try await cache.lookup("missing") else {
                    Issue.record("expected a miss")
                    return
                }

                #expect(try await cache.delete("a") == 1)
                #expect(try await cache.delete("a") == 0)
                #expect(try await cache.get("a") == nil)

                for index in 0..<20 { try await cache.set("user:\(index)", bytes("u")) }
                try await cache.set("order:1", bytes("o"))
                _ = try server.cli("SET", "outside:user:1", "not ours")
                #expect(try await cache.invalidate(pattern: "user:*") == 20)
                #expect(try await cache.get("order:1") == bytes("o"))
                #expect(try server.cli("GET", "outside:user:1") == "not ours")

                let profile = Profile(name: "Ada", visits: 3)
                try await cache.set("profile", encoding: profile)
                #expect(try await cache.get("profile", as: Profile.self) == profile)
                #expect(try server.cli("GET", "test:profile") == #"{"name":"Ada","visits":3}"#)

                let health = cache.health()
                #expect(health.status == "ok")
                #expect(health.state == "closed")
                #expect(health.journalSize == 0)
            }
        }
    }

    @Test func fetchComputesOnAMissAndServesTheCacheAfterwards() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, _, _) async throws in
                let computed = ConcurrentCounter()
                let first = try await cache.fetch("page", ttl: .seconds(60)) {
                    computed.increment()
                    return bytes("rendered")
                }
                let second = try await cache.fetch("page", ttl: .seconds(60)) {
                    computed.increment()
                    return bytes("rendered again")
                }
                #expect(first == bytes("rendered"))
                #expect(second == bytes("rendered"))
                #expect(computed.value == 1)
                #expect(cache.metrics.originCalls == 1)

                let profile: Profile = try await cache.fetch("p", as: Profile.self) { Profile(name: "Bo", visits: 1) }
                #expect(profile == Profile(name: "Bo", visits: 1))
                #expect(try await cache.get("p", as: Profile.self) == profile)
            }
        }
    }

    @Test func oneHundredConcurrentFetchesOfAMissingKeyComputeOnce() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, _, _) async throws in
                let computed = ConcurrentCounter()
                let values = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                    for _ in 0..<100 {
                        group.addTask {
                            try await cache.fetch("hot") {
                                computed.increment()
                                try await Task.sleep(for: .milliseconds(100))  // a slow origin
                                return bytes("expensive")
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(values.count == 100)
                #expect(values.allSatisfy { $0 == bytes("expensive") })
                #expect(computed.value == 1)
            }
        }
    }

    @Test func computeErrorsPropagateAndDoNotCountAgainstRedis() async throws {
        struct OriginDown: Error {}
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, _, _) async throws in
                for _ in 0..<10 {
                    await #expect(throws: OriginDown.self) {
                        try await cache.fetch("broken") { throw OriginDown() }
                    }
                }
                #expect(cache.circuit.state == .closed)
                #expect(cache.circuit.metrics.consecutiveFailures == 0)
            }
        }
    }

    @Test func wrongTypeIsTheCallersErrorAndDoesNotOpenTheBreaker() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, _, _) async throws in
                _ = try server.cli("HSET", "test:hash", "field", "value")
                for _ in 0..<20 {
                    let error = await #expect(throws: CacheError.self) { _ = try await cache.get("hash") }
                    #expect(error?.code == .refused)
                    #expect(error?.message.contains("WRONGTYPE") == true)
                }
                #expect(cache.circuit.state == .closed)
                #expect(cache.metrics.degradedTotal == 0)
            }
        }
    }

    @Test func aValueTooLargeIsRejectedWithoutTouchingRedis() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: { $0.maximumValueSize = 1024 }) {
                (cache, counting, _) async throws in
                let before = counting.calls
                for _ in 0..<10 {
                    await #expect(throws: CacheError.self) {
                        try await cache.set("big", [UInt8](repeating: 1, count: 2048))
                    }
                }
                #expect(counting.calls == before)
                #expect(cache.circuit.state == .closed)
            }
        }
    }
}
