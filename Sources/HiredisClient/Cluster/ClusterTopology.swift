/// The cluster's shards as one node described them, before the client numbers them: what `CLUSTER SHARDS` or
/// `CLUSTER SLOTS` says, parsed.
struct ClusterTopology: Sendable, Hashable {
    struct Node: Sendable, Hashable {
        /// The cluster's node id; `nil` when the reply had none.
        var id: String?
        var endpoint: RedisClientConfiguration.Endpoint
        var isPrimary: Bool
        var isOnline: Bool
    }

    struct Shard: Sendable, Hashable {
        var slots: [ClosedRange<Int>]
        var primary: Node
        /// Every replica, offline ones included: their ids tie the shard to its earlier self.
        var replicas: [Node]
    }

    var shards: [Shard]

    /// Reads a `CLUSTER SHARDS` reply (Redis 7), in its RESP2 form: each shard and each node is a flat array of
    /// names and values.
    ///
    /// A shard's primary is its online node whose role is `master`; when none is online (the primary failed and
    /// no replica was promoted yet), the failed primary still stands for it, so calls to its slots fail with the
    /// connection error the shard's circuit breaker needs to see. Replicas that are not online serve no reads.
    /// Shards without slots are left out.
    ///
    /// A node lists `port` (plain TCP), `tls-port`, or both; a TLS client takes `tls-port` when there is one, a
    /// plain client `port`.
    ///
    /// - Parameters:
    ///   - host: the host of the node that answered, for nodes that report no address of their own.
    ///   - tls: whether the client speaks TLS to the nodes.
    static func parse(
        shardsReply reply: RedisReply,
        host: String,
        tls: Bool = false
    ) throws(RedisClientError) -> ClusterTopology {
        guard let entries = reply.array else { throw malformed("CLUSTER SHARDS", reply) }
        var shards: [Shard] = []
        for entry in entries {
            let fields = try fieldMap(entry, "CLUSTER SHARDS")
            guard let slotValues = fields["slots"]?.array, let nodeValues = fields["nodes"]?.array else {
                throw malformed("CLUSTER SHARDS", entry)
            }
            var bounds: [Int] = []
            for value in slotValues {
                guard let bound = value.integer ?? value.string.flatMap({ Int64($0) }) else {
                    throw malformed("CLUSTER SHARDS", entry)
                }
                bounds.append(Int(bound))
            }
            guard bounds.count % 2 == 0 else { throw malformed("CLUSTER SHARDS", entry) }
            var slots: [ClosedRange<Int>] = []
            for index in stride(from: 0, to: bounds.count, by: 2) {
                guard let range = slotRange(bounds[index], bounds[index + 1]) else {
                    throw malformed("CLUSTER SHARDS", entry)
                }
                slots.append(range)
            }
            var nodes: [Node] = []
            for nodeValue in nodeValues {
                let node = try fieldMap(nodeValue, "CLUSTER SHARDS")
                // `endpoint` is what the node wants clients to use; `ip` is its address; either may be "?" or "".
                let address = [node["endpoint"]?.string, node["ip"]?.string].compactMap { $0 }
                    .first { !$0.isEmpty && $0 != "?" }
                let portValue = tls ? node["tls-port"] ?? node["port"] : node["port"] ?? node["tls-port"]
                guard let port = portValue?.integer ?? portValue?.string.flatMap({ Int64($0) }), port > 0 else {
                    continue  // a node without a TCP port cannot be reached by this client
                }
                nodes.append(
                    Node(
                        id: node["id"]?.string,
                        endpoint: .tcp(host: address ?? host, port: Int(port)),
                        isPrimary: node["role"]?.string == "master",
                        isOnline: (node["health"]?.string ?? "online") == "online"
                    )
                )
            }
            guard !slots.isEmpty else { continue }
            let primaries = nodes.filter(\.isPrimary)
            guard let primary = primaries.first(where: \.isOnline) ?? primaries.first else { continue }
            var replicas = nodes.filter { !$0.isPrimary }
            // Another primary of the shard is one that failed and was replaced: kept, like failed replicas, for
            // its id only.
            for var other in primaries where other != primary {
                other.isPrimary = false
                other.isOnline = false
                replicas.append(other)
            }
            shards.append(
                Shard(slots: slots.sorted { $0.lowerBound < $1.lowerBound }, primary: primary, replicas: replicas))
        }
        return ClusterTopology(shards: shards)
    }

