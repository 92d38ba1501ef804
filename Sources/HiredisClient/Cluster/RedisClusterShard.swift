/// One shard of a Redis Cluster as the client last saw it: the slots it serves, its primary and its replicas.
///
/// ``id`` is the client's own, stable number for the shard, so per-shard state (a circuit breaker, a journal)
/// survives topology changes: a shard keeps its id through a failover (a replica promoted: they share a node)
/// and through resharding (the shard that owned most of its slots lends it its id). The first discovery numbers
/// shards by their lowest slot, so shard 0 owns slot 0.
public struct RedisClusterShard: Sendable, Hashable, CustomStringConvertible {
    /// The client's stable number for this shard, from 0.
    public let id: Int
    /// The slot ranges the shard serves, ascending.
    public let slots: [ClosedRange<Int>]
    /// The node that takes writes.
    public let primary: RedisClientConfiguration.Endpoint
    /// The online replicas.
    public let replicas: [RedisClientConfiguration.Endpoint]
    /// The cluster's node ids of the shard's nodes, failed ones included: what ties a shard to its earlier self.
    let nodeIDs: Set<String>

    init(
        id: Int,
        slots: [ClosedRange<Int>],
        primary: RedisClientConfiguration.Endpoint,
        replicas: [RedisClientConfiguration.Endpoint],
        nodeIDs: Set<String>
    ) {
        self.id = id
        self.slots = slots
        self.primary = primary
        self.replicas = replicas
        self.nodeIDs = nodeIDs
    }

    /// How many slots the shard serves.
    public var slotCount: Int {
        slots.reduce(0) { $0 + $1.count }
    }

    public var description: String {
        let ranges = slots.map {
            $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)"
        }
        var text = "shard \(id) [\(ranges.joined(separator: ","))] primary \(primary)"
        if !replicas.isEmpty { text += " replicas \(replicas.map(\.description).joined(separator: ","))" }
        return text
    }
}
