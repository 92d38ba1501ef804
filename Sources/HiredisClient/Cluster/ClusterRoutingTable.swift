/// Which node serves each slot, and which shard it belongs to: built from a numbered topology by each refresh,
/// patched slot by slot by `MOVED` until the next one.
struct ClusterRoutingTable: Sendable {
    typealias Endpoint = RedisClientConfiguration.Endpoint

    /// The shards, sorted by id.
    private(set) var shards: [RedisClusterShard] = []
    /// The nodes slots are routed to: the primaries, and targets `MOVED` named.
    private var nodes: [Endpoint] = []
    /// Per slot, an index into `nodes`; -1 for a slot no node serves.
    private var slotNode = [Int16](repeating: -1, count: RedisClusterSlot.count)
    /// Per slot, the id of the shard that serves it; -1 for none.
    private var slotShard = [Int32](repeating: -1, count: RedisClusterSlot.count)

    init() {}

    init(shards: [RedisClusterShard]) {
        self.shards = shards
        for shard in shards {
            let node = Int16(nodes.count)
            nodes.append(shard.primary)
            for range in shard.slots {
                for slot in range {
                    slotNode[slot] = node
                    slotShard[slot] = Int32(shard.id)
                }
            }
        }
    }

    /// Whether a topology was ever learnt.
    var isKnown: Bool { !shards.isEmpty }

    /// The node that serves `slot`.
    func node(forSlot slot: Int) -> Endpoint? {
        let index = slotNode[slot]
        return index < 0 ? nil : nodes[Int(index)]
    }

    /// The id of the shard that serves `slot`.
    func shardID(forSlot slot: Int) -> Int? {
        let id = slotShard[slot]
        return id < 0 ? nil : Int(id)
    }

    func shard(id: Int) -> RedisClusterShard? {
        shards.first { $0.id == id }
    }

    /// The endpoints of every known node: primaries first, then replicas.
    var endpoints: [Endpoint] {
        shards.map(\.primary) + shards.flatMap(\.replicas) + nodes
    }

    /// Routes `slot` to `endpoint` as a `MOVED` said; the slot belongs to the shard `endpoint` is part of, when
    /// one is known.
    mutating func move(slot: Int, to endpoint: Endpoint) {
        if let index = nodes.firstIndex(of: endpoint) {
            slotNode[slot] = Int16(index)
        } else if nodes.count < Int(Int16.max) {
            slotNode[slot] = Int16(nodes.count)
            nodes.append(endpoint)
        }
        if let shard = shards.first(where: { $0.primary == endpoint || $0.replicas.contains(endpoint) }) {
            slotShard[slot] = Int32(shard.id)
        }
    }
}
