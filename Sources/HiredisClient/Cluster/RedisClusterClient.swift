import CoreMetrics
import Logging
import Synchronization

/// A Redis Cluster client: routes each keyed command to the node that serves its slot, follows `MOVED` and `ASK`,
/// and keeps the topology fresh.
///
/// Every node the client talks to gets a ``RedisClient`` of its own, made from
/// ``RedisClusterConfiguration/node`` when first needed: its pool, auto-pipelining and deadlines work as they do
/// for one server. The topology comes from `CLUSTER SHARDS` (`CLUSTER SLOTS` before Redis 7), learnt at the first
/// call, refreshed every ``RedisClusterConfiguration/topologyRefreshInterval`` by ``run()``, and at once after a
/// `MOVED` or a connection failure (at most once per ``RedisClusterConfiguration/minimumRefreshInterval``).
///
/// A redirect is followed within the call's own deadline and at most ``RedisClusterConfiguration/maximumRedirects``
/// times. A connection failure or timeout is not retried on another node: it is thrown as it is, so a circuit
/// breaker above sees it; `CLUSTERDOWN` is thrown as the server error it is.
///
/// ```swift
/// let cluster = try RedisClusterClient(
///     configuration: RedisClusterConfiguration(url: "redis://10.0.0.1:7000,10.0.0.2:7000"),
///     logger: logger
/// )
/// try await cluster.set("user:42", value: Array("Ada".utf8))
/// let shard = cluster.shardID(forKey: "user:42")  // which shard's breaker guards the call
/// ```
///
/// Threads: the connections of every node (``RedisClientConfiguration/connectionCount`` each, 2 by default, made
/// at the node's first call) run on one group of event loops, one per core and at most 2, and one deadline
/// thread serves all the nodes: the thread count does not grow with the nodes, with
/// ``RedisClusterConfiguration/readFromReplicas`` or without. Connecting runs on a `redis-connect` thread that
/// lives only as long as the connect and its handshakes, so a node that does not answer holds no loop.
public final class RedisClusterClient: Sendable {
    typealias Endpoint = RedisClientConfiguration.Endpoint
    typealias RefreshTask = Task<Result<Void, RedisClientError>, Never>

    /// A node's client; replicas read from have their own, with `READONLY` on every connection.
    private struct NodeKey: Hashable {
        var endpoint: Endpoint
        var readOnly: Bool
    }

    private struct State {
        var table = ClusterRoutingTable()
        var nextShardID = 0
        var clients: [NodeKey: RedisClient] = [:]
        var refresh: RefreshTask?
        var lastTriggeredRefresh: UInt64?
        var lastRefreshError: RedisClientError?
        var closed = false
        var readRotation = 0
    }

    public let configuration: RedisClusterConfiguration
    private let state = Mutex(State())
    private let watchdog: DeadlineWatchdog
    /// The event loops every node client's connections run on, so the cluster's threads do not grow with its
    /// nodes; `nil` when the node configuration asks for thread-per-connection.
    private let loops: EventLoopGroup?
    /// Every node's TLS sessions come from this one context.
    private let tlsContext: TLSContext?
    private let logger: Logger
    private let metricsFactory: any MetricsFactory

    /// Creates the client; it contacts no node until the first call (or ``run()``), so this succeeds while the
    /// cluster is down.
    ///
    /// - Parameters:
    ///   - configuration: the seeds and the template of every node's client.
    ///   - logger: receives the topology changes and each node client's connection changes.
    ///   - metricsFactory: where the node clients' `redis_*` metrics go, each with a `node` dimension
    ///     (`host:port`).
    /// - Throws: ``RedisClientError/Code/invalidConfiguration`` when `configuration` holds an invalid value or a
    ///   TLS file OpenSSL cannot use.
    public init(
        configuration: RedisClusterConfiguration,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws(RedisClientError) {
        try configuration.validate()
        self.tlsContext = try configuration.node.tls.map { tls throws(RedisClientError) in try TLSContext.make(tls) }
        self.configuration = configuration
        self.logger = logger
        self.metricsFactory = metricsFactory
        self.watchdog = DeadlineWatchdog()
        self.loops =
            (configuration.node.ioModel ?? IOModel.processDefault) == .threadPerConnection
            ? nil : EventLoopGroup(busyPolling: configuration.node.busyPolling)
    }

    deinit {
        // Dropped without close(): the node clients end their own threads in their deinit.
        if !state.withLock({ $0.closed }) {
            loops?.stopWithoutWaiting()
            watchdog.stopWithoutWaiting()
        }
    }

    /// Closes every node's client and ends the deadline thread; waits for a refresh in flight first. Calls made
    /// afterwards fail with ``RedisClientError/Code/closed``. Safe to call more than once.
    public func close() async {
        let (alreadyClosed, refresh) = state.withLock { state in
            defer { state.closed = true }
            return (state.closed, state.refresh)
        }
        if alreadyClosed { return }
        refresh?.cancel()
        _ = await refresh?.value
        let clients = state.withLock { state in
            defer { state.clients = [:] }
            return Array(state.clients.values)
        }
        for client in clients {
            await client.close()
        }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let watchdog = self.watchdog
            let loops = self.loops
            IOThread.spawnDetached(name: "redis-close") {
                loops?.stop()
                watchdog.stop()
                continuation.resume()
            }
        }
        logger.debug("redis cluster client closed")
    }

