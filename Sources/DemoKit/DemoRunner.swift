import HiredisClient
import Logging
import RedisCache
import Resilience
import _LoadKit

/// Runs the demo: starts (or connects to) Redis, puts a ``RedisCache/ResilientCache`` in front of it, drives the
/// workload, injects the faults on schedule, reports every interval, and tears everything down — the server it
/// started included — however the run ends.
///
/// The server comes from `startServer`, so the demo injects faults without linking a process launcher; the
/// `resilient-cache` executable passes the server harness's `RedisTestbed`.
///
/// ```swift
/// var configuration = DemoConfiguration()
/// configuration.duration = .seconds(10)
/// configuration.faults = .standard(for: configuration.duration)
/// let runner = DemoRunner(configuration: configuration, reporter: ConsoleReport()) { proxy in
///     try await RedisTestbed.start(.init(enableDebugCommand: true), proxy: proxy)
/// }
/// print(try await runner.run().passed)
/// ```
///
/// Cancelling the task that runs ``run()`` ends the run early (Ctrl-C): the callers finish their current call,
/// and the result covers what ran, with ``DemoResult/interrupted`` set.
package struct DemoRunner: Sendable {
    package let configuration: DemoConfiguration
    package let reporter: any DemoReporter
    /// Receives the cache's and client's own log lines (one per breaker transition, per connection change).
    package let logger: Logger
    /// Starts the redis-server the demo runs against when ``DemoConfiguration/redisURL`` is not set; the argument
    /// says whether the schedule needs a fault proxy in front of it.
    package let startServer: @Sendable (_ proxy: Bool) async throws -> any FaultTarget
    /// Starts the Redis Cluster the demo runs against with ``DemoConfiguration/cluster``; `nil` when the embedder
    /// has no cluster to offer.
    package let startCluster: (@Sendable (_ configuration: DemoConfiguration) async throws -> StartedCluster)?

    /// - Parameters:
    ///   - configuration: the run; it is validated by ``run()``.
    ///   - reporter: where the live report goes.
    ///   - logger: for the cache and the client; silent by default, the reporter already shows transitions.
    ///   - startCluster: starts the cluster for ``DemoConfiguration/cluster`` (with
    ///     ``DemoConfiguration/clusterShards`` primaries, one replica each, ``DemoConfiguration/clusterNodeTimeout``);
    ///     it must take the shard faults. Not called otherwise.
    ///   - startServer: starts the server the demo injects its faults into (with a fault proxy in front of it
    ///     when its argument is `true`); it needs `DEBUG` enabled for `sleep`. Not called with a `redisURL` or a
    ///     cluster.
    package init(
        configuration: DemoConfiguration,
        reporter: any DemoReporter = SilentReport(),
        logger: Logger = Logger(label: "resilient-cache-demo", factory: { _ in SwiftLogNoOpLogHandler() }),
        startCluster: (@Sendable (_ configuration: DemoConfiguration) async throws -> StartedCluster)? = nil,
        startServer: @escaping @Sendable (_ proxy: Bool) async throws -> any FaultTarget
    ) {
        self.configuration = configuration
        self.reporter = reporter
        self.logger = logger
        self.startCluster = startCluster
        self.startServer = startServer
    }

    /// A Redis Cluster started for the demo: what the faults are applied to, and where the cache connects.
    package struct StartedCluster: Sendable {
        /// Takes the shard faults (`kill-shard 1`…) and the whole-cluster ones; shut down at the end of the run.
        package var target: any FaultTarget
        /// `redis://host1:port1,host2:port2,…`: every node, so the client finds the cluster whichever node is down.
        package var seedURL: String

        package init(target: any FaultTarget, seedURL: String) {
            self.target = target
            self.seedURL = seedURL
        }
    }

    /// A cluster run without a way to start a cluster.
    package struct NoClusterError: Error, CustomStringConvertible {
        package var description: String { "this build of the demo cannot start a Redis Cluster" }
    }

    /// Runs the demo to its end (or until cancelled) and returns what happened.
    ///
    /// - Throws: ``DemoConfiguration/ValidationError`` for a bad configuration, `RedisClientError` for a malformed
    ///   `--redis` or `--redis-cluster` URL, and what ``startServer`` or ``startCluster`` throws when the embedded
    ///   Redis cannot start (whatever it started is shut down first). Nothing that happens to Redis during the
    ///   run throws: that is what the run demonstrates.
    package func run() async throws -> DemoResult {
        try configuration.validate()
        if configuration.isCluster { return try await runOnCluster() }
        var clientConfiguration: RedisClientConfiguration
        var server: (any FaultTarget)?
        let redis: String
        if let url = configuration.redisURL {
            clientConfiguration = try RedisClientConfiguration(url: url)
            redis = "\(clientConfiguration.endpoint) (yours; the demo only touches keys under resilient-cache-demo:)"
        } else {
            let started = try await startServer(configuration.faults.needsProxy)
            server = started
            clientConfiguration = try RedisClientConfiguration(endpoint: .tcp(host: started.host, port: started.port))
            redis = "\(started), started by the demo (stopped at exit)"
        }
        if let tls = configuration.tls { clientConfiguration.tls = tls }
        clientConfiguration.commandTimeout = configuration.commandTimeout
        clientConfiguration.connectTimeout = configuration.commandTimeout
        // The one-object form a service uses: the cache owns its client, and its run() closes it.
        let cache: ResilientCache
        do {
            cache = try ResilientCache(
                redis: clientConfiguration, configuration: configuration.cacheConfiguration, logger: logger)
        } catch {
            await server?.shutdown()
            throw error
        }
        let result = await run(cache: cache, server: server, redis: redis, shardMap: nil)
        await server?.shutdown()
        return result
    }

    /// ``run()`` over a Redis Cluster: the demo's own (started here, shut down however the run ends) or the
    /// user's.
    private func runOnCluster() async throws -> DemoResult {
        var cluster: StartedCluster?
        do {
            var clusterConfiguration: RedisClusterConfiguration
            let redis: String
            if let url = configuration.redisClusterURL {
                clusterConfiguration = try RedisClusterConfiguration(url: url)
                redis =
                    "Redis Cluster with seeds \(clusterConfiguration.seeds.map(\.description).joined(separator: ", ")) "
                    + "(yours; the demo only touches keys under resilient-cache-demo:)"
            } else {
                guard let startCluster else { throw NoClusterError() }
                let started = try await startCluster(configuration)
                cluster = started
                clusterConfiguration = try RedisClusterConfiguration(url: started.seedURL)
                redis = "\(started.target), started by the demo (stopped at exit)"
            }
            clusterConfiguration.node.commandTimeout = configuration.commandTimeout
            clusterConfiguration.node.connectTimeout = configuration.commandTimeout
            let shardMap = await learnShards(clusterConfiguration)
            // The one-object form a service uses: the cache owns its cluster client, and its run() closes it.
            let cache = try ResilientCache(
                cluster: clusterConfiguration, configuration: configuration.cacheConfiguration, logger: logger)
            let result = await run(cache: cache, server: cluster?.target, redis: redis, shardMap: shardMap)
            await cluster?.target.shutdown()
            return result
        } catch {
            await cluster?.target.shutdown()
            throw error
        }
    }

    /// Which shard serves each key, from a short-lived client of the cluster; `nil` when no node answers (the
    /// run then goes on without per-shard read figures).
    private func learnShards(_ configuration: RedisClusterConfiguration) async -> ShardMap? {
        guard let client = try? RedisClusterClient(configuration: configuration, logger: logger) else { return nil }
        let shards: [RedisClusterShard]
        do {
            try await client.refreshTopology()
            shards = client.shards
        } catch {
            logger.warning(
                "the cluster's topology is unknown: reads are not counted per shard",
                metadata: [
                    "error": "\(error)"
                ])
            shards = []
        }
        await client.close()
        return shards.isEmpty ? nil : ShardMap(shards: shards)
    }

    private func run(
        cache: ResilientCache,
        server: (any FaultTarget)?,
        redis: String,
        shardMap: ShardMap?
    ) async -> DemoResult {
        let configuration = self.configuration
        let reporter = self.reporter
        reporter.begin(configuration: configuration, redis: redis)

        let clock = ContinuousClock()
        let epoch = clock.now
        let timeline = BreakerTimeline()
        let shardTimeline = ShardTimeline()
        let following: Task<Void, Never>
        if configuration.isCluster {
            following = Task {
                await shardTimeline.follow({ cache.health() }, epoch: epoch) { reporter.event(.transition($0)) }
            }
        } else {
            let events = cache.circuit.makeEventStream()
            following = Task {
                await timeline.follow(
                    events,
                    epoch: epoch,
                    lastFailure: {
                        cache.circuit.metrics.recentFailures.last.map { failure in
                            failure.kind == .failure ? failure.message : "\(failure.kind): \(failure.message)"
                        }
                    },
                    onTransition: { reporter.event(.transition($0)) }
                )
            }
        }
        let maintaining = Task { await cache.run() }
        let workload = DemoWorkload(cache: cache, configuration: configuration, epoch: epoch, shardMap: shardMap)
        // Unstructured on purpose: cancelling the run must not cancel calls mid-flight (their cancellation
        // would look like errors); the callers stop after their current call instead.
        let working = Task { await workload.run() }
        let injector = server.map { FaultInjector(server: $0, epoch: epoch) }
        let injecting = Task {
            await injector?.play(configuration.faults) { reporter.event(.fault($0)) }
        }

        var sampler = IntervalSampler(cache: cache, start: cache.metrics)
        var intervals: [DemoInterval] = []
        var interrupted = false
        var tick = 1
        var lastTick = Duration.zero
        while true {
            let due = min(configuration.reportInterval * tick, configuration.duration)
            do {
                try await clock.sleep(until: epoch.advanced(by: due), tolerance: .milliseconds(5))
            } catch {
                interrupted = true
                break
            }
            let interval = sampler.sample(
                window: workload.drain(),
                at: due,
                length: due - lastTick,
                fault: injector?.faultInForce
            )
            intervals.append(interval)
            reporter.interval(interval)
            lastTick = due
            tick += 1
            if due >= configuration.duration { break }
        }

        // The run ends now; calls still in flight finish and are counted, but do not lengthen it.
        let elapsed = interrupted ? epoch.duration(to: clock.now) : configuration.duration
        workload.stop()
        await working.value
        injecting.cancel()
        await injecting.value
        if interrupted {
            reporter.event(.note("interrupted after \(DurationText.format(elapsed)): stopping"))
            let length = elapsed - lastTick
            if length >= .milliseconds(100) {
                let interval = sampler.sample(
                    window: workload.drain(),
                    at: elapsed,
                    length: length,
                    fault: injector?.faultInForce
                )
                intervals.append(interval)
                reporter.interval(interval)
            }
        }
        sampler.absorb(workload.drain())
        // A DEBUG SLEEP or CLIENT PAUSE still running ends on its own; an interrupted run does not wait for it.
        if interrupted { injector?.cancelLasting() }
        await injector?.waitForLasting()
        if configuration.redisURL != nil || configuration.redisClusterURL != nil {
            // Leave the user's Redis as it was: remove the demo's keys (journaled if Redis is down right now).
            _ = try? await cache.invalidate(pattern: "*")
        }
        let final = cache.metrics
        // The shards' poller stops with the run; the breaker's event stream ends when the cache's run() does.
        if configuration.isCluster { following.cancel() }
        cache.shutdown()
        await maintaining.value
        await following.value

        let result = DemoResult(
            configuration: configuration,
            redis: redis,
            elapsed: elapsed,
            interrupted: interrupted,
            intervals: intervals,
            transitions: configuration.isCluster ? shardTimeline.recorded.sorted { $0.at < $1.at } : timeline.recorded,
            faults: injector?.events ?? [],
            totals: sampler.totals(final: final),
            incidents: workload.recordedIncidents.map { incident in
                "\(fixed(incident.at.seconds, digits: 2))s \(incident.operation) \(incident.key): \(incident.what)"
            }
        )
        reporter.finish(result)
        return result
    }
}

