import Foundation

/// One node's view of the cluster: the lines of its `CLUSTER NODES`.
struct ClusterView: Sendable {
    /// One line of `CLUSTER NODES`.
    struct Entry: Sendable {
        var id: String
        var port: Int
        var flags: Set<String>
        /// The primary's id for a replica, `nil` for a primary.
        var masterID: String?
        var configEpoch: Int
        /// The slots served, migration markers (`[5461->-id]`) left out.
        var slots: [ClosedRange<Int>]

        var isPrimary: Bool { flags.contains("master") }
        var isReplica: Bool { flags.contains("slave") }
        /// Flagged `fail` (agreed dead) or `fail?` (this node cannot reach it).
        var isFailing: Bool { flags.contains("fail") || flags.contains("fail?") }
        var isMyself: Bool { flags.contains("myself") }
    }

    var entries: [Entry]
    /// The raw text, for error messages.
    var text: String

    init(parsing text: String) {
        self.text = text
        entries = text.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= 8 else { return nil }
            // 127.0.0.1:30001@40001[,hostname]
            let address = fields[1].split(separator: "@").first ?? ""
            let port = address.split(separator: ":").last.flatMap { Int($0) } ?? 0
            var slots: [ClosedRange<Int>] = []
            for field in fields.dropFirst(8) where !field.hasPrefix("[") {
                let bounds = field.split(separator: "-").compactMap { Int($0) }
                if bounds.count == 2, bounds[0] <= bounds[1] {
                    slots.append(bounds[0]...bounds[1])
                } else if bounds.count == 1 {
                    slots.append(bounds[0]...bounds[0])
                }
            }
            return Entry(
                id: fields[0],
                port: port,
                flags: Set(fields[2].split(separator: ",").map(String.init)),
                masterID: fields[3] == "-" ? nil : fields[3],
                configEpoch: Int(fields[6]) ?? 0,
                slots: slots
            )
        }
    }

    func entry(id: String) -> Entry? {
        entries.first { $0.id == id }
    }

    /// The id of the primary serving each slot, `nil` for an unassigned slot.
    var slotOwners: [String?] {
        var owners = [String?](repeating: nil, count: RedisCluster.slotCount)
        for entry in entries where entry.isPrimary {
            for range in entry.slots where range.upperBound < RedisCluster.slotCount {
                for slot in range {
                    owners[slot] = entry.id
                }
            }
        }
        return owners
    }

    /// What views must agree on: every node's role and primary, and who serves which slots.
    var roles: String {
        entries.map { "\($0.id) \($0.isPrimary ? "primary" : "replica of \($0.masterID ?? "?")") \($0.slots)" }
            .sorted().joined(separator: "\n")
    }
}

extension RedisCluster {
    // MARK: - Topology

    /// The current primary of `shard`: the node that was promoted if its first primary was failed over.
    ///
    /// Asks every running, non-hung node for `CLUSTER NODES` and goes by the view most of them share (a node
    /// just restarted may still believe it owns its old slots). Among the shard's nodes that the view calls
    /// primaries, one serving slots and not failing wins; right after ``killShard(_:)`` that is still the dead
    /// node, until the cluster fails it over (``waitForFailover(shard:timeout:)``).
    ///
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard`, or `commandFailed` when no node answers or
    ///   the shard has no primary.
    public func primary(ofShard shard: Int) async throws -> RedisServer {
        let members = try members(ofShard: shard)
        let view = try await currentView()
        return try primary(among: members, in: view, shard: shard)
    }

    /// The current replicas of `shard`, as the cluster sees them (the old primary, once it rejoins after a
    /// failover); a replica that is down is still listed.
    ///
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard`, or `commandFailed` when no node answers.
    public func replicas(ofShard shard: Int) async throws -> [RedisServer] {
        let members = try members(ofShard: shard)
        let view = try await currentView()
        return members.filter { view.entry(id: nodeIDs[$0])?.isReplica == true }.map { nodes[$0] }
    }

