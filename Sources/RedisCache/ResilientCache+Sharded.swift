import CoreMetrics
import Logging
import Resilience

extension ResilientCache {
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
            closeOwnedClient: nil
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
            closeOwnedClient: nil
        )
    }

    convenience init(
        sharded backend: any ShardedCacheBackend,
        configuration: ResilientCacheConfiguration,
        time: TimeSource,
        logger: Logger,
        metricsFactory: any MetricsFactory,
        closeOwnedClient: (@Sendable () async -> Void)?
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
        let unitSettings = unitConfiguration
        let makeUnit = { @Sendable (label: String, shardBackend: any CacheBackend) -> Recovery in
            Recovery(
                name: "\(name):shard-\(label)",
                shard: label,
                backend: shardBackend,
                configuration: unitSettings,
                time: time,
                logger: logger,
                instruments: instruments.unit(shard: label)
            )
        }
        let units = RecoveryUnits(
            sharded: backend,
            unassigned: makeUnit(RecoveryUnits.unassignedLabel, backend.unsharded),
            makeUnit: { id in makeUnit(String(id), backend.backend(forShard: id)) }
        )
        self.init(
            units: units,
            configuration: configuration,
            time: time,
            logger: logger,
            instruments: instruments,
            closeOwnedClient: closeOwnedClient
        )
    }
}
