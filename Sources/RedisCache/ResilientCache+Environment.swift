import CoreMetrics
import HiredisClient
import Logging

extension ResilientCache {
    /// The command timeout of the client a cache creates from a URL or from settings that do not give one: 250 ms.
    ///
    /// A cache sits in front of a database that can answer the request instead. When Redis hangs, every call
    /// in flight, and every call that starts before the circuit opens, waits the whole command timeout: with the
    /// client's general default of 1 s, a request served from the cache in under a millisecond takes a second.
    /// 250 ms is far above a healthy Redis's slowest replies (a few milliseconds at the 99.99th percentile, even
    /// on a loaded 2-core machine) and a quarter of the cost of a hang. The measurements are in the
    /// Configuration article.
    public static let defaultCommandTimeout: Duration = .milliseconds(250)

    /// Creates a cache that owns its client, both configured from environment variables: `REDIS_*` for the
    /// client (``HiredisClient/RedisClientConfiguration/init(environment:prefix:)``) and `CACHE_*` for the cache
    /// (``ResilientCacheConfiguration/init(environment:prefix:)``).
    ///
    /// Without `REDIS_COMMAND_TIMEOUT`, the client's command timeout is ``defaultCommandTimeout``. With
    /// `REDIS_CLUSTER_URL` (`redis://[user:password@]h1:p1,h2:p2,…`) the cache is over that Redis Cluster instead of
    /// `REDIS_URL`'s server, every other `REDIS_*` setting applying to each node (`REDIS_CONNECTIONS` per node, 2
    /// unless set).
    ///
    /// ```swift
    /// // REDIS_URL=redis://cache:6379 CACHE_NAMESPACE=catalog CACHE_NEGATIVE_TTL=10s
    /// let cache = try ResilientCache(environment: ProcessInfo.processInfo.environment, logger: logger)
    /// ```
    ///
    /// - Throws: ``HiredisClient/RedisClientError`` (`INVALID_URL`, `INVALID_CONFIGURATION`) or ``CacheError``
    ///   (`INVALID_CONFIGURATION`), whose message names the variable at fault.
    public convenience init(
        environment: [String: String],
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws {
        try self.init(
            redisSettings: .environment(environment, prefix: "REDIS_"),
            cacheSettings: .environment(environment, prefix: "CACHE_"),
            logger: logger,
            metricsFactory: metricsFactory
        )
    }

    /// Creates a cache from settings: the environment initializer and swift-configuration's.
    package convenience init(
        redisSettings: SettingsSource,
        cacheSettings: SettingsSource,
        logger: Logger,
        metricsFactory: any MetricsFactory
    ) throws {
        let configuration = try ResilientCacheConfiguration(settings: cacheSettings)
        if let cluster = try Self.clusterConfiguration(redisSettings) {
            try self.init(
                cluster: cluster, configuration: configuration, logger: logger, metricsFactory: metricsFactory)
            return
        }
        try self.init(
            redis: try Self.clientConfiguration(redisSettings),
            configuration: configuration,
            logger: logger,
            metricsFactory: metricsFactory
        )
    }

    /// The cluster's configuration when `settings` name a cluster URL: its seeds (and credentials, if it has
    /// any), and every other client setting as each node's.
    private static func clusterConfiguration(_ settings: SettingsSource) throws(RedisClientError)
        -> RedisClusterConfiguration?
    {
        guard let url = settings.text(["cluster", "url"]) else { return nil }
        var cluster: RedisClusterConfiguration
        do {
            cluster = try RedisClusterConfiguration(url: url)
        } catch {
            throw RedisClientError(.invalidURL, "\(settings.name(["cluster", "url"])): \(error.message)")
        }
        var node = try clientConfiguration(settings)
        if settings.text(["connections"]) == nil { node.connectionCount = cluster.node.connectionCount }
        if let authentication = cluster.node.authentication { node.authentication = authentication }
        guard node.database == 0 else {
            throw RedisClientError(
                .invalidConfiguration,
                "\(settings.name(["database"])): a cluster has only database 0, got \(node.database)")
        }
        cluster.node = node
        try cluster.validate()
        return cluster
    }

    /// The client's configuration from `settings`, with ``defaultCommandTimeout`` unless they set one.
    private static func clientConfiguration(_ settings: SettingsSource) throws(RedisClientError)
        -> RedisClientConfiguration
    {
        var redis = try RedisClientConfiguration(settings: settings)
        if settings.text(["command", "timeout"]) == nil { redis.commandTimeout = defaultCommandTimeout }
        return redis
    }
}
