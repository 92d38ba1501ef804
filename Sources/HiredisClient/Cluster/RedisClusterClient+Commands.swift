import ServiceLifecycle

extension RedisClusterClient: Service {
    /// Learns the topology, then refreshes it every ``RedisClusterConfiguration/topologyRefreshInterval`` until a
    /// graceful shutdown begins or the task is cancelled; then closes the client.
    ///
    /// The client serves calls whether or not `run()` is running; without it, the topology is refreshed only
    /// after `MOVED` and connection failures.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.refreshPeriodically()
        }
        await close()
    }

    /// Learns the topology now and again every ``RedisClusterConfiguration/topologyRefreshInterval``, until the
    /// task is cancelled; closes nothing. For an owner (the cache) that closes the client later itself.
    package func refreshPeriodically() async {
        let interval = configuration.topologyRefreshInterval
        // Started, not awaited: a refresh asks node after node, and a shutdown must not wait for that (close()
        // cancels the refresh in flight).
        startRefresh(force: true)
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            startRefresh(force: true)
        }
    }
}

/// Keyed commands, routed by slot.
extension RedisClusterClient {
    /// Sends `command`, whose keys all hash to `key`'s slot, to the node that serves it.
    ///
    /// `MOVED`, `ASK` and `TRYAGAIN` are followed within `timeout`. Any other error is thrown as it is: a server
    /// error (`CLUSTERDOWN`, `CROSSSLOT`…) as ``RedisClientError/Code/serverError``.
    ///
    /// ```swift
    /// var command = RedisCommand("HSET")
    /// command.append("user:{42}")
    /// command.append("name")
    /// command.append("Ada")
    /// let reply = try await cluster.send(command, key: "user:{42}")
    /// ```
    ///
    /// - Parameters:
    ///   - key: a key of the command: it decides the slot.
    ///   - timeout: the whole call's limit, redirects included; the node command timeout when `nil`.
    public func send(
        _ command: RedisCommand,
        key: RedisKey,
        timeout: Duration? = nil
    ) async throws(RedisClientError) -> RedisReply {
        try await execute(command, slot: RedisClusterSlot.of(key), deadline: deadline(after: timeout))
    }

    /// `GET key`: the value, or `nil` when the key does not exist. May read a replica with
    /// ``RedisClusterConfiguration/readFromReplicas``.
    public func get(_ key: RedisKey, timeout: Duration? = nil) async throws(RedisClientError) -> [UInt8]? {
        var command = RedisCommand("GET")
        command.append(key)
        let reply = try await execute(
            command, slot: RedisClusterSlot.of(key), read: true, deadline: deadline(after: timeout))
        return try optionalBytes(reply, for: command)
    }

    /// `SET key value [PX ms]`.
    ///
    /// - Parameter expiration: the time to live, sent as `PX` in milliseconds (at least 1 ms); `nil` for none.
    public func set(
        _ key: RedisKey,
        value: [UInt8],
        expiration: Duration? = nil,
        timeout: Duration? = nil
    ) async throws(RedisClientError) {
        var command = RedisCommand("SET")
        command.append(key)
        command.append(value)
        if let expiration {
            command.append("PX")
            command.append(max(1, expiration.wholeMilliseconds))
        }
        let reply = try await execute(command, slot: RedisClusterSlot.of(key), deadline: deadline(after: timeout))
        guard case .simpleString = reply else { throw unexpected(reply, for: command) }
    }

    /// `MGET`, split by slot: one `MGET` per slot, sent to their nodes concurrently, the values put back in the
    /// order of `keys` (`nil` where a key does not exist). If any part fails, the call throws that part's error.
    public func mget(_ keys: [RedisKey], timeout: Duration? = nil) async throws(RedisClientError) -> [[UInt8]?] {
        let deadline = deadline(after: timeout)
        let parts = try await perSlot("MGET", keys, read: true, deadline: deadline)
        var values = [[UInt8]?](repeating: nil, count: keys.count)
        for (indices, command, reply) in parts {
            guard let elements = reply.array, elements.count == indices.count else {
                throw unexpected(reply, for: command)
            }
            for (index, element) in zip(indices, elements) {
                values[index] = try optionalBytes(element, for: command)
            }
        }
        return values
    }

    /// `UNLINK`, split by slot: how many of the keys existed and were removed.
    @discardableResult
    public func unlink(_ keys: [RedisKey], timeout: Duration? = nil) async throws(RedisClientError) -> Int {
        try await summed("UNLINK", keys, timeout: timeout)
    }

    /// `DEL`, split by slot: how many of the keys existed and were removed.
    @discardableResult
    public func del(_ keys: [RedisKey], timeout: Duration? = nil) async throws(RedisClientError) -> Int {
        try await summed("DEL", keys, timeout: timeout)
    }

