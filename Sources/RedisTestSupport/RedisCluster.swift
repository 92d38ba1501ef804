import Foundation
import Synchronization

/// A local Redis Cluster: redis-server processes on free loopback ports, joined by `redis-cli --cluster create`,
/// for tests of a cluster client against real slots, redirections, failovers and dead shards.
///
/// Every node is a ``RedisServer`` with ``RedisServer/Options-swift.struct/clusterEnabled``, so it has its own
/// directory (with its `nodes.conf`), its own port and bus port, no persistence, and the server's faults. The
/// cluster is built for a cache: a dead shard does not take the others down (`cluster-require-full-coverage no`,
/// `cluster-allow-reads-when-down yes`), and failover is quick (`cluster-node-timeout`, 1 s by default).
///
/// Shards are numbered once, at creation: shard N is the N-th primary ordered by its first slot (shard 0 owns
/// slot 0) with its replicas. A shard keeps its nodes; which of them is primary is asked of the cluster each time
/// (``primary(ofShard:)``), so after a failover the promoted replica is the shard's primary. The shard faults act
/// on the current primary: ``killShard(_:)``, ``hangShard(_:)``, ``resumeShard(_:)``, ``startShard(_:)``; and
/// ``migrate(slot:toShard:pauseBetweenKeys:)`` moves a slot, or ``beginMigration(slot:toShard:)`` holds one half
/// moved to provoke `ASK` replies.
///
/// Prefer ``withCluster(primaries:replicasPerPrimary:nodeTimeout:enableDebugCommand:isolation:_:)``, which shuts
/// every node down however the test ends. A cluster that is dropped without ``shutdown()`` still leaves no process
/// behind: each ``RedisServer`` kills its own in `deinit`, and a watchdog kills it if the test process dies.
///
/// ```swift
/// try await RedisCluster.withCluster { cluster in
///     let client = try makeClusterClient(url: cluster.seedURL)
///     let key = try await cluster.keys(inShard: 0, count: 1)[0]
///     try await cluster.killShard(0)
///     try await cluster.waitForFailover(shard: 0)
///     // ... the client finds shard 0's new primary ...
///     try await cluster.startShard(0)  // the old primary rejoins as a replica
/// }
/// ```
///
/// The fault and migration methods are meant to be called by one task at a time, as a test does.
public final class RedisCluster: Sendable {
    /// Every node, in the order they were started (the order of ``seedURL``).
    public let nodes: [RedisServer]
    /// The `cluster-node-timeout` the nodes run with: how long a node must be unreachable before it is failed over.
    public let nodeTimeout: Duration
    /// The nodes of each shard as indices into ``nodes``, the primary at creation first.
    let shardMembers: [[Int]]
    /// Each node's cluster node id, by index into ``nodes``; kept across restarts (it is in `nodes.conf`).
    let nodeIDs: [String]

    /// The number of slots of a Redis Cluster.
    public static let slotCount = 16384
    /// How long the cluster may take to form, and a restarted one to heal, before start or a wait fails.
    static let healthTimeout: Duration = .seconds(30)

    /// Whether ``shutdown()`` ran. Which nodes are down is each ``RedisServer``'s own state (`isRunning`,
    /// `isHung`): that is what ``startShard(_:)`` restarts and ``resumeShard(_:)`` continues.
    private let isShutDown: Mutex<Bool>

    private init(nodes: [RedisServer], nodeTimeout: Duration, shardMembers: [[Int]], nodeIDs: [String]) {
        self.nodes = nodes
        self.nodeTimeout = nodeTimeout
        self.shardMembers = shardMembers
        self.nodeIDs = nodeIDs
        self.isShutDown = Mutex(false)
    }

    // MARK: - Starting