    // MARK: - The shard-level view

    /// The shards as last learnt, sorted by id; empty before the topology is first known.
    public var shards: [RedisClusterShard] {
        state.withLock { $0.table.shards }
    }

    /// The id of the shard that serves `key`, `nil` before the topology is known or when no shard serves it.
    public func shardID(forKey key: String) -> Int? {
        shardID(forSlot: RedisClusterSlot.of(key))
    }

    /// The id of the shard that serves `key`, `nil` before the topology is known or when no shard serves it.
    public func shardID(forKey key: RedisKey) -> Int? {
        shardID(forSlot: RedisClusterSlot.of(key))
    }

    /// The id of the shard that serves `slot` (0..<16384), `nil` before the topology is known or when no shard
    /// serves it.
    public func shardID(forSlot slot: Int) -> Int? {
        precondition((0..<RedisClusterSlot.count).contains(slot), "slot \(slot) is not in 0..<16384")
        return state.withLock { $0.table.shardID(forSlot: slot) }
    }

    /// The client of shard `id`'s current primary, `nil` when the shard is not known.
    package func client(forShard id: Int) throws(RedisClientError) -> RedisClient? {
        guard let primary = state.withLock({ $0.table.shard(id: id)?.primary }) else { return nil }
        return try nodeClient(primary)
    }

    /// The client of the node at `endpoint`, made if needed.
    package func client(for endpoint: RedisClientConfiguration.Endpoint) throws(RedisClientError) -> RedisClient {
        try nodeClient(endpoint)
    }

    // MARK: - Topology

    /// Asks the cluster for its topology now; joins a refresh already in flight instead of starting another.
    ///
    /// Known primaries are asked first, then replicas, then the seeds, each within the node command timeout;
    /// the first answer wins.
    ///
    /// - Throws: the last node's error when none answered, ``RedisClientError/Code/closed`` after ``close()``.
    public func refreshTopology() async throws(RedisClientError) {
        guard let task = startRefresh(force: true) else {
            throw RedisClientError(.closed, "the cluster client is closed")
        }
        try await task.value.get()
    }

    /// Starts a refresh, or returns the one in flight; `nil` when closed or, unless `force`, when the last
    /// triggered refresh is more recent than the minimum refresh interval.
    @discardableResult
    func startRefresh(force: Bool) -> RefreshTask? {
        let now = monotonicNanoseconds()
        let minimum = configuration.minimumRefreshInterval.nanoseconds
        return state.withLock { state -> RefreshTask? in
            if state.closed { return nil }
            if let refresh = state.refresh { return refresh }
            if !force, let last = state.lastTriggeredRefresh, now &- last < minimum { return nil }
            state.lastTriggeredRefresh = now
            // Owned by the client: close() cancels and awaits it, so it never outlives the client.
            let task = RefreshTask { await self.performRefresh() }
            state.refresh = task
            return task
        }
    }

    private func performRefresh() async -> Result<Void, RedisClientError> {
        let result = await askForTopology()
        let obsolete = state.withLock { state -> [RedisClient] in
            state.refresh = nil
            guard case .success(let topology) = result else {
                if case .failure(let error) = result { state.lastRefreshError = error }
                return []
            }
            let (shards, next) = topology.numbered(known: state.table.shards, nextID: state.nextShardID)
            if shards != state.table.shards {
                logger.info(
                    "redis cluster topology changed",
                    metadata: ["shards": "\(shards.map(\.description).joined(separator: "; "))"]
                )
            }
            state.table = ClusterRoutingTable(shards: shards)
            state.nextShardID = next
            state.lastRefreshError = nil
            guard !state.closed else { return [] }
            let current = Set(state.table.endpoints)
            let gone = state.clients.keys.filter { !current.contains($0.endpoint) }
            return gone.compactMap { state.clients.removeValue(forKey: $0) }
        }
        for client in obsolete {
            await client.close()
        }
        return result.map { _ in () }
    }

