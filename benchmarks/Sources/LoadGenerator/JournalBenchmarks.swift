import ArgumentParser
import HiredisClient
import Logging
import RedisCache
import Resilience

/// GET through the cache with journaled pattern invalidations waiting for their replay: what read fencing costs
/// a healthy read. `benchmarks/suites/cache.sh` sets each journal beside an empty one, on the same keys.
struct FencedGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fenced-get",
        abstract:
            "GET through ResilientCache while its journal holds pattern invalidations that match none of the keys."
    )

    @Option(help: "Server URL.") var url: String
    @Option(
        help: """
            What the journal holds: empty; patterns (--patterns of the form key:<id>:*, sharing the keys' prefix); \
            worst (*a*a…*b, 20 stars: exponential for a recursive matcher); worst-open (*a*a…*b*, which no \
            anchor at the end can reject early).
            """
    )
    var journal: String = "empty"
    @Option(help: "Patterns journaled with --journal patterns.") var patterns: Int = 10_000
    @Option(help: "Key length in bytes, at least 16 (longer keys are padded with 'a' in front).") var keyBytes: Int = 16
    @Option(help: "Concurrent callers.") var concurrency: Int = 50
    @Option(help: "Total requests.") var requests: Int = 100_000
    @Option(help: "Keys in the key space (stored before the run, 100-byte values).") var keySpace: Int = 10_000
    @Option(help: "Connections in the pool.") var connections: Int = 4
    @Flag(
        help: """
            Time the fence check alone: the breaker stays open, so each GET is the journal's check plus the \
            breaker's fast-fail, from one caller; prints {"ns_per_get": …}.
            """
    )
    var fenceOnly = false

    func run() async throws {
        guard keyBytes >= 16 else { throw ValidationError("--key-bytes must be at least 16") }
        // The patterns, and a key one of them matches: the run checks that its read is fenced.
        let journaled: [String]
        let fencedKey: String?
        switch journal {
        case "empty":
            (journaled, fencedKey) = ([], nil)
        case "patterns":
            (journaled, fencedKey) = ((0..<patterns).map { benchmarkKey($0) + ":*" }, benchmarkKey(patterns - 1) + ":x")
        case "worst":
            (journaled, fencedKey) = (
                [String(repeating: "*a", count: 20) + "*b"], String(repeating: "a", count: 20) + "b"
            )
        case "worst-open":
            (journaled, fencedKey) = (
                [String(repeating: "*a", count: 20) + "*b*"], String(repeating: "a", count: 20) + "bc"
            )
        default:
            throw ValidationError("journal must be empty, patterns, worst or worst-open")
        }
        let client = try makeClient(url: url, connections: connections, timeout: .seconds(5))
        let padding = String(repeating: "a", count: keyBytes - 16)
        let keys = (0..<keySpace).map { padding + benchmarkKey($0) }
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: 100)
        for key in keys { try await client.set(RedisKey(key), value: value) }

        // The same cache as the cache suite's (empty namespace, no TTL), over a backend whose invalidations never
        // finish: the journal's replay, which the first successful read starts, stays in flight, and the
        // journaled patterns stay for the whole run, as while a replay after an outage is under way.
        var configuration = ResilientCacheConfiguration(namespace: "")
        configuration.defaultTTL = nil
        configuration.ttlJitter = 0
        let cache = ResilientCache(
            backend: ReplayHoldingBackend(RedisCacheBackend(client: client)),
            configuration: configuration,
            logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        // Journal the patterns as an outage does: invalidations the open circuit turns away are recorded.
        cache.circuit.forceOpen(reason: "journal the benchmark's patterns")
        for pattern in journaled { try await cache.invalidate(pattern: pattern) }
        cache.circuit.reset()
        let health = cache.health()
        guard health.journalSize == journaled.count, !health.journalOverflowed else {
            throw ValidationError(
                "journal holds \(health.journalSize) entries (overflowed: \(health.journalOverflowed))")
        }
        if let fencedKey {
            try await client.set(RedisKey(fencedKey), value: value)
            guard try await cache.get(fencedKey) == nil else { throw ValidationError("\(fencedKey) was not fenced") }
            _ = try await client.unlink([RedisKey(fencedKey)])
        }

        if fenceOnly {
            try await timeFenceChecks(cache, keys: keys)
            await client.close()
            return
        }
        let call: @Sendable (Int) async throws -> Void = { index in
            guard try await cache.get(keys[index]) != nil else { throw FencedGetError.missed(keys[index]) }
        }
        for _ in 0..<connections * 2 { _ = try await client.ping() }
        let result = await drive(concurrency: concurrency, requests: requests, keySpace: keySpace, call)
        guard cache.metrics.journalSize == journaled.count else {
            throw ValidationError("the journal changed during the run: \(cache.metrics.journalSize) entries")
        }
        await client.close()
        print(result.json)
    }
}

extension FencedGet {
    /// GETs from one caller with the breaker open: nothing reaches Redis, so the time is the journal's check
    /// and the breaker's rejection. None of the keys may be fenced (the metrics say).
    private func timeFenceChecks(_ cache: ResilientCache, keys: [String]) async throws {
        cache.circuit.forceOpen(reason: "time the fence check alone")
        let fencedBefore = cache.metrics.fencedReads
        let clock = ContinuousClock()
        let began = clock.now
        for index in 0..<requests {
            guard try await cache.get(keys[index % keys.count]) == nil else { fatalError("an open breaker answered") }
        }
        let elapsed = clock.now - began
        let fenced = cache.metrics.fencedReads - fencedBefore
        guard fenced == 0 else { throw ValidationError("\(fenced) reads were fenced") }
        let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        let perGet = (nanoseconds / Double(requests) * 10).rounded() / 10
        print(#"{"ns_per_get": \#(perGet), "requests": \#(requests)}"#)
    }
}

enum FencedGetError: Error {
    /// A read that should have been a hit was not: fenced by mistake, or the key is gone.
    case missed(String)
}

/// Delegates to a real backend, except that invalidations never finish (until cancelled).
struct ReplayHoldingBackend: CacheBackend {
    let backend: RedisCacheBackend

    init(_ backend: RedisCacheBackend) {
        self.backend = backend
    }

    func get(_ key: String) async throws(CacheError) -> [UInt8]? { try await backend.get(key) }

    func get(many keys: [String]) async throws(CacheError) -> [[UInt8]?] { try await backend.get(many: keys) }

    func set(_ key: String, _ value: [UInt8], ttl: Duration?) async throws(CacheError) {
        try await backend.set(key, value, ttl: ttl)
    }

    func delete(_ keys: [String]) async throws(CacheError) -> Int { try await backend.delete(keys) }

    func invalidate(pattern: String) async throws(CacheError) -> Int {
        try await holdForever()
    }

    func invalidate(matchingAnyOf patterns: [String], within scope: String) async throws(CacheError) -> Int {
        try await holdForever()
    }

    func ping() async throws(CacheError) { try await backend.ping() }

    private func holdForever() async throws(CacheError) -> Int {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        throw CacheError(.cancelled, "benchmark over")
    }
}
