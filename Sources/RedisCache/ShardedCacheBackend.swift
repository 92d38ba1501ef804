/// A backend whose keys live on several shards that fail one at a time: a Redis Cluster
/// (``RedisClusterCacheBackend``), or anything shaped like one.
///
/// A ``ResilientCache`` over it gives every shard its own recovery unit — circuit breaker, invalidation journal
/// and recovery loop — so that a dead shard degrades only its own keys, and its recovery (a restart, or a replica
/// promoted in its place) replays only its own journal.
///
/// Shard ids are the backend's to choose and must stay the same for a shard across a failover: the cache keeps a
/// unit per id for as long as it runs.
public protocol ShardedCacheBackend: Sendable {
    /// The shard that holds `key` now, or `nil` while the layout is not known yet.
    func shard(forKey key: String) -> Int?
    /// The one shard that holds every key `pattern` can match (a Redis glob whose hash tag fixes the slot), or
    /// `nil` when the keys may be on any shard.
    func shard(forPattern pattern: String) -> Int?
    /// The shards known now.
    var shards: [Int] { get }
    /// A few words on a shard for health reports and logs, such as its primary's address and slots.
    func describe(shard: Int) -> String
    /// The calls a shard's recovery unit makes: key operations go to wherever their keys live (a key may have
    /// moved since it was journaled); `ping` asks that shard; pattern invalidation walks that shard only.
    func backend(forShard shard: Int) -> any CacheBackend
    /// The calls for keys whose shard is not known yet: key operations go to wherever their keys live, `ping`
    /// succeeds once the layout is known and every shard answers, pattern invalidation walks every shard.
    var unsharded: any CacheBackend { get }
}
