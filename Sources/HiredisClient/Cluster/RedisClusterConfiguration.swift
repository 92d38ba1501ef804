/// How a ``RedisClusterClient`` finds the cluster and talks to its nodes.
///
/// Every node gets a ``RedisClient`` made from ``node``, with the node's address as its endpoint. An invalid value
/// throws ``RedisClientError/Code/invalidConfiguration`` (``RedisClientError/Code/invalidURL`` from
/// ``init(url:)``) from the initializer that is given it, and from ``RedisClusterClient/init(configuration:logger:metricsFactory:)``
/// when it was set on a property afterwards.
///
/// ```swift
/// var configuration = try RedisClusterConfiguration(url: "redis://:secret@10.0.0.1:7000,10.0.0.2:7000")
/// configuration.node.commandTimeout = .milliseconds(250)
/// let cluster = try RedisClusterClient(configuration: configuration, logger: logger)
/// ```
public struct RedisClusterConfiguration: Sendable, CustomStringConvertible {
    /// Nodes asked for the topology when no known node answers, first of all at discovery. TCP only; at least
    /// one. Any node of the cluster will do.
    public var seeds: [RedisClientConfiguration.Endpoint]
    /// The template of every node's client: authentication, timeouts, reconnect, busy polling, tracer. Its
    /// endpoint is ignored and its database must be 0, the only one a cluster has.
    ///
    /// ``RedisClientConfiguration/connectionCount`` defaults to 2 here rather than 4: every connection has an I/O
    /// thread, and a cluster client holds a pool per node, so threads grow with the nodes in use.
    public var node: RedisClientConfiguration
    /// How many `MOVED`, `ASK` and `TRYAGAIN` answers one call follows before it fails with
    /// ``RedisClientError/Code/tooManyRedirects``. Default 5.
    public var maximumRedirects: Int
    /// How often ``RedisClusterClient/run()`` refreshes the topology. Default 30 s.
    public var topologyRefreshInterval: Duration
    /// The least time between two refreshes triggered by failures (`MOVED`, a connection error or timeout),
    /// so a dead node does not make every failing call ask for the topology. Default 100 ms.
    public var minimumRefreshInterval: Duration
    /// Sends `GET` and `MGET` to a replica of the key's shard (one with `READONLY` on its connections) when the
    /// shard has one online, so reads may be slightly stale. Default false: every command goes to primaries.
    public var readFromReplicas: Bool

    /// A configuration with the defaults for everything but the seeds and the credentials.
    ///
    /// - Throws: ``RedisClientError/Code/invalidConfiguration`` when there is no seed, a seed is invalid or not
    ///   TCP, or the credentials are invalid.
    public init(
        seeds: [RedisClientConfiguration.Endpoint],
        authentication: RedisClientConfiguration.Authentication? = nil
    ) throws(RedisClientError) {
        self.init(unchecked: seeds, authentication: authentication)
        try validate()
    }

    private init(
        unchecked seeds: [RedisClientConfiguration.Endpoint], authentication: RedisClientConfiguration.Authentication?
    ) {
        self.seeds = seeds
        // The default endpoint is valid: validation needs no special case for the ignored one.
        var node = try! RedisClientConfiguration()
        node.authentication = authentication
        node.connectionCount = 2
        self.node = node
        self.maximumRedirects = 5
        self.topologyRefreshInterval = .seconds(30)
        self.minimumRefreshInterval = .milliseconds(100)
        self.readFromReplicas = false
    }

    /// Reads `redis://[[user]:password@]host1:port1,host2:port2[,…]`: the seeds and the credentials; `rediss://`
    /// sets ``node``'s ``RedisClientConfiguration/tls`` to the defaults of ``RedisClientConfiguration/TLS``, so
    /// every node is reached over TLS.
    ///
    /// A database path other than `/0` is refused, as a cluster has no other. A malformed URL or an invalid part
    /// throws ``RedisClientError/Code/invalidURL`` with a message that never repeats the password.
    public init(url: String) throws(RedisClientError) {
        func fail(_ why: String) -> RedisClientError {
            RedisClientError(.invalidURL, "invalid Redis Cluster URL: \(why)")
        }
        let scheme: String
        if url.hasPrefix("redis://") {
            scheme = "redis://"
        } else if url.hasPrefix("rediss://") {
            scheme = "rediss://"
        } else {
            throw fail("scheme must be redis:// or rediss:// (a cluster is reached over TCP)")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        var userInfo = ""
        if let at = rest.lastIndex(of: "@") {
            userInfo = String(rest[...at])
            rest = rest[rest.index(after: at)...]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[slash...]
            rest = rest[..<slash]
        }
        guard path.isEmpty || path == "/" || path == "/0" else {
            throw fail("database '\(path.dropFirst())' is not 0 (a cluster has only database 0)")
        }
        var seeds: [RedisClientConfiguration.Endpoint] = []
        var authentication: RedisClientConfiguration.Authentication?
        for (index, hostPort) in rest.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            guard !hostPort.isEmpty else { throw fail("a seed address is empty") }
            // Each seed goes through the single-server parser, which knows ports, IPv6 and credentials.
            let seed: RedisClientConfiguration
            do {
                seed = try RedisClientConfiguration(url: "redis://" + (index == 0 ? userInfo : "") + hostPort)
            } catch {
                throw RedisClientError(
                    .invalidURL,
                    error.message.replacingPrefix("invalid Redis URL", with: "invalid Redis Cluster URL")
                )
            }
            if index == 0 { authentication = seed.authentication }
            seeds.append(seed.endpoint)
        }
        self.init(unchecked: seeds, authentication: authentication)
        if scheme == "rediss://" { node.tls = RedisClientConfiguration.TLS() }
        if let problem {
            throw fail(problem)
        }
    }

    /// Checks every value, the node template's included.
    ///
    /// - Throws: ``RedisClientError/Code/invalidConfiguration`` naming the first invalid value and why.
    public func validate() throws(RedisClientError) {
        if let problem {
            throw RedisClientError(.invalidConfiguration, "invalid Redis Cluster configuration: \(problem)")
        }
    }

    /// What is wrong with the configuration, `nil` when nothing is. Never contains the password.
    var problem: String? {
        if seeds.isEmpty { return "no seed node" }
        for seed in seeds {
            guard case .tcp = seed.base else { return "seed \(seed) is not a TCP address" }
            if let problem = seed.problem { return "seed \(seed): \(problem)" }
        }
        if let problem = node.problem { return problem }
        if node.database != 0 { return "database \(node.database) is not 0 (a cluster has only database 0)" }
        if maximumRedirects < 0 { return "maximumRedirects \(maximumRedirects) is negative" }
        if topologyRefreshInterval <= .zero {
            return "topologyRefreshInterval \(topologyRefreshInterval) is not positive"
        }
        if minimumRefreshInterval < .zero { return "minimumRefreshInterval \(minimumRefreshInterval) is negative" }
        return nil
    }

    /// Describes the configuration without the password.
    public var description: String {
        var text = "RedisClusterConfiguration(seeds: [\(seeds.map(\.description).joined(separator: ", "))]"
        if let authentication = node.authentication { text += ", auth: \(authentication)" }
        if let tls = node.tls { text += ", tls: on (\(tls))" }
        text += ", connectionsPerNode: \(node.connectionCount), connectTimeout: \(node.connectTimeout)"
        text += ", commandTimeout: \(node.commandTimeout), maximumRedirects: \(maximumRedirects)"
        text += ", readFromReplicas: \(readFromReplicas))"
        return text
    }
}

extension String {
    fileprivate func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}
