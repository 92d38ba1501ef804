import HiredisClient

/// A ``ShardedCacheBackend`` over a ``HiredisClient/RedisClusterClient``: a Redis Cluster's shards are the cache's
/// shards, each with its own breaker, journal and recovery loop.
///
/// A shard is a primary and its replicas, identified by the cluster client's stable shard id: when a replica is
/// promoted after its primary died, the shard keeps its id, so its recovery loop finds the new primary (the
/// client's topology refresh names it), replays the shard's journal there and closes the shard's breaker.
///
/// Key operations are routed by the cluster client (slot → node, `MOVED` and `ASK` followed); a shard's pattern
/// invalidation walks only that shard's primary with `SCAN` + `UNLINK`, and its probe is a `PING` of that primary.
/// Errors are classified as ``RedisCacheBackend/classify(_:)`` does for one node (`CLUSTERDOWN` and `TRYAGAIN` are
/// availability failures).
public struct RedisClusterCacheBackend: ShardedCacheBackend {
    public let cluster: RedisClusterClient
    /// Keys per `SCAN` step and per `UNLINK` during pattern invalidation.
    public var scanBatchSize: Int

    public init(cluster: RedisClusterClient, scanBatchSize: Int = 500) {
        precondition(scanBatchSize >= 1, "scanBatchSize must be at least 1")
        self.cluster = cluster
        self.scanBatchSize = scanBatchSize
    }

    public func shard(forKey key: String) -> Int? {
        cluster.shardID(forKey: key)
    }

    public func shard(forPattern pattern: String) -> Int? {
        RedisClusterSlot.of(pattern: pattern).flatMap(cluster.shardID(forSlot:))
    }

    public var shards: [Int] { cluster.shards.map(\.id) }

    public func describe(shard: Int) -> String {
        cluster.shards.first { $0.id == shard }?.description ?? "shard \(shard), not in the current topology"
    }

    public func backend(forShard shard: Int) -> any CacheBackend {
        Shard(cluster: cluster, shard: shard, scanBatchSize: scanBatchSize)
    }

    public var unsharded: any CacheBackend {
        Shard(cluster: cluster, shard: nil, scanBatchSize: scanBatchSize)
    }

    /// One shard's calls (or, with `shard` nil, the whole cluster's).
    ///
    /// A shard that left the topology (a resharding moved all its slots away) is served as the whole cluster: its
    /// unit's journal still replays, its keys going wherever they live now and its patterns walking every shard.
    struct Shard: CacheBackend {
        let cluster: RedisClusterClient
        let shard: Int?
        let scanBatchSize: Int

        /// The shard, while the cluster still has it.
        private var current: Int? {
            guard let shard else { return nil }
            return cluster.shards.contains { $0.id == shard } ? shard : nil
        }

        func get(_ key: String) async throws(CacheError) -> [UInt8]? {
            do {
                return try await cluster.get(RedisKey(key))
            } catch {
                throw RedisCacheBackend.classify(error)
            }
        }

        func get(many keys: [String]) async throws(CacheError) -> [[UInt8]?] {
            if keys.isEmpty { return [] }
            do {
                return try await cluster.mget(keys.map { RedisKey($0) })
            } catch {
                throw RedisCacheBackend.classify(error)
            }
        }

        func set(_ key: String, _ value: [UInt8], ttl: Duration?) async throws(CacheError) {
            do {
                try await cluster.set(RedisKey(key), value: value, expiration: ttl)
            } catch {
                throw RedisCacheBackend.classify(error)
            }
        }

        func delete(_ keys: [String]) async throws(CacheError) -> Int {
            if keys.isEmpty { return 0 }
            do {
                return try await cluster.unlink(keys.map { RedisKey($0) })
            } catch {
                throw RedisCacheBackend.classify(error)
            }
        }

        func invalidate(pattern: String) async throws(CacheError) -> Int {
            try await invalidate(within: pattern) { _ in true }
        }

        /// One `SCAN` pass over the shard (or every shard), removing what `matches` says.
        private func invalidate(within pattern: String, _ matches: (RedisKey) -> Bool) async throws(CacheError) -> Int {
            var removed = 0
            do {
                let batches =
                    current.map { cluster.scan(shard: $0, match: pattern, count: scanBatchSize) }
                    ?? cluster.scan(match: pattern, count: scanBatchSize)
                for try await batch in batches {
                    let doomed = batch.filter(matches)
                    if !doomed.isEmpty { removed += try await cluster.unlink(doomed) }
                }
            } catch {
                throw RedisCacheBackend.classify(error)
            }
            return removed
        }

        func invalidate(matchingAnyOf patterns: [String], within scope: String) async throws(CacheError) -> Int {
            if patterns.count == 1 { return try await invalidate(pattern: patterns[0]) }
            let index = PatternIndex(patterns.map(GlobPattern.init))
            return try await invalidate(within: scope) { key in index.matches(key.description) }
        }

        func ping() async throws(CacheError) {
            do {
                if let shard = current {
                    try await cluster.ping(shard: shard)
                } else {
                    try await cluster.ping()
                }
            } catch {
                throw RedisCacheBackend.classify(error)
            }
        }
    }
}
