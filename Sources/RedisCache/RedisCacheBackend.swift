import HiredisClient

/// A ``CacheBackend`` over ``HiredisClient/RedisClient``.
///
/// Values are plain Redis strings; `ttl` becomes `SET … PX`. Pattern invalidation walks the key space with
/// `SCAN … MATCH` and removes each batch with `UNLINK` — never `KEYS`, which blocks the server for the whole
/// key space.
///
/// Errors are classified by ``classify(_:)``: connection refused, timeouts, lost connections, protocol errors, an
/// exhausted pool, a closed client and every server reply that means "this server cannot serve you now" become
/// ``CacheError/Code/unavailable`` (they count against the circuit, and a write that failed so is journaled);
/// the server refusing the request itself (`WRONGTYPE`, syntax, a wrong number of arguments) becomes
/// ``CacheError/Code/refused``.
public struct RedisCacheBackend: CacheBackend {
    public let client: RedisClient
    /// Keys per `SCAN` step and per `UNLINK` during pattern invalidation.
    public var scanBatchSize: Int

    public init(client: RedisClient, scanBatchSize: Int = 500) {
        precondition(scanBatchSize >= 1, "scanBatchSize must be at least 1")
        self.client = client
        self.scanBatchSize = scanBatchSize
    }

    /// Server error codes that mean the server cannot serve right now, rather than that the request is wrong:
    /// still loading its dataset (`LOADING`), running a script (`BUSY`), a replica without its primary
    /// (`MASTERDOWN`), out of memory (`OOM`), a replica after a failover (`READONLY`), a cluster in trouble
    /// (`TRYAGAIN`, `CLUSTERDOWN`), a restarted server that wants a password now (`NOAUTH`, `WRONGPASS`) or a
    /// user without permission (`NOPERM`: a deployment fault, not the request's), failed persistence
    /// (`MISCONF`), not enough replicas (`NOREPLICAS`), and a server that cannot take one more client.
    static let unavailableServerErrors: Set<String> = [
        "LOADING", "BUSY", "MASTERDOWN", "OOM", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "NOAUTH", "WRONGPASS",
        "NOPERM", "MISCONF", "NOREPLICAS",
    ]

    /// `ERR` replies that are about the server, not the request: `-ERR max number of clients reached` (sent, and
    /// the connection closed, when `maxclients` is reached).
    static let unavailableGenericErrors: [String] = ["max number of clients reached"]

    public func get(_ key: String) async throws(CacheError) -> [UInt8]? {
        do {
            return try await client.get(RedisKey(key))
        } catch {
            throw Self.classify(error)
        }
    }

    public func get(many keys: [String]) async throws(CacheError) -> [[UInt8]?] {
        if keys.isEmpty { return [] }
        do {
            return try await client.mget(keys.map { RedisKey($0) })
        } catch {
            throw Self.classify(error)
        }
    }

    public func set(_ key: String, _ value: [UInt8], ttl: Duration?) async throws(CacheError) {
        do {
            try await client.set(RedisKey(key), value: value, expiration: ttl)
        } catch {
            throw Self.classify(error)
        }
    }

    public func delete(_ keys: [String]) async throws(CacheError) -> Int {
        if keys.isEmpty { return 0 }
        do {
            return try await client.unlink(keys.map { RedisKey($0) })
        } catch {
            throw Self.classify(error)
        }
    }

    public func invalidate(pattern: String) async throws(CacheError) -> Int {
        var removed = 0
        do {
            for try await batch in client.scan(match: pattern, count: scanBatchSize) {
                removed += try await client.unlink(batch)
            }
        } catch {
            throw Self.classify(error)
        }
        return removed
    }

    /// One `SCAN` pass over `scope`, matching the patterns here, instead of one pass per pattern: replaying a
    /// journal of hundreds of patterns after an outage costs one walk of the namespace.
    public func invalidate(matchingAnyOf patterns: [String], within scope: String) async throws(CacheError) -> Int {
        if patterns.count == 1 { return try await invalidate(pattern: patterns[0]) }
        // Indexed by literal prefix: each scanned key is tested against the patterns on its path only, so a
        // journal of thousands of patterns costs about one match per key, not one per pattern.
        let index = PatternIndex(patterns.map(GlobPattern.init))
        var removed = 0
        do {
            for try await batch in client.scan(match: scope, count: scanBatchSize) {
                let doomed = batch.filter { key in index.matches(key.description) }
                if !doomed.isEmpty { removed += try await client.unlink(doomed) }
            }
        } catch {
            throw Self.classify(error)
        }
        return removed
    }

    public func ping() async throws(CacheError) {
        do {
            try await client.ping()
        } catch {
            throw Self.classify(error)
        }
    }

    /// Maps a client error to the cache's codes; see the type's discussion.
    public static func classify(_ error: RedisClientError) -> CacheError {
        switch error.code {
        case .cancelled:
            return CacheError(.cancelled, error.message, underlying: error)
        case .serverError:
            if let reply = error.serverError, isUnavailable(reply) {
                return CacheError(.unavailable, error.message, underlying: error)
            }
            return CacheError(.refused, error.message, underlying: error)
        case .unexpectedReply:
            return CacheError(.refused, error.message, underlying: error)
        default:
            return CacheError(.unavailable, "\(error.code): \(error.message)", underlying: error)
        }
    }

    static func isUnavailable(_ reply: RedisServerError) -> Bool {
        if unavailableServerErrors.contains(reply.code) { return true }
        return reply.code == "ERR" && unavailableGenericErrors.contains { reply.message.contains($0) }
    }
}