    private func askForTopology() async -> Result<ClusterTopology, RedisClientError> {
        let known = state.withLock { $0.table.endpoints }
        var candidates: [Endpoint] = []
        var seen = Set<Endpoint>()
        for endpoint in known + configuration.seeds where seen.insert(endpoint).inserted {
            candidates.append(endpoint)
        }
        var lastError = RedisClientError(.connectionFailed, "no cluster node to ask for the topology")
        for endpoint in candidates {
            if Task.isCancelled { return .failure(RedisClientError(.cancelled, "the topology refresh was cancelled")) }
            guard case .tcp(let host, _) = endpoint.base else { continue }
            do {
                let client = try nodeClient(endpoint)
                do {
                    let reply = try await client.send(RedisCommand("CLUSTER", [Array("SHARDS".utf8)]))
                    return .success(
                        try ClusterTopology.parse(shardsReply: reply, host: host, tls: configuration.node.tls != nil))
                } catch  where error.serverError?.code == "ERR" && error.message.lowercased().contains("unknown") {
                    let reply = try await client.send(RedisCommand("CLUSTER", [Array("SLOTS".utf8)]))
                    return .success(try ClusterTopology.parse(slotsReply: reply, host: host))
                }
            } catch {
                if error.code == .closed { return .failure(error) }
                logger.debug(
                    "redis cluster node did not answer for the topology",
                    metadata: ["node": "\(endpoint)", "error": "\(error)"]
                )
                lastError = error
            }
        }
        logger.warning("redis cluster topology refresh failed", metadata: ["error": "\(lastError)"])
        return .failure(lastError)
    }

    /// The client of `endpoint`, made at its first use.
    func nodeClient(_ endpoint: Endpoint, readOnly: Bool = false) throws(RedisClientError) -> RedisClient {
        let key = NodeKey(endpoint: endpoint, readOnly: readOnly)
        return try state.withLock { state throws(RedisClientError) -> RedisClient in
            guard !state.closed else { throw RedisClientError(.closed, "the cluster client is closed") }
            if let client = state.clients[key] { return client }
            var node = configuration.node
            node.endpoint = endpoint
            node.readOnly = readOnly
            if let problem = node.problem {
                throw RedisClientError(.invalidConfiguration, "cluster node \(endpoint): \(problem)")
            }
            var logger = self.logger
            logger[metadataKey: "redis.node"] = "\(endpoint)"
            let client = RedisClient(
                validated: node,
                tlsContext: tlsContext,
                logger: logger,
                metricsFactory: metricsFactory,
                watchdog: watchdog,
                loops: loops,
                dimensions: [("node", endpoint.description)]
            )
            state.clients[key] = client
            return client
        }
    }

    // MARK: - Routing

    /// What a server error asks the client to do instead of failing.
    private enum Redirect {
        case moved(slot: Int, to: Endpoint)
        case ask(Endpoint)
        case tryAgain

        init?(_ error: RedisClientError, from node: Endpoint) {
            guard let serverError = error.serverError else { return nil }
            switch serverError.code {
            case "TRYAGAIN":
                self = .tryAgain
            case "MOVED", "ASK":
                // "MOVED 3999 127.0.0.1:6381"; the host may be empty when the node does not know its own address.
                let words = serverError.message.split(separator: " ")
                guard words.count == 3, let slot = Int(words[1]), let colon = words[2].lastIndex(of: ":"),
                    let port = Int(words[2][words[2].index(after: colon)...])
                else { return nil }
                var host = String(words[2][..<colon])
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                if host.isEmpty, case .tcp(let nodeHost, _) = node.base { host = nodeHost }
                let target = Endpoint.tcp(host: host, port: port)
                self = serverError.code == "MOVED" ? .moved(slot: slot, to: target) : .ask(target)
            default:
                return nil
            }
        }
    }

    /// The node to send a command for `slot` to, learning the topology first when it is not known yet.
    ///
    /// - Parameter read: a read that may go to a replica, when the configuration says so.
    func node(forSlot slot: Int, read: Bool, deadline: UInt64) async throws(RedisClientError) -> (
        Endpoint, replica: Bool
    ) {
        var discovered = false
        while true {
            let found = state.withLock { state -> (Endpoint?, Bool, Bool) in
                guard let primary = state.table.node(forSlot: slot) else { return (nil, false, state.table.isKnown) }
                if read, configuration.readFromReplicas, let id = state.table.shardID(forSlot: slot),
                    let shard = state.table.shard(id: id), shard.primary == primary, !shard.replicas.isEmpty
                {
                    state.readRotation &+= 1
                    return (shard.replicas[state.readRotation % shard.replicas.count], true, true)
                }
                return (primary, false, true)
            }
            if let endpoint = found.0 { return (endpoint, found.1) }
            if found.2 || discovered {
                let reason = state.withLock { $0.lastRefreshError }
                if let reason, !found.2 { throw reason }
                throw RedisClientError(.connectionFailed, "no node of the cluster serves slot \(slot)")
            }
            try await waitForRefresh(deadline: deadline)
            discovered = true
        }
    }