    /// Sends commands grouped by node, one ``RedisClient/pipeline(_:timeout:)`` per node, concurrently; each
    /// result is at its command's index. An entry redirected by its node is retried on its own within `timeout`.
    ///
    /// - Parameter commands: each command with a key that decides its slot.
    public func pipeline(
        _ commands: [(key: RedisKey, command: RedisCommand)],
        timeout: Duration? = nil
    ) async -> [Result<RedisReply, RedisClientError>] {
        if commands.isEmpty { return [] }
        let deadline = deadline(after: timeout)
        var results = [Result<RedisReply, RedisClientError>?](repeating: nil, count: commands.count)
        var groups: [Endpoint: [Int]] = [:]
        for (index, entry) in commands.enumerated() {
            let slot = RedisClusterSlot.of(entry.key)
            do {
                let (endpoint, _) = try await node(forSlot: slot, read: false, deadline: deadline)
                groups[endpoint, default: []].append(index)
            } catch {
                results[index] = .failure(error)
            }
        }
        let grouped = groups
        let firstPass = await withTaskGroup(of: [(Int, Result<RedisReply, RedisClientError>)].self) { group in
            for (endpoint, indices) in grouped {
                group.addTask {
                    let client: RedisClient
                    do throws(RedisClientError) {
                        client = try self.nodeClient(endpoint)
                    } catch {
                        return indices.map { ($0, .failure(error)) }
                    }
                    let remaining = self.remaining(until: deadline)
                    let replies = await client.pipeline(indices.map { commands[$0].command }, timeout: remaining)
                    if replies.contains(where: { (try? $0.get()) == nil && $0.isConnectionFailure }) {
                        self.startRefresh(force: false)
                    }
                    return Array(zip(indices, replies))
                }
            }
            var all: [(Int, Result<RedisReply, RedisClientError>)] = []
            for await part in group { all += part }
            return all
        }
        var redirected: [Int] = []
        for (index, result) in firstPass {
            if case .failure(let error) = result, error.isRedirect {
                redirected.append(index)
            } else {
                results[index] = result
            }
        }
        let retried = await withTaskGroup(of: (Int, Result<RedisReply, RedisClientError>).self) { group in
            for index in redirected {
                group.addTask {
                    let slot = RedisClusterSlot.of(commands[index].key)
                    do throws(RedisClientError) {
                        return (
                            index,
                            .success(try await self.execute(commands[index].command, slot: slot, deadline: deadline))
                        )
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var all: [(Int, Result<RedisReply, RedisClientError>)] = []
            for await part in group { all.append(part) }
            return all
        }
        for (index, result) in retried { results[index] = result }
        return results.map { $0 ?? .failure(RedisClientError(.closed, "the pipeline did not complete")) }
    }

    /// `PING` to every primary, concurrently, learning the topology first if needed.
    ///
    /// - Throws: the first failure, when any primary does not answer.
    public func ping(timeout: Duration? = nil) async throws(RedisClientError) {
        let deadline = deadline(after: timeout)
        if shards.isEmpty { _ = try await node(forSlot: 0, read: false, deadline: deadline) }
        let primaries = Set(shards.map(\.primary))
        let failure = await withTaskGroup(of: RedisClientError?.self) { group in
            for primary in primaries {
                group.addTask { await self.ping(primary, deadline: deadline) }
            }
            var first: RedisClientError?
            for await error in group where first == nil { first = error }
            return first
        }
        if let failure { throw failure }
    }

    /// `PING` to the current primary of shard `id`; the topology is refreshed first when the shard is not known.
    ///
    /// - Throws: ``RedisClientError/Code/connectionFailed`` when no shard has that id.
    public func ping(shard id: Int, timeout: Duration? = nil) async throws(RedisClientError) {
        let deadline = deadline(after: timeout)
        let primary = try await primary(ofShard: id, deadline: deadline)
        if let error = await ping(primary, deadline: deadline) { throw error }
    }

    /// Every key matching `pattern`, in batches, from `SCAN` on every primary in turn; a `pattern` whose keys all
    /// share one slot (see ``RedisClusterSlot/of(pattern:)``) scans only the node that serves it.
    ///
    /// `SCAN`'s guarantees hold per node; a slot that migrates during the walk may have its keys missed or
    /// seen twice.
    ///
    /// ```swift
    /// for try await batch in cluster.scan(match: "session:*", count: 500) {
    ///     try await cluster.unlink(batch)
    /// }
    /// ```
    public func scan(match pattern: String? = nil, count: Int? = nil) -> RedisClusterScanSequence {
        let target: RedisClusterScanSequence.Target =
            if let pattern, let slot = RedisClusterSlot.of(pattern: pattern) { .slot(slot) } else { .allPrimaries }
        return RedisClusterScanSequence(client: self, target: target, pattern: pattern, count: count)
    }

    /// The keys matching `pattern` on shard `id`'s current primary only.
    public func scan(shard id: Int, match pattern: String? = nil, count: Int? = nil) -> RedisClusterScanSequence {
        RedisClusterScanSequence(client: self, target: .shard(id), pattern: pattern, count: count)
    }

    // MARK: - Helpers

    /// The nodes a scan of `target` visits, in order.
    func scanNodes(_ target: RedisClusterScanSequence.Target) async throws(RedisClientError) -> [Endpoint] {
        let deadline = deadline(after: nil)
        switch target {
        case .allPrimaries:
            if shards.isEmpty { _ = try await node(forSlot: 0, read: false, deadline: deadline) }
            var seen = Set<Endpoint>()
            return shards.map(\.primary).filter { seen.insert($0).inserted }
        case .slot(let slot):
            return [try await node(forSlot: slot, read: false, deadline: deadline).0]
        case .shard(let id):
            return [try await primary(ofShard: id, deadline: deadline)]
        }
    }

    private func primary(ofShard id: Int, deadline: UInt64) async throws(RedisClientError) -> Endpoint {
        if let primary = shards.first(where: { $0.id == id })?.primary { return primary }
        try await waitForRefresh(deadline: deadline)
        guard let primary = shards.first(where: { $0.id == id })?.primary else {
            throw RedisClientError(.connectionFailed, "the cluster has no shard \(id)")
        }
        return primary
    }

    private func ping(_ endpoint: Endpoint, deadline: UInt64) async -> RedisClientError? {
        do {
            let reply = try await nodeClient(endpoint).send(RedisCommand("PING"), timeout: remaining(until: deadline))
            guard reply.string == "PONG" else { return unexpected(reply, for: RedisCommand("PING")) }
            return nil
        } catch {
            if error.isConnectionFailure { startRefresh(force: false) }
            return error
        }
    }

    /// Sends `name key…` once per slot of `keys`, concurrently; each part with the indices of its keys.
    private func perSlot(
        _ name: String,
        _ keys: [RedisKey],
        read: Bool,
        deadline: UInt64
    ) async throws(RedisClientError) -> [(indices: [Int], command: RedisCommand, reply: RedisReply)] {
        precondition(!keys.isEmpty, "\(name) needs at least one key")
        var bySlot: [Int: [Int]] = [:]
        for (index, key) in keys.enumerated() {
            bySlot[RedisClusterSlot.of(key), default: []].append(index)
        }
        typealias Part = (indices: [Int], command: RedisCommand, result: Result<RedisReply, RedisClientError>)
        let parts = await withTaskGroup(of: Part.self) { group in
            for (slot, indices) in bySlot {
                var command = RedisCommand(name)
                for index in indices { command.append(keys[index]) }
                group.addTask {
                    do throws(RedisClientError) {
                        return (
                            indices, command,
                            .success(try await self.execute(command, slot: slot, read: read, deadline: deadline))
                        )
                    } catch {
                        return (indices, command, .failure(error))
                    }
                }
            }
            var all: [Part] = []
            for await part in group { all.append(part) }
            return all
        }
        var replies: [(indices: [Int], command: RedisCommand, reply: RedisReply)] = []
        for part in parts {
            replies.append((part.indices, part.command, try part.result.get()))
        }
        return replies
    }

    private func summed(_ name: String, _ keys: [RedisKey], timeout: Duration?) async throws(RedisClientError) -> Int {
        var total = 0
        for (_, command, reply) in try await perSlot(name, keys, read: false, deadline: deadline(after: timeout)) {
            guard let count = reply.integer else { throw unexpected(reply, for: command) }
            total += Int(count)
        }
        return total
    }

    func remaining(until deadline: UInt64) -> Duration {
        let now = monotonicNanoseconds()
        // A passed deadline still gives the node client a positive timeout: it then fails at once with TIMEOUT.
        return .nanoseconds(Int64(clamping: deadline > now ? deadline - now : 1))
    }
}

extension RedisClientError {
    /// A `MOVED`, `ASK` or `TRYAGAIN` answer.
    var isRedirect: Bool {
        guard let code = serverError?.code else { return false }
        return code == "MOVED" || code == "ASK" || code == "TRYAGAIN"
    }
}

extension Result where Failure == RedisClientError {
    fileprivate var isConnectionFailure: Bool {
        if case .failure(let error) = self { error.isConnectionFailure } else { false }
    }
}
