import CacheTestKit
import HiredisClient
import RedisCache
import RedisTestSupport
import Testing

/// `fetchWithSource` says where the value came from, against a real redis-server.
struct FetchSourceTests {
    struct Product: Codable, Equatable, Sendable {
        var name: String
    }

    @Test func aStoredValueIsAHitAndComputeDoesNotRun() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, _, _) async throws in
                try await cache.set("product:1", bytes("cached"))
                let computations = ConcurrentCounter()
                let result = try await cache.fetchWithSource("product:1") {
                    computations.increment()
                    return bytes("computed")
                }
                #expect(result == FetchResult(value: bytes("cached"), source: .hit))
                #expect(result.source.description == "hit")
                #expect(!result.source.computed)
                #expect(computations.value == 0)
            }
        }
    }

    @Test func aMissIsComputedAndStoredInRedis() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, _, _) async throws in
                let result = try await cache.fetchWithSource("product:2", ttl: .seconds(30)) { bytes("computed") }
                #expect(result == FetchResult(value: bytes("computed"), source: .computedAndStored))
                #expect(result.source.description == "computed_and_stored")
                #expect(try server.cli("GET", "test:product:2") == "computed")
                let again = try await cache.fetchWithSource("product:2") { bytes("other") }
                #expect(again == FetchResult(value: bytes("computed"), source: .hit))
            }
        }
    }

    @Test func aStoppedRedisGivesComputedWhileDegradedAndStoresNothing() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, backend, _) async throws in
                await server.stop()
                let callsBefore = backend.calls
                let result = try await cache.fetchWithSource("product:3") { bytes("computed") }
                #expect(result == FetchResult(value: bytes("computed"), source: .computedWhileDegraded))
                #expect(result.source.description == "computed_while_degraded")
                // The lookup failed; no store was attempted.
                #expect(backend.calls == callsBefore + 1)
            }
        }
    }

    @Test func anOpenCircuitGivesComputedWhileDegradedWithoutCallingRedis() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, backend, _) async throws in
                cache.circuit.forceOpen(reason: "test")
                let callsBefore = backend.calls
                let result = try await cache.fetchWithSource("product:4") { bytes("computed") }
                #expect(result.source == .computedWhileDegraded)
                #expect(backend.calls == callsBefore)
            }
        }
    }

    @Test func aValueTooLargeToStoreIsComputedNotStored() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: { $0.maximumValueSize = 4 }) { (cache, _, _) async throws in
                let result = try await cache.fetchWithSource("product:5") { bytes("too large") }
                #expect(result == FetchResult(value: bytes("too large"), source: .computedNotStored))
                #expect(try server.cli("EXISTS", "test:product:5") == "0")
            }
        }
    }

    @Test func concurrentFetchesShareOneComputationAndItsSource() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, _, _) async throws in
                let computations = ConcurrentCounter()
                let sources = try await withThrowingTaskGroup(of: FetchSource.self) { group in
                    for _ in 0..<10 {
                        group.addTask {
                            try await cache.fetchWithSource("product:6") {
                                computations.increment()
                                try await Task.sleep(for: .milliseconds(100))
                                return bytes("computed")
                            }.source
                        }
                    }
                    return try await group.reduce(into: [FetchSource]()) { $0.append($1) }
                }
                #expect(computations.value == 1)
                #expect(sources.allSatisfy { $0 == .computedAndStored })
            }
        }
    }

    @Test func codableFetchWithSourceDecodesHitsAndEncodesWhatItStores() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, _, _) async throws in
                let first = try await cache.fetchWithSource("p", as: Product.self) { Product(name: "lamp") }
                #expect(first == FetchResult(value: Product(name: "lamp"), source: .computedAndStored))
                #expect(try server.cli("GET", "test:p") == #"{"name":"lamp"}"#)
                let second = try await cache.fetchWithSource("p", as: Product.self) { Product(name: "other") }
                #expect(second == FetchResult(value: Product(name: "lamp"), source: .hit))
            }
        }
    }
}
