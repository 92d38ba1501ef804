import CacheTestKit
import HiredisClient
import RedisCache
import RedisTestSupport
import Resilience
import Synchronization
import Testing

/// Outages against a real redis-server: stopped, hung, restarted, out of memory.
struct ResilientCacheOutageTests {
    @Test func aStoppedRedisDegradesEveryCallWithinItsDeadlineAndOpensTheBreaker() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, commandTimeout: .milliseconds(200)) { (cache, counting, _) async throws in
                try await cache.set("k", bytes("v"))
                await server.stop()

                // Traffic on a stopped server: nothing throws, nothing overruns its deadline.
                let slowest = Slowest()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<50 {
                        group.addTask {
                            let elapsed = try await measure { () async throws in
                                switch index % 4 {
                                case 0: #expect(try await cache.get("k") == nil)
                                case 1: #expect(try await cache.set("k\(index)", bytes("x")))
                                case 2: #expect(try await cache.delete("k\(index)") == 0)
                                default:
                                    #expect(
                                        try await cache.fetch("f\(index)") { bytes("computed") } == bytes("computed"))
                                }
                            }
                            slowest.record(elapsed)
                        }
                    }
                    try await group.waitForAll()
                }
                #expect(slowest.value < .milliseconds(300), "deadline 200 ms + 100 ms margin")
                #expect(cache.circuit.state == .open)
                #expect(cache.health().degraded)

                // While open, no call reaches the backend.
                let callsWhenOpen = counting.calls
                for index in 0..<200 {
                    _ = try await cache.get("k\(index)")
                    _ = try await cache.set("k\(index)", bytes("x"))
                }
                if cache.circuit.state == .open {
                    #expect(counting.calls == callsWhenOpen)
                }
                #expect(cache.metrics.degraded["get", default: 0] > 0)
                #expect(cache.metrics.breaker.counts.rejected > 0)
            }
        }
    }

    @Test func afterARestartTheBreakerClosesByItselfAndHitsResume() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server) { (cache, _, _) async throws in
                try await cache.set("before", bytes("1"))
                await server.kill()
                for _ in 0..<10 { _ = try await cache.get("before") }
                #expect(cache.circuit.state == .open)

                try await server.restart()
                // No user traffic: the active probe must notice Redis is back.
                let clock = ContinuousClock()
                let restarted = clock.now
                try await eventually(timeout: .seconds(5)) { cache.circuit.state == .closed }
                #expect(clock.now - restarted < .seconds(2), "open 300 ms + probes, well within 2 s")

                try await cache.set("after", bytes("2"))
                #expect(try await cache.get("after") == bytes("2"))
                #expect(cache.metrics.hits >= 1)
            }
        }
    }

    @Test func startingWithRedisDownIsNotAnErrorAndTheCacheHealsWhenItStarts() async throws {
        try await RedisServer.withServer { server in
            await server.stop()
            try await withCache(server) { (cache, _, _) async throws in
                let computed = try await cache.fetch("x") { bytes("from origin") }
                #expect(computed == bytes("from origin"))
                #expect(try await cache.get("x") == nil)
                for _ in 0..<10 { _ = try await cache.get("x") }
                #expect(cache.circuit.state == .open)

                try await server.restart()
                try await eventually { cache.circuit.state == .closed }
                try await cache.set("x", bytes("cached"))
                #expect(try await cache.get("x") == bytes("cached"))
            }
        }
    }

    @Test func noStaleReadsAfterAHang() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, commandTimeout: .milliseconds(150)) { (cache, _, _) async throws in
                let keys = 100
                for index in 0..<keys {
                    try await cache.set("k\(index)", bytes("v1"))
                    try await cache.set("j\(index)", bytes("old"))
                }
                server.hang()
                // During the hang, both degrade: delete returns 0, set pretends success.
                for index in 0..<keys {
                    #expect(try await cache.delete("k\(index)") == 0)
                    #expect(try await cache.set("j\(index)", bytes("v2")))
                }
                #expect(cache.metrics.journalSize > 0)
                // Redis held the old values all along (whatever the journal did not overflow into).
                server.resume()

                // Read continuously while the cache recovers: never v1 for k, never the old value for j.
                let clock = ContinuousClock()
                let deadline = clock.now + .seconds(3)
                var stale = 0
                var reads = 0
                while clock.now < deadline {
                    for index in stride(from: 0, to: keys, by: 7) {
                        if try await cache.get("k\(index)") == bytes("v1") { stale += 1 }
                        if try await cache.get("j\(index)") == bytes("old") { stale += 1 }
                        reads += 2
                    }
                    if cache.circuit.state == .closed && cache.metrics.journalSize == 0
                        && !cache.metrics.journalOverflowed
                    {
                        break
                    }
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(stale == 0, "\(stale) stale reads out of \(reads)")
                #expect(cache.metrics.journalSize == 0)
                #expect(cache.circuit.state == .closed)
                // After recovery, Redis itself holds no stale value for the journaled keys.
                for index in 0..<keys {
                    #expect(try server.cli("GET", "test:k\(index)") == "")
                    #expect(try server.cli("GET", "test:j\(index)") != "old")
                }
            }
        }
    }

    @Test func aFullJournalFlushesTheNamespaceOnRecovery() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: { $0.journalCapacity = 10 }) { (cache, _, _) async throws in
                for index in 0..<30 { try await cache.set("k\(index)", bytes("v1")) }
                _ = try server.cli("SET", "elsewhere", "kept")
                server.hang()
                for index in 0..<30 { _ = try await cache.delete("k\(index)") }
                #expect(cache.metrics.journalOverflowed)
                #expect(cache.metrics.journalOverflows == 1)
                // Every read in the namespace is a miss until the flush: even keys never journaled.
                server.resume()
                try await eventually { cache.circuit.state == .closed && !cache.metrics.journalOverflowed }
                #expect(try server.cli("DBSIZE") == "1")
                #expect(try server.cli("GET", "elsewhere") == "kept")
                #expect(try await cache.get("k0") == nil)
                try await cache.set("k0", bytes("fresh"))
                #expect(try await cache.get("k0") == bytes("fresh"))
            }
        }
    }

    @Test func outOfMemoryOnWritesCountsAsAFailure() async throws {
        try await RedisServer.withServer(.init(maxmemory: "1mb", maxmemoryPolicy: "noeviction")) { server in
            try await withCache(server) { (cache, _, _) async throws in
                let value = [UInt8](repeating: 0x61, count: 64 * 1024)
                // Fill memory until Redis refuses writes with OOM; every set still "succeeds" for the caller.
                for index in 0..<100 {
                    #expect(try await cache.set("fill\(index)", value))
                }
                #expect(cache.circuit.state == .open)
                let failures = cache.circuit.metrics.recentFailures
                #expect(failures.contains { $0.message.contains("OOM") })
                // Reads were never refused: the journal fences only the writes that failed.
                #expect(try await cache.get("fill0") != nil || cache.circuit.state != .closed)
            }
        }
    }

    @Test func withDegradationOffUnavailabilityThrowsCodedErrors() async throws {
        try await RedisServer.withServer { server in
            try await withCache(server, configure: { $0.degradeOnFailure = false }) { (cache, _, _) async throws in
                await server.stop()
                var codes: [String] = []
                for _ in 0..<8 {
                    let error = await #expect(throws: CacheError.self) { _ = try await cache.get("k") }
                    codes.append(error?.code.description ?? "none")
                }
                #expect(codes.prefix(5).allSatisfy { $0 == "BACKEND_UNAVAILABLE" })
                #expect(codes.last == "CIRCUIT_BREAKER_OPEN")
                guard case .degraded(let reason) = try await cache.lookup("never-written") else {
                    Issue.record("lookup must say degraded")
                    return
                }
                #expect(reason.code == .circuitOpen)
                await #expect(throws: CacheError.self) { try await cache.set("k", bytes("v")) }
                await #expect(throws: CacheError.self) { try await cache.delete("k") }
                await #expect(throws: CacheError.self) { try await cache.invalidate(pattern: "*") }
                // The pattern is journaled: every read in the namespace is fenced until it is replayed.
                guard case .miss = try await cache.lookup("never-written") else {
                    Issue.record("a journaled pattern must fence reads")
                    return
                }
                // fetch still computes: the origin's answer does not depend on Redis.
                #expect(try await cache.fetch("f") { bytes("computed") } == bytes("computed"))
            }
        }
    }
}

/// The longest of durations recorded from concurrent tasks.
final class Slowest: Sendable {
    private let storage = Mutex(Duration.zero)
    func record(_ duration: Duration) { storage.withLock { $0 = max($0, duration) } }
    var value: Duration { storage.withLock { $0 } }
}