    /// Starts a refresh (or joins the one in flight) and waits for it, at most until `deadline`: a call never waits
    /// for a topology longer than its own timeout, however many nodes the refresh has to ask.
    func waitForRefresh(deadline: UInt64) async throws(RedisClientError) {
        guard let task = startRefresh(force: true) else {
            throw RedisClientError(.closed, "the cluster client is closed")
        }
        // Polled rather than awaited: a task's value cannot be given up on when the caller's deadline passes.
        while state.withLock({ $0.refresh == task }) {
            let now = monotonicNanoseconds()
            guard now < deadline else {
                throw RedisClientError(.timeout, "the cluster topology was not learnt within the timeout")
            }
            do {
                try await Task.sleep(nanoseconds: min(2_000_000, deadline - now))
            } catch {
                throw RedisClientError(.cancelled, "the task was cancelled while the cluster topology was learnt")
            }
        }
    }

    /// Sends `command`, whose keys all hash to `slot`, to the node that serves it, following redirects until
    /// `deadline`.
    func execute(
        _ command: RedisCommand,
        slot: Int,
        read: Bool = false,
        deadline: UInt64
    ) async throws(RedisClientError) -> RedisReply {
        let (endpoint, replica) = try await node(forSlot: slot, read: read, deadline: deadline)
        return try await execute(
            command, on: endpoint, replica: replica, asking: false, redirects: 0, deadline: deadline)
    }

    /// Sends `command` to `endpoint` and follows redirects from there.
    private func execute(
        _ command: RedisCommand,
        on endpoint: Endpoint,
        replica: Bool,
        asking: Bool,
        redirects: Int,
        deadline: UInt64
    ) async throws(RedisClientError) -> RedisReply {
        var endpoint = endpoint
        var replica = replica
        var asking = asking
        var redirects = redirects
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else {
                throw RedisClientError(.timeout, "no reply within the timeout after \(redirects) redirects")
            }
            let remaining = Duration.nanoseconds(Int64(clamping: deadline - now))
            let client = try nodeClient(endpoint, readOnly: replica)
            let result: Result<RedisReply, RedisClientError>
            if asking {
                result = await client.pipeline([RedisCommand("ASKING"), command], timeout: remaining)[1]
            } else {
                do {
                    result = .success(try await client.send(command, timeout: remaining))
                } catch {
                    result = .failure(error)
                }
            }
            let error: RedisClientError
            switch result {
            case .success(let reply): return reply
            case .failure(let failure): error = failure
            }
            guard let redirect = Redirect(error, from: endpoint) else {
                if error.isConnectionFailure { startRefresh(force: false) }
                if let code = error.serverError?.code, code == "MOVED" || code == "ASK" {
                    // A redirect that cannot be followed is the cluster's fault, not the request's.
                    throw RedisClientError(
                        .protocolError, "unreadable \(code) redirect: \(error.message)", underlying: error.serverError)
                }
                throw error
            }
            // TRYAGAIN (a multi-key command while its slot migrates) waits until the deadline, not a budget.
            if case .tryAgain = redirect {} else { redirects += 1 }
            guard redirects <= configuration.maximumRedirects else {
                throw RedisClientError(
                    .tooManyRedirects,
                    "\(command) was redirected more than \(configuration.maximumRedirects) times; last: \(error.message)",
                    underlying: error.serverError
                )
            }
            switch redirect {
            case .moved(let slot, let target):
                state.withLock { $0.table.move(slot: slot, to: target) }
                startRefresh(force: false)
                endpoint = target
                replica = false
                asking = false
            case .ask(let target):
                endpoint = target
                replica = false
                asking = true
            case .tryAgain:
                // The keys are split between two nodes while their slot migrates: wait a moment, not a deadline.
                let left = deadline &- monotonicNanoseconds()
                guard left < deadline else { continue }
                do {
                    try await Task.sleep(nanoseconds: min(5_000_000, left))
                } catch {
                    throw RedisClientError(.cancelled, "the task was cancelled while a slot was migrating")
                }
            }
        }
    }

    /// The deadline of a call that waits at most `timeout`, the node command timeout by default.
    func deadline(after timeout: Duration?) -> UInt64 {
        monotonicDeadline(after: timeout ?? configuration.node.commandTimeout)
    }
}

extension RedisClientError {
    /// The node could not be reached or did not answer in time: what makes the cluster client refresh its map.
    var isConnectionFailure: Bool {
        code == .connectionRefused || code == .connectionFailed || code == .connectionLost || code == .timeout
    }
}