    /// The shard whose primary serves `slot` now (after ``migrate(slot:toShard:pauseBetweenKeys:)``, the target).
    ///
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard` for a slot outside 0..<16384 or one no node
    ///   of the cluster serves, `commandFailed` when no node answers.
    public func shard(ofSlot slot: Int) async throws -> Int {
        try Self.checkSlot(slot)
        let view = try await currentView()
        guard let owner = view.slotOwners[slot], let index = nodeIndex(ofID: owner),
            let shard = shardMembers.firstIndex(where: { $0.contains(index) })
        else {
            throw RedisTestSupportError(.noSuchShard, "no node of the cluster serves slot \(slot):\n\(view.text)")
        }
        return shard
    }

    func primary(among members: [Int], in view: ClusterView, shard: Int) throws -> RedisServer {
        let candidates = members.compactMap { index -> (Int, ClusterView.Entry)? in
            guard let entry = view.entry(id: nodeIDs[index]), entry.isPrimary else { return nil }
            return (index, entry)
        }
        let best = candidates.max { left, right in
            let l = (!left.1.slots.isEmpty, !left.1.isFailing, left.1.configEpoch)
            let r = (!right.1.slots.isEmpty, !right.1.isFailing, right.1.configEpoch)
            return (l.0 ? 1 : 0, l.1 ? 1 : 0, l.2) < (r.0 ? 1 : 0, r.1 ? 1 : 0, r.2)
        }
        guard let best else {
            throw RedisTestSupportError(.commandFailed, "shard \(shard) has no primary:\n\(view.text)")
        }
        return nodes[best.0]
    }

    /// Indices of the nodes that can answer: running and not hung.
    var reachableIndices: [Int] {
        nodes.indices.filter { nodes[$0].isRunning && !nodes[$0].isHung }
    }

    /// The view of the cluster most reachable nodes share.
    func currentView() async throws -> ClusterView {
        var views: [ClusterView] = []
        var problems: [String] = []
        for index in reachableIndices {
            do {
                views.append(try await view(of: nodes[index]))
            } catch {
                problems.append("port \(nodes[index].port): \(error)")
            }
        }
        var counts: [String: Int] = [:]
        for view in views {
            counts[view.roles, default: 0] += 1
        }
        guard let majority = views.max(by: { counts[$0.roles]! < counts[$1.roles]! }) else {
            throw RedisTestSupportError(
                .commandFailed,
                "no node answered CLUSTER NODES" + (problems.isEmpty ? "" : ": " + problems.joined(separator: "; "))
            )
        }
        return majority
    }

    func view(of node: RedisServer) async throws -> ClusterView {
        let reply = try await Self.checkedCommand(["CLUSTER", "NODES"], on: node, timeout: .seconds(1))
        return ClusterView(parsing: reply.string ?? "")
    }

    // MARK: - Health

    /// Waits until the cluster is healthy: every running, non-hung node says `cluster_state:ok` with all 16384
    /// slots assigned and served, knows every node, sees the same primary for every slot, and that primary is
    /// a node that runs and is not hung; every reachable replica is in sync with its primary.
    ///
    /// After ``killShard(_:)`` this is the end of the failover; after ``startAll()``, the cluster healed.
    ///
    /// - Parameter timeout: How long to wait.
    /// - Throws: ``RedisTestSupportError`` with code `timeout`, saying what was still wrong.
    public func waitForClusterOK(timeout: Duration = .seconds(30)) async throws {
        try await waitUntilHealthy(timeout: timeout, replicasPerPrimary: nil)
    }

    /// Waits until a node of `shard` other than the one killed or hung is its primary and the cluster is healthy
    /// (``waitForClusterOK(timeout:)``).
    ///
    /// Takes about two to three times ``nodeTimeout``: the node timeout for the others to suspect the primary, a
    /// moment for the failure reports to make a majority, then the replica's election (a 500 ms delay plus up to
    /// 500 ms of jitter).
    ///
    /// - Parameters:
    ///   - shard: The shard whose primary was killed or hung.
    ///   - timeout: How long to wait.
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard`, or `timeout` saying what was still wrong.
    public func waitForFailover(shard: Int, timeout: Duration = .seconds(30)) async throws {
        let members = try members(ofShard: shard)
        let dead = Set(members.filter { !nodes[$0].isRunning || nodes[$0].isHung })
        try await waitUntil("shard \(shard) failed over", timeout: timeout) {
            let view: ClusterView
            do {
                view = try await currentView()
            } catch {
                return "\(error)"
            }
            guard let primary = try? primary(among: members, in: view, shard: shard) else {
                return "shard \(shard) has no primary"
            }
            if let index = nodes.firstIndex(where: { $0 === primary }), dead.contains(index) {
                return "shard \(shard)'s primary is still the node on port \(primary.port), which is down"
            }
            return await healthProblem(replicasPerPrimary: nil)
        }
    }

