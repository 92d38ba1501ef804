import HiredisClient

/// Which shard of a Redis Cluster serves each of the demo's keys, so every call can be counted against its shard.
///
/// Taken once, from the topology at the start of the run: the demo moves no slot, and a failover keeps a shard's
/// id (the cluster client numbers shards by their lowest slot at first sight and keeps the number when a replica
/// is promoted), so the map stays right through the faults it injects. Resharding a user's cluster during a run
/// would make the per-shard figures approximate; the cache's own routing is not affected.
///
/// ```swift
/// let map = ShardMap(shards: client.shards)
/// let shard = map.shard(forKey: "resilient-cache-demo:item:42")  // 0, 1, 2… or nil
/// ```
package struct ShardMap: Sendable, Hashable {
    /// The shard id serving each slot; -1 for a slot no shard served.
    private let owners: [Int16]
    /// The shard ids, ascending.
    package let shardIDs: [Int]

    /// A map of the shards as a cluster client learnt them.
    package init(shards: [RedisClusterShard]) {
        self.init(slots: shards.map { ($0.id, $0.slots) })
    }

    /// A map from each shard id's slot ranges (0..<16384); a slot listed twice goes to the last shard listing it.
    package init(slots: [(id: Int, ranges: [ClosedRange<Int>])]) {
        var owners = [Int16](repeating: -1, count: RedisClusterSlot.count)
        for (id, ranges) in slots {
            for range in ranges {
                let clamped = range.clamped(to: 0...(RedisClusterSlot.count - 1))
                for slot in clamped { owners[slot] = Int16(id) }
            }
        }
        self.owners = owners
        self.shardIDs = Set(slots.map(\.id)).sorted()
    }

    /// The shard that serves `key` (the key as it is stored, namespace included); `nil` for a slot no shard served.
    package func shard(forKey key: String) -> Int? {
        let owner = owners[RedisClusterSlot.of(key)]
        return owner < 0 ? nil : Int(owner)
    }
}
