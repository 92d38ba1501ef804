import CacheTestKit
import HiredisClient
import RedisCache
import RedisTestSupport
import Synchronization
import Testing

/// `fetchOptional` remembers "not found" for `negativeTTL`, against a real redis-server.
struct NegativeCachingTests {
    /// A `compute` that finds nothing (or `found` once it is set) and counts its calls.
    final class Origin: Sendable {
        let calls = ConcurrentCounter()
        let delay: Duration
        private let storage = Mutex<[UInt8]?>(nil)

        init(delay: Duration = .zero) { self.delay = delay }

        func find(_ value: [UInt8]) { storage.withLock { $0 = value } }

        func load() async throws -> [UInt8]? {
            calls.increment()
            if delay > .zero { try await Task.sleep(for: delay) }
            return storage.withLock { $0 }
        }
    }

    private func remembering(_ ttl: Duration = .seconds(30)) -> (inout ResilientCacheConfiguration) -> Void {
        { $0.negativeTTL = ttl }
    }

    @Test func aMissingItemReachesTheOriginOnceAcrossCalls() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: remembering()) { (cache, _, _) async throws in
                let origin = Origin()
                let first = try await cache.fetchOptionalWithSource("product:404", compute: origin.load)
                #expect(first == FetchResult(value: nil, source: .computedAndStored))
                for _ in 0..<5 {
                    let again = try await cache.fetchOptionalWithSource("product:404", compute: origin.load)
                    #expect(again == FetchResult(value: nil, source: .hit))
                }
                #expect(origin.calls.value == 1)
                // The remembered "not found" is an entry of its own: the key itself holds nothing.
                #expect(try server.cli("EXISTS", "test:product:404") == "0")
                #expect(try server.cli("DBSIZE") == "1")
            }
        }
    }

    @Test func concurrentFetchesOfAMissingItemRunOneComputation() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: remembering()) { (cache, _, _) async throws in
                let origin = Origin(delay: .milliseconds(100))
                let values = try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
                    for _ in 0..<20 { group.addTask { try await cache.fetchOptional("gone", compute: origin.load) } }
                    return try await group.reduce(into: [[UInt8]?]()) { $0.append($1) }
                }
                #expect(values.count == 20)
                #expect(values.allSatisfy { $0 == nil })
                #expect(origin.calls.value == 1)
                _ = try await cache.fetchOptional("gone", compute: origin.load)
                #expect(origin.calls.value == 1)
            }
        }
    }

    @Test func theRememberedNotFoundExpiresAfterTheNegativeTTL() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: remembering(.milliseconds(300))) { (cache, _, _) async throws in
                let origin = Origin()
                _ = try await cache.fetchOptional("soon", compute: origin.load)
                _ = try await cache.fetchOptional("soon", compute: origin.load)
                #expect(origin.calls.value == 1)
                origin.find(bytes("created"))
                try await Task.sleep(for: .milliseconds(500))
                let result = try await cache.fetchOptionalWithSource("soon", compute: origin.load)
                #expect(result == FetchResult(value: bytes("created"), source: .computedAndStored))
                #expect(origin.calls.value == 2)
            }
        }
    }

    @Test func negativeCachingIsOffByDefault() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, _, _) async throws in
                #expect(cache.configuration.negativeTTL == nil)
                let origin = Origin()
                let first = try await cache.fetchOptionalWithSource("absent", compute: origin.load)
                let second = try await cache.fetchOptionalWithSource("absent", compute: origin.load)
                #expect(first == FetchResult(value: nil, source: .computedNotStored))
                #expect(second == first)
                #expect(origin.calls.value == 2)
                #expect(try server.cli("DBSIZE") == "0")
            }
        }
    }

    @Test func aLaterSetWinsOverTheRememberedNotFound() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: remembering()) { (cache, _, _) async throws in
                let origin = Origin()
                _ = try await cache.fetchOptional("item", compute: origin.load)
                try await cache.set("item", bytes("created"))
                let result = try await cache.fetchOptionalWithSource("item", compute: origin.load)
                #expect(result == FetchResult(value: bytes("created"), source: .hit))
                #expect(origin.calls.value == 1)
            }
        }
    }

    @Test func deleteAndInvalidateEndTheRememberedNotFound() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: remembering()) { (cache, _, _) async throws in
                let origin = Origin()
                _ = try await cache.fetchOptional("a", compute: origin.load)
                _ = try await cache.fetchOptional("b", compute: origin.load)
                #expect(origin.calls.value == 2)
                #expect(try await cache.delete("a") == 0)  // the count is of values; "not found" is not one
                #expect(try await cache.invalidate(pattern: "b") == 0)
                #expect(try server.cli("DBSIZE") == "0")
                origin.find(bytes("created"))
                #expect(try await cache.fetchOptional("a", compute: origin.load) == bytes("created"))
                #expect(try await cache.fetchOptional("b", compute: origin.load) == bytes("created"))
                #expect(origin.calls.value == 4)
            }
        }
    }

    @Test func aKeyJournaledDuringAnOutageIsNotAnsweredFromTheRememberedNotFound() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: remembering()) { (cache, backend, _) async throws in
                let origin = Origin()
                _ = try await cache.fetchOptional("item", compute: origin.load)
                #expect(origin.calls.value == 1)
                // The item is created; the delete that should end the "not found" cannot reach Redis.
                backend.faults = .down
                #expect(try await cache.delete("item") == 0)
                backend.faults = .none
                #expect(cache.health().journalSize > 0)
                // Redis still holds the "not found" entry, but the key is fenced until the journal is replayed.
                #expect(try server.cli("DBSIZE") == "1")
                origin.find(bytes("created"))
                let result = try await cache.fetchOptionalWithSource("item", compute: origin.load)
                #expect(result == FetchResult(value: bytes("created"), source: .computedAndStored))
                #expect(origin.calls.value == 2)
            }
        }
    }

    @Test func aPlainFetchNeverReturnsTheRememberedNotFound() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: remembering()) { (cache, _, _) async throws in
                let origin = Origin()
                _ = try await cache.fetchOptional("item", compute: origin.load)
                let result = try await cache.fetchWithSource("item") { bytes("rendered") }
                #expect(result == FetchResult(value: bytes("rendered"), source: .computedAndStored))
            }
        }
    }

    @Test func aMissingItemWhileRedisIsDownIsComputedEveryTime() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: remembering()) { (cache, _, _) async throws in
                cache.circuit.forceOpen(reason: "test")
                let origin = Origin()
                let first = try await cache.fetchOptionalWithSource("item", compute: origin.load)
                _ = try await cache.fetchOptional("item", compute: origin.load)
                #expect(first == FetchResult(value: nil, source: .computedWhileDegraded))
                #expect(origin.calls.value == 2)
            }
        }
    }
}