/// Turns the callers' windows and the cache's counters into ``DemoInterval``s, and keeps the run's totals.
struct IntervalSampler {
    private let cache: ResilientCache
    private let start: CacheMetricsSnapshot
    private var previous: CacheMetricsSnapshot
    private var total = CallWindow()

    init(cache: ResilientCache, start: CacheMetricsSnapshot) {
        self.cache = cache
        self.start = start
        self.previous = start
    }

    mutating func sample(window: CallWindow, at: Duration, length: Duration, fault: String?) -> DemoInterval {
        let metrics = cache.metrics
        defer { previous = metrics }
        total.merge(window)
        let degradedReads = metrics.degraded["get", default: 0] - previous.degraded["get", default: 0]
        return DemoInterval(
            at: at,
            length: length,
            calls: window.calls,
            hits: metrics.hits - previous.hits,
            misses: (metrics.misses + metrics.fencedReads) - (previous.misses + previous.fencedReads),
            degraded: metrics.degradedTotal - previous.degradedTotal,
            escapedErrors: window.escapedErrors,
            overruns: window.overruns,
            p50Microseconds: window.percentile(50),
            p99Microseconds: window.percentile(99),
            maxMicroseconds: window.maxLatency.microseconds,
            worstCacheMicroseconds: window.worstCacheTime.microseconds,
            originCalls: metrics.originCalls - previous.originCalls,
            state: metrics.breaker.state,
            journal: metrics.journalSize,
            fault: fault,
            degradedReads: degradedReads,
            shards: shardIntervals(window)
        )
    }

