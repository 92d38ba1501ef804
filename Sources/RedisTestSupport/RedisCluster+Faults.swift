import _LoadKit

extension RedisCluster: FaultTarget {
    // MARK: - Shard faults

    /// Kills the current primary of `shard` with SIGKILL, as a crash would, and returns it.
    ///
    /// The cluster fails the shard over to a replica after about two to three times ``nodeTimeout``
    /// (``waitForFailover(shard:timeout:)``); meanwhile the shard's keys are unavailable and the other shards
    /// serve theirs. ``startShard(_:)`` brings the node back.
    ///
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard`, or `commandFailed` if no node answers.
    @discardableResult
    public func killShard(_ shard: Int) async throws -> RedisServer {
        let primary = try await primary(ofShard: shard)
        await primary.kill()
        return primary
    }

    /// Freezes the current primary of `shard` with SIGSTOP and returns it: connections to it hang, and the
    /// cluster fails it over as if it were dead. ``resumeShard(_:)`` continues it.
    ///
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard`, or `commandFailed` if no node answers.
    @discardableResult
    public func hangShard(_ shard: Int) async throws -> RedisServer {
        let primary = try await primary(ofShard: shard)
        primary.hang()
        return primary
    }

    /// Continues the hung node(s) of `shard` with SIGCONT. A primary that was failed over meanwhile learns it
    /// lost its slots and turns into a replica of the new primary (see ``waitForClusterOK(timeout:)``).
    ///
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard`.
    public func resumeShard(_ shard: Int) throws(RedisTestSupportError) {
        for index in try members(ofShard: shard) where nodes[index].isHung {
            nodes[index].resume()
        }
    }

    /// Restarts the node(s) of `shard` that were killed or stopped, on the same port and in the same directory,
    /// and returns once they have rejoined the cluster.
    ///
    /// A node keeps its `nodes.conf`, so it comes back with its node id and its last known configuration: if the
    /// shard was failed over meanwhile, the others tell it so and it becomes a replica of the new primary; if not,
    /// it is the primary again, with no data (nothing is persisted) and its replica resynchronizes from it.
    /// Rejoined means each restarted node says `cluster_state:ok`, and every running, non-hung node sees the same
    /// roles and slots and none of them as failing (at most 30 seconds). Another shard that is down does not stop
    /// this from returning; ``waitForClusterOK(timeout:)`` waits for the whole cluster.
    ///
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard`, `serverStartFailed` from a restart, or
    ///   `timeout` if a node does not rejoin.
    public func startShard(_ shard: Int) async throws {
        let restarted = try members(ofShard: shard).filter { !nodes[$0].isRunning }
        for index in restarted {
            try await nodes[index].restart()
        }
        guard !restarted.isEmpty else { return }
        try await waitUntil("shard \(shard)'s restarted nodes rejoined", timeout: Self.healthTimeout) {
            for index in restarted {
                let node = nodes[index]
                do {
                    let info = Self.fields(
                        try await Self.checkedCommand(["CLUSTER", "INFO"], on: node, timeout: .seconds(1)).string ?? ""
                    )
                    guard info["cluster_state"] == "ok" else {
                        return "port \(node.port) says cluster_state:\(info["cluster_state"] ?? "?")"
                    }
                } catch {
                    return "port \(node.port): \(error)"
                }
            }
            return await consistencyProblem()
        }
    }

    // MARK: - Whole-cluster faults

    /// Stops every node with SIGTERM (a clean shutdown of the whole cluster) and waits until all have exited.
    ///
    /// Nothing is persisted: after ``startAll()`` the cluster has its shape back (each node keeps `nodes.conf`)
    /// but no data.
    public func stopAll() async {
        await forEachNode { node in
            await node.stop()
        }
    }

    /// Kills every node with SIGKILL and waits until all have exited; ``startAll()`` brings them back.
    public func killAll() async {
        await forEachNode { node in
            await node.kill()
        }
    }

    /// Restarts every node that is not running, on its port and in its directory, and waits until the cluster is
    /// healthy again (``waitForClusterOK(timeout:)``, at most 30 seconds). The data is gone: nothing is persisted.
    ///
    /// - Throws: ``RedisTestSupportError`` with code `serverStartFailed` from a restart, or `timeout`.
    public func startAll() async throws {
        for index in nodes.indices where !nodes[index].isRunning {
            try await nodes[index].restart()
        }
        try await waitForClusterOK(timeout: Self.healthTimeout)
    }

    // MARK: - FaultTarget

    /// The first node's address. A cluster client should rather be given every node (``seedURL``): the first
    /// node may be the one a fault took down.
    public var host: String { nodes[0].host }

    /// The first node's port; see ``host``.
    public var port: Int { nodes[0].port }

    /// Always `false`: a cluster has no fault proxy, and the proxy faults are refused.
    public var hasProxy: Bool { false }

    /// Applies `fault` to the cluster and returns when it has run its course.
    ///
    /// `kill-shard N`, `hang-shard N`, `resume-shard N` and `start-shard N` are ``killShard(_:)``,
    /// ``hangShard(_:)``, ``resumeShard(_:)`` and ``startShard(_:)``. The whole-cluster faults act on every node:
    /// `stop` is ``stopAll()``, `kill` ``killAll()``, `start` ``startAll()``, `hang` and `resume` freeze and
    /// continue every node, and `sleep`, `pause`, `client-kill` and `max-clients` run on every running node at
    /// once (see ``RedisServer/apply(_:proxy:)``).
    ///
    /// ```swift
    /// try await cluster.apply(RedisFault(parsing: "kill-shard 0"))
    /// try await cluster.waitForFailover(shard: 0)
    /// try await cluster.apply(.startShard(0))
    /// ```
    ///
    /// - Throws: ``RedisTestSupportError`` with code `noProxy` for a proxy fault, `noSuchShard` for a shard the
    ///   cluster does not have, or what the underlying operation throws.
    public func apply(_ fault: RedisFault) async throws {
        switch fault {
        case .killShard(let shard):
            try await killShard(shard)
        case .hangShard(let shard):
            try await hangShard(shard)
        case .resumeShard(let shard):
            try resumeShard(shard)
        case .startShard(let shard):
            try await startShard(shard)
        case .stop:
            await stopAll()
        case .kill:
            await killAll()
        case .start:
            try await startAll()
        case .hang:
            for node in nodes {
                node.hang()
            }
        case .resume:
            for node in nodes {
                node.resume()
            }
        case .sleep, .pause, .clientKill, .maxClients:
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in nodes where node.isRunning {
                    group.addTask { try await node.apply(fault) }
                }
                try await group.waitForAll()
            }
        case .proxyLatency, .proxyBlackhole, .proxyReset, .proxyRefuse, .proxyClear:
            throw RedisTestSupportError(.noProxy, "\(fault) acts on a FaultProxy, and a RedisCluster has none")
        }
    }

    private func forEachNode(_ body: @escaping @Sendable (RedisServer) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            for node in nodes {
                group.addTask { await body(node) }
            }
        }
    }
}