    /// Starts `primaries × (1 + replicasPerPrimary)` nodes, joins them into a cluster and returns once it is
    /// healthy.
    ///
    /// Healthy means every node says `cluster_state:ok` with all 16384 slots assigned and served, knows every
    /// other node, sees the same owner for every slot, and every primary has its replicas attached and in sync
    /// (`master_link_status:up`). Each wait is bounded by 30 seconds.
    ///
    /// - Parameters:
    ///   - primaries: How many shards; `redis-cli --cluster create` needs at least 3.
    ///   - replicasPerPrimary: How many replicas each primary gets.
    ///   - nodeTimeout: `cluster-node-timeout`: a primary unreachable for longer is failed over. Keep it short in
    ///     tests (a failover then takes about two to three times this).
    ///   - enableDebugCommand: Start the nodes with `--enable-debug-command yes`, for `DEBUG SLEEP`.
    ///   - tls: When given, every node also listens for TLS with these certificates on its
    ///     ``RedisServer/tlsPort``, and the cluster bus, replication, `MOVED`/`ASK` and the topology a TLS client
    ///     reads name the TLS ports (`tls-cluster yes`, `tls-replication yes`), as in a managed TLS cluster. The
    ///     plain ports stay open for readiness checks and `redis-cli`.
    /// - Returns: The running cluster. Call ``shutdown()`` when done.
    /// - Throws: ``RedisTestSupportError`` with code `clusterStartFailed` (with redis-cli's output or what is not
    ///   healthy yet) after shutting down every node it started, or `serverStartFailed` from a node.
    public static func start(
        primaries: Int = 3,
        replicasPerPrimary: Int = 1,
        nodeTimeout: Duration = .milliseconds(1000),
        enableDebugCommand: Bool = true,
        tls: TestCertificates? = nil
    ) async throws -> RedisCluster {
        guard primaries >= 3, replicasPerPrimary >= 0 else {
            throw RedisTestSupportError(
                .clusterStartFailed,
                "a cluster needs at least 3 primaries and no negative replica count "
                    + "(asked for \(primaries) primaries with \(replicasPerPrimary) replicas each)"
            )
        }
        let options = nodeOptions(nodeTimeout: nodeTimeout, enableDebugCommand: enableDebugCommand, tls: tls)
        var nodes: [RedisServer] = []
        do {
            for _ in 0..<primaries * (1 + replicasPerPrimary) {
                nodes.append(try await RedisServer.start(options))
            }
            var nodeIDs: [String] = []
            for node in nodes {
                let reply = try await Self.command(["CLUSTER", "MYID"], on: node)
                guard let id = reply.string, !id.isEmpty else {
                    throw RedisTestSupportError(.clusterStartFailed, "CLUSTER MYID on port \(node.port): \(reply)")
                }
                nodeIDs.append(id)
            }
            try await create(nodes, replicasPerPrimary: replicasPerPrimary)
            let forming = RedisCluster(nodes: nodes, nodeTimeout: nodeTimeout, shardMembers: [], nodeIDs: nodeIDs)
            do {
                try await forming.waitUntilHealthy(timeout: healthTimeout, replicasPerPrimary: replicasPerPrimary)
            } catch let error as RedisTestSupportError where error.code == .timeout {
                throw RedisTestSupportError(.clusterStartFailed, error.message)
            }
            let members = try await forming.shardsFromTopology(primaries: primaries, replicas: replicasPerPrimary)
            return RedisCluster(nodes: nodes, nodeTimeout: nodeTimeout, shardMembers: members, nodeIDs: nodeIDs)
        } catch {
            for node in nodes {
                await node.shutdown()
            }
            throw error
        }
    }