    /// Over a cluster, each shard's state and journal now, with the window's reads of its keys.
    private func shardIntervals(_ window: CallWindow) -> [ShardInterval] {
        guard let shards = cache.health().shards else { return [] }
        return shards.compactMap { health in
            guard let label = health.shard else { return nil }
            let reads = Int(label).flatMap { window.shardReads.indices.contains($0) ? window.shardReads[$0] : nil }
            return ShardInterval(
                shard: label,
                state: CircuitBreakerState(name: health.state),
                journal: health.journalSize,
                reads: reads ?? ShardReads()
            )
        }
        .sorted { ShardLabel.precedes($0.shard, $1.shard) }
    }

    /// Adds calls that finished after the last interval.
    mutating func absorb(_ window: CallWindow) {
        total.merge(window)
    }

    func totals(final: CacheMetricsSnapshot) -> DemoTotals {
        let byOperation = ["get", "get_many", "set", "delete", "invalidate", "fetch_store"].compactMap {
            operation -> (operation: String, count: Int)? in
            let count = final.degraded[operation, default: 0] - start.degraded[operation, default: 0]
            return count > 0 ? (operation, count) : nil
        }
        return DemoTotals(
            calls: total.calls,
            hits: final.hits - start.hits,
            misses: final.misses + final.fencedReads - start.misses - start.fencedReads,
            fencedReads: final.fencedReads - start.fencedReads,
            hitRate: final.hitRate,
            degraded: final.degradedTotal - start.degradedTotal,
            degradedByOperation: byOperation,
            originCalls: final.originCalls - start.originCalls,
            escapedErrors: total.escapedErrors,
            overruns: total.overruns,
            p50Microseconds: total.percentile(50),
            p99Microseconds: total.percentile(99),
            p999Microseconds: total.percentile(99.9),
            maxMicroseconds: total.maxLatency.microseconds,
            worstCacheMicroseconds: total.worstCacheTime.microseconds,
            journalAtEnd: final.journalSize,
            journalReplays: final.journalReplays - start.journalReplays,
            stateAtEnd: final.breaker.state,
            shardReads: total.shardReads
        )
    }
}
