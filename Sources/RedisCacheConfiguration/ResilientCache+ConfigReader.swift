import Configuration
import CoreMetrics
import HiredisClient
import Logging
import RedisCache

extension RedisClientConfiguration {
    /// Reads the client's configuration from a swift-configuration reader.
    ///
    /// The keys are those of ``HiredisClient/RedisClientConfiguration/init(environment:prefix:)`` in camel case:
    /// `url`, `username`, `password` (both read as secrets, as is `url`), `database`, `connections`,
    /// `connectTimeout`, `commandTimeout`, `keepAlive`, `maximumPendingCommands`, `busyPolling`. Durations are
    /// strings with a unit (`"250ms"`). Scoped to `redis`, an `EnvironmentVariablesProvider` reads them from
    /// `REDIS_URL`, `REDIS_COMMAND_TIMEOUT`…, the same variables as the environment initializer.
    ///
    /// ```swift
    /// let config = ConfigReader(provider: EnvironmentVariablesProvider())
    /// let redis = try RedisClientConfiguration(config: config.scoped(to: "redis"))
    /// ```
    ///
    /// - Throws: ``HiredisClient/RedisClientError`` with code `INVALID_URL` or `INVALID_CONFIGURATION`, naming
    ///   the key at fault.
    public init(config: ConfigReader) throws(RedisClientError) {
        try self.init(settings: .configReader(config, scope: ""))
    }
}

extension ResilientCacheConfiguration {
    /// Reads the cache's configuration from a swift-configuration reader.
    ///
    /// The keys are those of ``RedisCache/ResilientCacheConfiguration/init(environment:prefix:)`` in camel case:
    /// `namespace`, `defaultTTL` as `defaultTtl`, `negativeTtl`, `ttlJitter`, `degradeOnFailure`,
    /// `maximumValueSize`, `journalCapacity`, `replayBatchSize`, `durableJournalDirectory`, `probeInterval`,
    /// `maximumProbeInterval`, `probeTimeout`, `shutdownReplayTimeout`, and the breaker's `failureThreshold`,
    /// `successThreshold`, `openDuration`, `maximumOpenDuration`, `rollingWindow`, `failureRateThreshold`,
    /// `minimumCalls`, `slowCallThreshold`, `recoveryFactor`. Scoped to `cache`, an `EnvironmentVariablesProvider`
    /// reads them from `CACHE_NAMESPACE`, `CACHE_DEFAULT_TTL`…
    ///
    /// - Throws: ``RedisCache/CacheError`` with code `INVALID_CONFIGURATION`, naming the key at fault.
    public init(config: ConfigReader) throws(CacheError) {
        try self.init(settings: .configReader(config, scope: ""))
    }
}

extension ResilientCache {
    /// Creates a cache that owns its client, configured from a swift-configuration reader: the client from the
    /// `redis` scope and the cache from the `cache` scope.
    ///
    /// Without `redis.commandTimeout` the client's command timeout is
    /// ``RedisCache/ResilientCache/defaultCommandTimeout``.
    ///
    /// ```swift
    /// let config = ConfigReader(providers: [EnvironmentVariablesProvider(), try await JSONProvider(filePath: "cache.json")])
    /// let cache = try ResilientCache(config: config, logger: logger)
    /// ```
    ///
    /// - Throws: ``HiredisClient/RedisClientError`` or ``RedisCache/CacheError`` naming the key at fault.
    public convenience init(
        config: ConfigReader,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws {
        try self.init(
            redisSettings: .configReader(config.scoped(to: "redis"), scope: "redis"),
            cacheSettings: .configReader(config.scoped(to: "cache"), scope: "cache"),
            logger: logger,
            metricsFactory: metricsFactory
        )
    }
}