    /// Starts a cluster, runs `body` with it and shuts every node down, also when `body` throws.
    ///
    /// ```swift
    /// @Test func aDeadShardDegradesOnlyItsKeys() async throws {
    ///     try await RedisCluster.withCluster { cluster in
    ///         try await cluster.killShard(1)
    ///         // ... keys of shards 0 and 2 still hit ...
    ///     }
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - primaries: How many shards (at least 3).
    ///   - replicasPerPrimary: How many replicas each primary gets.
    ///   - nodeTimeout: `cluster-node-timeout`.
    ///   - enableDebugCommand: Start the nodes with `--enable-debug-command yes`.
    ///   - tls: TLS on every node and between them, with these certificates (see ``start(primaries:replicasPerPrimary:nodeTimeout:enableDebugCommand:tls:)``).
    ///   - isolation: The caller's actor, inherited so `body` may touch its state.
    ///   - body: The test; the cluster is shut down when it returns or throws.
    /// - Returns: What `body` returns.
    public static func withCluster<T>(
        primaries: Int = 3,
        replicasPerPrimary: Int = 1,
        nodeTimeout: Duration = .milliseconds(1000),
        enableDebugCommand: Bool = true,
        tls: TestCertificates? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisCluster) async throws -> T
    ) async throws -> T {
        let cluster = try await start(
            primaries: primaries,
            replicasPerPrimary: replicasPerPrimary,
            nodeTimeout: nodeTimeout,
            enableDebugCommand: enableDebugCommand,
            tls: tls
        )
        do {
            let result = try await body(cluster)
            await cluster.shutdown()
            return result
        } catch {
            await cluster.shutdown()
            throw error
        }
    }

    /// The options of every node.
    private static func nodeOptions(
        nodeTimeout: Duration,
        enableDebugCommand: Bool,
        tls: TestCertificates?
    ) -> RedisServer.Options {
        let milliseconds = max(1, Int((nodeTimeout / .milliseconds(1)).rounded(.up)))
        var options = RedisServer.Options(
            enableDebugCommand: enableDebugCommand,
            extraArguments: [
                "--cluster-node-timeout", String(milliseconds),
                // A cache wants the healthy shards to keep serving while one shard is down: by default a single
                // uncovered slot turns the whole cluster to `fail` and every node refuses every key.
                "--cluster-require-full-coverage", "no",
                // ...and a node that lost contact with the majority still answers reads (possibly stale, which
                // the cache's own fencing handles) instead of refusing them with CLUSTERDOWN.
                "--cluster-allow-reads-when-down", "yes",
                // A replica always tries a failover, however long its primary was gone (a test may hang a
                // primary for a long time); the default refuses when its data looks too old.
                "--cluster-replica-validity-factor", "0",
                // Shards keep their nodes: a replica never moves to a shard left without one, or the shard a
                // test addresses by number would change under it.
                "--cluster-allow-replica-migration", "no",
                // The first sync starts at once instead of after the default 5-second wait for more replicas.
                "--repl-diskless-sync-delay", "0",
            ],
            clusterEnabled: true
        )
        if let tls {
            options.tls = RedisServer.Options.TLS(certificates: tls)
            options.extraArguments += ["--tls-cluster", "yes", "--tls-replication", "yes"]
        }
        return options
    }

    /// `redis-cli --cluster create` over `nodes`: the first ones become primaries and get the slots in order.
    private static func create(_ nodes: [RedisServer], replicasPerPrimary: Int) async throws {
        let addresses = nodes.map { "\($0.host):\($0.port)" }
        let arguments =
            ["--cluster", "create"] + addresses
            + ["--cluster-replicas", String(replicasPerPrimary), "--cluster-yes"]
        let output: CommandOutput
        do {
            output = try await ChildProcess.run(
                executable: ChildProcess.executablePath(named: "redis-cli"),
                arguments: arguments,
                scratchDirectory: nodes[0].directory,
                timeout: healthTimeout
            )
        } catch let error as RedisTestSupportError {
            throw RedisTestSupportError(
                .clusterStartFailed, "redis-cli \(arguments.joined(separator: " ")): \(error.message)")
        }
        let text = (output.standardOutput + output.standardError).trimmingCharacters(in: .whitespacesAndNewlines)
        guard output.status == 0, text.contains("[OK] All 16384 slots covered") else {
            throw RedisTestSupportError(
                .clusterStartFailed,
                "redis-cli \(arguments.joined(separator: " ")) exited with status \(output.status):\n\(text)"
            )
        }
    }

    /// The shards as the cluster reports them once formed: primaries by first slot, each with its replicas.
    private func shardsFromTopology(primaries: Int, replicas: Int) async throws -> [[Int]] {
        let view = try await currentView()
        let owners = view.slotOwners
        var shards: [[Int]] = []
        var slot = 0
        while slot < Self.slotCount {
            guard let owner = owners[slot], let primary = nodeIndex(ofID: owner) else {
                throw RedisTestSupportError(.clusterStartFailed, "slot \(slot) has no known owner:\n\(view.text)")
            }
            if !shards.contains(where: { $0.first == primary }) {
                let replicaIndices = view.entries.filter { $0.masterID == owner }.compactMap { nodeIndex(ofID: $0.id) }
                shards.append([primary] + replicaIndices.sorted())
            }
            slot += 1
        }
        guard shards.count == primaries, shards.allSatisfy({ $0.count == 1 + replicas }) else {
            throw RedisTestSupportError(
                .clusterStartFailed,
                "expected \(primaries) primaries with \(replicas) replicas each, the cluster says:\n\(view.text)"
            )
        }
        return shards
    }

    // MARK: - Shutting down

    /// Kills every node and removes its directory. Idempotent; ``withCluster(primaries:replicasPerPrimary:nodeTimeout:enableDebugCommand:isolation:_:)``
    /// calls it for you.
    public func shutdown() async {
        let first = isShutDown.withLock { isShutDown in
            defer { isShutDown = true }
            return !isShutDown
        }
        guard first else { return }
        await withTaskGroup(of: Void.self) { group in
            for node in nodes {
                group.addTask { await node.shutdown() }
            }
        }
    }

    // MARK: - Addresses

    /// `redis://127.0.0.1:P1,127.0.0.1:P2,…`: every node, for a client that takes a list of seeds.
    public var seedURL: String {
        "redis://" + nodes.map { "\($0.host):\($0.port)" }.joined(separator: ",")
    }

    /// `rediss://127.0.0.1:T1,127.0.0.1:T2,…`: every node's TLS port, when the cluster was started with TLS.
    public var tlsSeedURL: String? {
        let ports = nodes.compactMap(\.tlsPort)
        guard ports.count == nodes.count, !ports.isEmpty else { return nil }
        return "rediss://" + zip(nodes, ports).map { "\($0.host):\($1)" }.joined(separator: ",")
    }

    /// Every node's address, in the order of ``nodes``.
    public var seedEndpoints: [(host: String, port: Int)] {
        nodes.map { ($0.host, $0.port) }
    }

    /// How many shards (primaries at creation) the cluster has.
    public var shardCount: Int { shardMembers.count }

    /// The nodes of `shard` (primary and replicas, whatever their current roles), the primary at creation first.
    ///
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard`.
    public func nodes(ofShard shard: Int) throws(RedisTestSupportError) -> [RedisServer] {
        try members(ofShard: shard).map { nodes[$0] }
    }

    /// The shard `node` belongs to, or `nil` if it is not a node of this cluster.
    public func shard(of node: RedisServer) -> Int? {
        guard let index = nodes.firstIndex(where: { $0 === node }) else { return nil }
        return shardMembers.firstIndex { $0.contains(index) }
    }

    /// `node`'s cluster node id (40 hex digits), or `nil` if it is not a node of this cluster.
    public func nodeID(of node: RedisServer) -> String? {
        nodes.firstIndex { $0 === node }.map { nodeIDs[$0] }
    }

    func members(ofShard shard: Int) throws(RedisTestSupportError) -> [Int] {
        guard shardMembers.indices.contains(shard) else {
            throw RedisTestSupportError(
                .noSuchShard, "no shard \(shard): the cluster has shards 0 to \(shardMembers.count - 1)")
        }
        return shardMembers[shard]
    }

    func nodeIndex(ofID id: String) -> Int? {
        nodeIDs.firstIndex(of: id)
    }

    /// `Redis Cluster of 3 shards (1 replica each) on 127.0.0.1 ports P1, P2, …`.
    public var description: String {
        let replicas = (shardMembers.first?.count ?? 1) - 1
        return "Redis Cluster of \(shardCount) shards (\(replicas) replica\(replicas == 1 ? "" : "s") each) on "
            + "127.0.0.1 ports " + nodes.map { String($0.port) }.joined(separator: ", ")
    }

    // MARK: - Commands

    /// Sends one command to `node` over a fresh connection and returns the reply; an error reply is a reply.
    static func command(
        _ arguments: [String],
        on node: RedisServer,
        timeout: Duration = .seconds(2)
    ) async throws -> RawConnection.Reply {
        let connection = try await RawConnection.connect(port: node.port, timeout: .milliseconds(500))
        defer { connection.close() }
        try await connection.send(RawConnection.encode(arguments), timeout: timeout)
        return try await connection.readReply(timeout: timeout)
    }

    /// Sends one command to `node` and throws `commandFailed` if Redis answers with an error.
    @discardableResult
    static func checkedCommand(
        _ arguments: [String],
        on node: RedisServer,
        timeout: Duration = .seconds(2)
    ) async throws -> RawConnection.Reply {
        let reply = try await command(arguments, on: node, timeout: timeout)
        if case .error(let message) = reply {
            throw RedisTestSupportError(
                .commandFailed, "\(arguments.joined(separator: " ")) on port \(node.port): \(message)")
        }
        return reply
    }
}