    /// Reads a `CLUSTER SLOTS` reply: one entry per slot range, `[start, end, primary, replica…]`, each node
    /// `[ip, port, id, …]`. Ranges served by the same primary form one shard.
    static func parse(slotsReply reply: RedisReply, host: String) throws(RedisClientError) -> ClusterTopology {
        guard let entries = reply.array else { throw malformed("CLUSTER SLOTS", reply) }
        var shards: [Shard] = []
        for entry in entries {
            guard let parts = entry.array, parts.count >= 3, let start = parts[0].integer, let end = parts[1].integer,
                let range = slotRange(Int(start), Int(end))
            else { throw malformed("CLUSTER SLOTS", entry) }
            var nodes: [Node] = []
            for (index, part) in parts.dropFirst(2).enumerated() {
                guard let fields = part.array, fields.count >= 2, let port = fields[1].integer, port > 0 else {
                    throw malformed("CLUSTER SLOTS", entry)
                }
                let address = fields[0].string.flatMap { $0.isEmpty || $0 == "?" ? nil : $0 } ?? host
                let id = fields.count >= 3 ? fields[2].string : nil
                nodes.append(
                    Node(id: id, endpoint: .tcp(host: address, port: Int(port)), isPrimary: index == 0, isOnline: true))
            }
            let primary = nodes[0]
            if let existing = shards.firstIndex(where: { $0.primary.endpoint == primary.endpoint }) {
                shards[existing].slots.append(range)
                for replica in nodes.dropFirst() where !shards[existing].replicas.contains(replica) {
                    shards[existing].replicas.append(replica)
                }
            } else {
                shards.append(Shard(slots: [range], primary: primary, replicas: Array(nodes.dropFirst())))
            }
        }
        for index in shards.indices {
            shards[index].slots.sort { $0.lowerBound < $1.lowerBound }
        }
        return ClusterTopology(shards: shards)
    }

    /// Numbers the shards of this topology, keeping the ids of `known` shards (see ``RedisClusterShard/id``).
    ///
    /// In order: a shard that shares a node id with a known shard takes its id (a failover); else the id of the
    /// known shard that served most of its slots (resharding), largest overlaps first; else a new id, `nextID` onwards, so an id is never
    /// given to two different shards over the client's life. With nothing known, shards are numbered from 0 by
    /// their lowest slot.
    ///
    /// - Returns: the shards, sorted by id, and the next new id.
    func numbered(known: [RedisClusterShard], nextID: Int) -> (shards: [RedisClusterShard], nextID: Int) {
        let ordered = shards.sorted {
            ($0.slots.first?.lowerBound ?? Int.max) < ($1.slots.first?.lowerBound ?? Int.max)
        }
        var taken = Set<Int>()
        var ids = [Int?](repeating: nil, count: ordered.count)
        // Failover first, for every shard, so the majority rule cannot take an id a failover has a claim to.
        for (index, shard) in ordered.enumerated() {
            let nodeIDs = shard.nodeIDs
            if let match = known.first(where: { !taken.contains($0.id) && !$0.nodeIDs.isDisjoint(with: nodeIDs) }) {
                ids[index] = match.id
                taken.insert(match.id)
            }
        }
        // Then the largest overlaps first, so a shard that took a few slots of a known one cannot take its id
        // from the shard that took most of them.
        var overlaps: [(index: Int, id: Int, overlap: Int)] = []
        for (index, shard) in ordered.enumerated() where ids[index] == nil {
            for candidate in known where !taken.contains(candidate.id) {
                let overlap = Self.overlap(shard.slots, candidate.slots)
                if overlap > 0 { overlaps.append((index, candidate.id, overlap)) }
            }
        }
        overlaps.sort { $0.overlap != $1.overlap ? $0.overlap > $1.overlap : $0.index < $1.index }
        for (index, id, _) in overlaps where ids[index] == nil && !taken.contains(id) {
            ids[index] = id
            taken.insert(id)
        }
        var next = max(nextID, (known.map(\.id).max() ?? -1) + 1)
        var result: [RedisClusterShard] = []
        for (index, shard) in ordered.enumerated() {
            let id: Int
            if let assigned = ids[index] {
                id = assigned
            } else {
                id = next
                next += 1
            }
            result.append(
                RedisClusterShard(
                    id: id,
                    slots: shard.slots,
                    primary: shard.primary.endpoint,
                    replicas: shard.replicas.filter(\.isOnline).map(\.endpoint),
                    nodeIDs: shard.nodeIDs
                )
            )
        }
        return (result.sorted { $0.id < $1.id }, next)
    }

    private static func overlap(_ lhs: [ClosedRange<Int>], _ rhs: [ClosedRange<Int>]) -> Int {
        var total = 0
        for left in lhs {
            for right in rhs where left.overlaps(right) {
                total += min(left.upperBound, right.upperBound) - max(left.lowerBound, right.lowerBound) + 1
            }
        }
        return total
    }

    private static func slotRange(_ start: Int, _ end: Int) -> ClosedRange<Int>? {
        guard 0 <= start, start <= end, end < RedisClusterSlot.count else { return nil }
        return start...end
    }

    /// A RESP2 map (a flat array of names and values) as a dictionary.
    private static func fieldMap(_ reply: RedisReply, _ command: String) throws(RedisClientError) -> [String:
        RedisReply]
    {
        guard let elements = reply.array, elements.count % 2 == 0 else { throw malformed(command, reply) }
        var fields: [String: RedisReply] = [:]
        for index in stride(from: 0, to: elements.count, by: 2) {
            guard let name = elements[index].string else { throw malformed(command, reply) }
            fields[name] = elements[index + 1]
        }
        return fields
    }

    private static func malformed(_ command: String, _ reply: RedisReply) -> RedisClientError {
        RedisClientError(.unexpectedReply, "unexpected \(command) reply: \(reply)")
    }
}

extension ClusterTopology.Shard {
    var nodeIDs: Set<String> {
        Set(([primary] + replicas).compactMap(\.id))
    }
}