    func waitUntilHealthy(timeout: Duration, replicasPerPrimary: Int?) async throws {
        try await waitUntil("the cluster healthy", timeout: timeout) {
            await healthProblem(replicasPerPrimary: replicasPerPrimary)
        }
    }

    /// Polls `problem` every 50 ms until it returns `nil`; throws `timeout` with the last problem.
    func waitUntil(_ what: String, timeout: Duration, _ problem: () async -> String?) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            guard let last = await problem() else { return }
            guard clock.now < deadline else {
                throw RedisTestSupportError(.timeout, "not \(what) within \(timeout): \(last)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// What keeps the cluster from being healthy, or `nil` if it is; with `replicasPerPrimary`, also that every
    /// primary has that many replicas.
    func healthProblem(replicasPerPrimary: Int?) async -> String? {
        let reachable = reachableIndices
        guard !reachable.isEmpty else { return "no node is running" }
        let reachableIDs = Set(reachable.map { nodeIDs[$0] })
        var reference: ClusterView?
        for index in reachable {
            let node = nodes[index]
            do {
                let info = Self.fields(
                    try await Self.checkedCommand(["CLUSTER", "INFO"], on: node, timeout: .seconds(1)).string ?? "")
                let expected = [
                    "cluster_state": "ok", "cluster_slots_assigned": "16384", "cluster_slots_ok": "16384",
                    "cluster_known_nodes": String(nodes.count),
                ]
                for (field, value) in expected.sorted(by: { $0.key < $1.key }) where info[field] != value {
                    return "port \(node.port) says \(field):\(info[field] ?? "?"), not \(value)"
                }
                let view = try await view(of: node)
                if let problem = Self.disagreement(view, node: node, reference: reference, reachableIDs: reachableIDs) {
                    return problem
                }
                reference = view
                let owners = view.slotOwners
                for owner in Set(owners) {
                    guard let owner, reachableIDs.contains(owner) else {
                        return "port \(node.port) sees slots served by \(owner ?? "nobody"), which is down or unknown"
                    }
                    if view.entry(id: owner)?.isFailing == true {
                        return "port \(node.port) sees \(owner) as failing"
                    }
                }
                if let replicasPerPrimary {
                    for primary in Set(owners.compactMap { $0 }) {
                        let replicas = view.entries.filter { $0.masterID == primary && !$0.isFailing }.count
                        if replicas != replicasPerPrimary {
                            return "port \(node.port) sees \(replicas) replicas of \(primary)"
                        }
                    }
                }
                let replication = Self.fields(
                    try await Self.checkedCommand(["INFO", "replication"], on: node, timeout: .seconds(1)).string ?? "")
                if replication["role"] == "slave", replication["master_link_status"] != "up" {
                    return "replica on port \(node.port) is not in sync with its primary yet"
                }
            } catch {
                return "port \(node.port): \(error)"
            }
        }
        return nil
    }

    /// Why `view` (of `node`) is not the same as `reference` (another node's) on every node's role and slots, or
    /// why it still sees a reachable node as failing; `nil` when it agrees.
    ///
    /// A node restarted after a failover learns within milliseconds that it is now a replica, but the others go on
    /// listing it as a failed primary until its own gossip reaches them: only when all agree has it rejoined.
    static func disagreement(
        _ view: ClusterView,
        node: RedisServer,
        reference: ClusterView?,
        reachableIDs: Set<String>
    ) -> String? {
        if let reference, reference.roles != view.roles {
            return "port \(node.port) disagrees with the others on roles or slots"
        }
        if let failing = view.entries.first(where: { reachableIDs.contains($0.id) && $0.isFailing }) {
            return "port \(node.port) sees port \(failing.port), which runs, as failing"
        }
        return nil
    }

    /// Why the running, non-hung nodes do not agree yet (``disagreement(_:node:reference:reachableIDs:)``), or
    /// `nil`.
    func consistencyProblem() async -> String? {
        let reachable = reachableIndices
        let reachableIDs = Set(reachable.map { nodeIDs[$0] })
        var reference: ClusterView?
        for index in reachable {
            do {
                let view = try await view(of: nodes[index])
                if let problem = Self.disagreement(
                    view, node: nodes[index], reference: reference, reachableIDs: reachableIDs)
                {
                    return problem
                }
                reference = view
            } catch {
                return "port \(nodes[index].port): \(error)"
            }
        }
        return nil
    }

    /// `name:value` lines (`CLUSTER INFO`, `INFO`) as a dictionary.
    static func fields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
                .trimmingCharacters(in: .whitespaces)
        }
        return fields
    }
}
