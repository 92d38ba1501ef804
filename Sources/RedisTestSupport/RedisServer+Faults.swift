import _LoadKit

extension RedisServer {
    /// How often `client-kill` cuts the clients' connections while it lasts.
    static let clientKillInterval: Duration = .milliseconds(30)

    /// Applies `fault` to this server, or to `proxy` for the proxy faults, and returns when it has run its course.
    ///
    /// `hang`, `resume`, `stop`, `kill` and `start` are ``hang()``, ``resume()``, ``stop()``, ``kill()`` and
    /// ``restart()``. The faults that end by themselves return when they are over: `sleep N` sends `DEBUG SLEEP`
    /// (the server needs ``Options-swift.struct/enableDebugCommand``) and returns when Redis answers it; `pause N`
    /// sends `CLIENT PAUSE N ALL` and returns when a `PING` is answered; `client-kill N` sends
    /// `CLIENT KILL TYPE normal` every 30 ms for N; `max-clients N` takes the only client slot for N (every other
    /// connection is cut, every new one refused with `-ERR max number of clients reached`). Apply those on a task
    /// of their own to act while they last.
    /// The proxy faults switch the proxy's ``FaultProxy/Mode``.
    ///
    /// ```swift
    /// try await server.apply(.hang)
    /// // ... calls time out ...
    /// try await server.apply(.resume)
    /// try await server.apply(.proxyLatency(.milliseconds(200)), proxy: proxy)
    /// ```
    ///
    /// - Parameters:
    ///   - fault: What to do.
    ///   - proxy: The proxy in front of this server, for the proxy faults.
    /// - Throws: ``RedisTestSupportError`` with code `noProxy` for a proxy fault without a proxy, `notACluster` for
    ///   a shard fault (`kill-shard 0`: see ``RedisCluster/apply(_:)``), or what the
    ///   underlying operation throws (a restart that fails, redis-cli that cannot reach the server).
    public func apply(_ fault: RedisFault, proxy: FaultProxy? = nil) async throws {
        switch fault {
        case .hang:
            hang()
        case .resume:
            resume()
        case .stop:
            await stop()
        case .kill:
            await kill()
        case .start:
            try await restart()
        case .sleep(let length):
            _ = try await cliAsync("DEBUG", "SLEEP", fixed(length.seconds, digits: 3), timeout: length + .seconds(10))
        case .pause(let length):
            let milliseconds = Int((length / .milliseconds(1)).rounded(.up))
            _ = try await cliAsync("CLIENT", "PAUSE", String(milliseconds), "ALL")
            // Commands from every client wait out the pause, a PING included: its answer says the pause is over.
            _ = try await cliAsync("PING", timeout: length + .seconds(10))
        case .clientKill(let length):
            let clock = ContinuousClock()
            let end = clock.now + length
            while clock.now < end {
                // Fails only when nothing is left to kill or the server is gone; the fault goes on either way.
                _ = try? await cliAsync("CLIENT", "KILL", "TYPE", "normal", timeout: .seconds(5))
                try await Task.sleep(for: min(Self.clientKillInterval, end - clock.now))
            }
        case .maxClients(let length):
            try await holdEveryClientSlot(for: length)
        case .proxyLatency(let delay):
            try await Self.require(proxy, for: fault).setMode(.latency(delay))
        case .proxyBlackhole:
            try await Self.require(proxy, for: fault).setMode(.blackhole)
        case .proxyReset:
            try await Self.require(proxy, for: fault).setMode(.resetAll)
        case .proxyRefuse:
            try await Self.require(proxy, for: fault).setMode(.refuse)
        case .proxyClear:
            try await Self.require(proxy, for: fault).setMode(.passThrough)
        case .killShard, .hangShard, .resumeShard, .startShard:
            throw RedisTestSupportError(
                .notACluster,
                "\(fault) acts on a shard of a Redis Cluster (RedisCluster), and this is a single redis-server"
            )
        }
    }

    /// Takes the only client slot for `length`: one connection of the harness's own sets `maxclients` to 1 and
    /// cuts every other client, then restores the limit and leaves.
    private func holdEveryClientSlot(for length: Duration) async throws {
        let holder = try await RawConnection.connect(port: port)
        defer { holder.close() }
        var limit = "10000"
        if case .array(let pair?) = try await holder.command("CONFIG", "GET", "maxclients"),
            let value = pair.last?.string
        {
            limit = value
        }
        _ = try await holder.command("CONFIG", "SET", "maxclients", "1")
        _ = try await holder.command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        try await Task.sleep(for: length)
        _ = try await holder.command("CONFIG", "SET", "maxclients", limit)
    }

    private static func require(
        _ proxy: FaultProxy?,
        for fault: RedisFault
    ) throws(RedisTestSupportError) -> FaultProxy {
        guard let proxy else {
            throw RedisTestSupportError(.noProxy, "\(fault) acts on a FaultProxy, and none is in front of the server")
        }
        return proxy
    }
}
