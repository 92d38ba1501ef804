import CoreMetrics
import HiredisClient
import Logging
import Resilience

extension ResilientCache {
    /// ``ResilientCacheConfiguration/replicationLossWindow`` over shards unless set: 2 s, far beyond the
    /// replication lag of a healthy link, a few moments' writes at most.
    static let clusterReplicationLossWindow: Duration = .seconds(2)

    /// Creates a cache over a backend split into shards (a Redis Cluster: see ``RedisClusterCacheBackend`` and
    /// ``init(cluster:configuration:logger:metricsFactory:)``), with a circuit breaker, an invalidation journal
    /// and a recovery loop per shard.
    ///
    /// A shard that is down degrades only its own keys: reads of them are misses and writes are journaled in its
    /// journal, while keys on the other shards keep hitting. When the shard answers again — restarted, or a
    /// replica promoted in its place — its loop replays its journal there and closes its breaker. Multi-key calls
    /// are split by shard, and pattern invalidations walk every shard (one shard when the pattern's hash tag fixes
    /// it).
    ///
    /// ``ResilientCacheConfiguration/durableJournalDirectory`` is not supported over shards yet: the journals are
    /// kept in memory (an error is logged when it is set).
    public convenience init(
        sharded backend: any ShardedCacheBackend,
        configuration: ResilientCacheConfiguration = ResilientCacheConfiguration(),
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.init(
            sharded: backend,
            configuration: configuration,
            time: .continuous,
            logger: logger,
            metricsFactory: metricsFactory,
            ownedClient: nil
        )
    }

    /// Creates a cache over shards on an injected clock (a manual one in tests).
    package convenience init<C: Clock>(
        sharded backend: any ShardedCacheBackend,
        configuration: ResilientCacheConfiguration = ResilientCacheConfiguration(),
        clock: C,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) where C.Instant == ContinuousClock.Instant {
        self.init(
            sharded: backend,
            configuration: configuration,
            time: TimeSource(clock),
            logger: logger,
            metricsFactory: metricsFactory,
            ownedClient: nil
        )
    }

    convenience init(
        sharded backend: any ShardedCacheBackend,
        configuration: ResilientCacheConfiguration,
        time: TimeSource,
        logger: Logger,
        metricsFactory: any MetricsFactory,
        ownedClient: OwnedClient?
    ) {
        var unitConfiguration = configuration
        if let directory = configuration.durableJournalDirectory {
            logger.error(
                "the durable journal is not supported over a sharded backend yet: journals are kept in memory",
                metadata: ["directory": "\(directory)"]
            )
            unitConfiguration.durableJournalDirectory = nil
        }
        let instruments = CacheInstruments(name: configuration.name, factory: metricsFactory)
        let name = "cache:\(configuration.name)"
        let events = CircuitEventHub()
        let unitSettings = unitConfiguration
        let makeUnit = { @Sendable (label: String, shardBackend: any CacheBackend) -> Recovery in
            Recovery(
                name: "\(name):shard-\(label)",
                shard: label,
                backend: shardBackend,
                configuration: unitSettings,
                time: time,
                logger: logger,
                instruments: instruments.unit(shard: label),
                events: events,
                replicationLossWindow: unitSettings.replicationLossWindow ?? Self.clusterReplicationLossWindow
            )
        }
        let units = RecoveryUnits(
            sharded: backend,
            unassigned: makeUnit(RecoveryUnits.unassignedLabel, backend.unsharded),
            events: events,
            makeUnit: { id in makeUnit(String(id), backend.backend(forShard: id)) }
        )
        self.init(
            units: units,
            configuration: configuration,
            time: time,
            logger: logger,
            instruments: instruments,
            ownedClient: ownedClient
        )
    }
}

extension ResilientCache {
    /// Creates a cache over a Redis Cluster that owns its cluster client: every shard (a primary and its replicas)
    /// gets its own circuit breaker, invalidation journal and recovery loop, and ``run()`` also keeps the cluster's
    /// topology fresh.
    ///
    /// Nothing is contacted here: the cache starts while the cluster is down, and learns the topology at the first
    /// call. A shard that dies degrades only its own keys; when a replica is promoted in its place, the topology
    /// refresh finds it, and the shard's recovery loop replays its journal on the new primary.
    ///
    /// ```swift
    /// let cache = try ResilientCache(
    ///     cluster: RedisClusterConfiguration(url: "redis://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000"),
    ///     configuration: ResilientCacheConfiguration(namespace: "catalog:"),
    ///     logger: logger
    /// )
    /// ```
    ///
    /// - Throws: ``HiredisClient/RedisClientError`` with code `INVALID_CONFIGURATION` for settings the client
    ///   cannot use.
    public convenience init(
        cluster: RedisClusterConfiguration,
        configuration: ResilientCacheConfiguration = ResilientCacheConfiguration(),
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws(RedisClientError) {
        var cluster = cluster
        cluster.node.reconnect.capMaximumDelay(at: configuration.maximumProbeInterval)
        let client = try RedisClusterClient(configuration: cluster, logger: logger, metricsFactory: metricsFactory)
        self.init(
            sharded: RedisClusterCacheBackend(cluster: client),
            configuration: configuration,
            time: .continuous,
            logger: logger,
            metricsFactory: metricsFactory,
            ownedClient: OwnedClient(
                run: { await client.refreshPeriodically() },
                close: { await client.close() }
            )
        )
    }

    /// Creates a cache over the Redis Cluster whose seed nodes are in `url`
    /// (`redis://[user:password@]host1:port1,host2:port2,…`), with the cluster client's defaults otherwise, except
    /// the command timeout: ``defaultCommandTimeout`` (250 ms), as for one server.
    ///
    /// - Throws: ``HiredisClient/RedisClientError`` with code `INVALID_URL` for a URL it cannot use.
    public convenience init(
        clusterURL: String,
        configuration: ResilientCacheConfiguration = ResilientCacheConfiguration(),
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws(RedisClientError) {
        var cluster = try RedisClusterConfiguration(url: clusterURL)
        cluster.node.commandTimeout = Self.defaultCommandTimeout
        cluster.node.tracer = configuration.tracer
        try self.init(cluster: cluster, configuration: configuration, logger: logger, metricsFactory: metricsFactory)
    }
}
