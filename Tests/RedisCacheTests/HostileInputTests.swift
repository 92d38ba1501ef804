import CacheTestKit
import HiredisClient
import RedisCache
import RedisTestSupport
import Resilience
import Testing

/// What a hostile or careless caller, or a server at its limits, does to the cache, against a real redis-server.
struct HostileInputTests {
    @Test func aTTLOfInt64MaxWithJitterIsStoredCappedInsteadOfTrapping() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: { $0.ttlJitter = 0.1 }) { (cache, _, _) async throws in
                #expect(try await cache.set("forever", bytes("v"), ttl: .seconds(Int64.max)))
                let pttl = try #require(Int64(try server.cli("PTTL", "test:forever")))
                #expect(pttl > 0, "stored with an expiry")
                #expect(pttl <= 100 * 365 * 86_400 * 1_000, "capped at 100 years")
                #expect(try await cache.fetch("fetched", ttl: .seconds(Int64.max)) { bytes("x") } == bytes("x"))
                #expect(Int64(try server.cli("PTTL", "test:fetched")) ?? 0 > 0)
            }
        }
    }

    @Test(arguments: [Duration.zero, .milliseconds(-1), .seconds(-60)])
    func aTTLOfZeroOrLessIsRefusedWithAClearError(_ ttl: Duration) async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, counting, _) async throws in
                let calls = counting.calls
                let error = await #expect(throws: CacheError.self) { try await cache.set("k", bytes("v"), ttl: ttl) }
                #expect(error?.code == .invalidArgument)
                #expect(error?.description.contains("ttl must be positive") == true)
                let computed = ConcurrentCounter()
                await #expect(throws: CacheError.self) {
                    try await cache.fetch("f", ttl: ttl) {
                        computed.increment()
                        return bytes("x")
                    }
                }
                #expect(computed.value == 0)
                #expect(counting.calls == calls, "nothing reached Redis")
                #expect(try server.cli("EXISTS", "test:k") == "0")
            }
        }
    }

    @Test func aByteArrayIsStoredAsBytesAndACodableValueOnlyWithItsLabel() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, _, _) async throws in
                try await cache.set("raw", [1, 2, 3])
                #expect(try await cache.get("raw") == [1, 2, 3])
                #expect(try server.cli("STRLEN", "test:raw") == "3")
                try await cache.set("json", encoding: [1, 2, 3])
                #expect(try server.cli("GET", "test:json") == "[1,2,3]")
                #expect(try await cache.get("json", as: [Int].self) == [1, 2, 3])
            }
        }
    }

    @Test func aNamespaceWithoutSeparatorIsAWholeSegmentSoInvalidationNeverReachesItsNeighbours() async throws {
        try await RedisServer.withServer { server in
            _ = try server.cli("SET", "nsother:a", "neighbour")
            _ = try server.cli("SET", "nsx", "neighbour")
            _ = try server.cli("SET", "ns", "neighbour")
            try await withCache(server, configure: { $0.namespace = "ns" }) { (cache, _, _) async throws in
                #expect(cache.configuration.namespace == "ns:")
                try await cache.set("a", bytes("ours"))
                try await cache.set("b", bytes("ours"))
                #expect(try await cache.invalidate(pattern: "*") == 2)
                #expect(try server.cli("EXISTS", "ns:a") == "0")
                #expect(try await cache.get("other:a") == nil, "nsother:a is not the cache's ns:other:a")
            }
            #expect(try server.cli("GET", "nsother:a") == "neighbour")
            #expect(try server.cli("GET", "nsx") == "neighbour")
            #expect(try server.cli("GET", "ns") == "neighbour")
            #expect(ResilientCacheConfiguration(namespace: "ns").namespace == "ns:")
            #expect(ResilientCacheConfiguration(namespace: "ns:").namespace == "ns:")
            #expect(ResilientCacheConfiguration(namespace: "").namespace == "")
        }
    }

    @Test func aServerAtMaxclientsIsAnOutageNotTheCallersErrorAndFailedWritesAreJournaled() async throws {
        try await RedisServer.withServer { server in
            // One client holds the only slot; every connection the cache makes is answered
            // `-ERR max number of clients reached` and closed.
            let holder = try await RawConnection.connect(port: server.port)
            defer { holder.close() }
            _ = try server.cli("CONFIG", "SET", "maxclients", "1")
            try await withCache(server) { (cache, _, _) async throws in
                for index in 0..<20 {
                    #expect(try await cache.get("k\(index)") == nil)
                    #expect(try await cache.set("k\(index)", bytes("v")))
                }
                #expect(cache.circuit.state == .open)
                #expect(cache.metrics.journalSize == 20, "every write that failed is journaled")
                let failure = try #require(cache.circuit.metrics.recentFailures.last)
                #expect(
                    failure.message.contains("max number of clients reached") || failure.message.contains("CONNECTION"))
            }
        }
    }
}
