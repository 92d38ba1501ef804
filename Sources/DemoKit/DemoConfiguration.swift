import HiredisClient
import RedisCache
import Resilience
import _LoadKit

/// Everything a demo run needs: the load, the simulated origin, the cache's deadlines, the Redis (one server or a
/// cluster) and the faults.
///
/// ```swift
/// var configuration = DemoConfiguration()
/// configuration.duration = .seconds(10)
/// configuration.faults = try FaultSchedule(parsing: "2s:hang,5s:resume")
/// let result = try await DemoRunner(configuration: configuration).run()
/// ```
package struct DemoConfiguration: Sendable {
    /// Concurrent callers, each issuing one cache call after another. Default 50.
    package var concurrency: Int
    /// How long the workload runs. Default 30 s.
    package var duration: Duration
    /// Distinct keys the callers draw from (Zipf-skewed: a few keys are hot). Default 1,000.
    package var keys: Int
    /// How long the simulated "expensive query" behind the cache takes. Default 20 ms.
    package var originLatency: Duration
    /// The Redis client's deadline for every command (connecting included). Default 100 ms.
    package var commandTimeout: Duration
    /// How long the breaker stays OPEN before it probes Redis again. Default 2 s.
    package var openDuration: Duration
    /// What a cache call may take beyond ``commandTimeout`` before it counts as an overrun: scheduling on a busy
    /// machine, the client's deadline watchdog, the cache's own work. Default 100 ms.
    package var deadlineMargin: Duration
    /// How often a live line (or JSON object) is reported. Default 1 s.
    package var reportInterval: Duration
    /// A Redis to use instead of starting one (`redis://…`, `unix://…`); then no faults are injected.
    package var redisURL: String?
    /// Run against a Redis Cluster the demo starts itself (``clusterShards`` primaries with one replica each,
    /// ``clusterNodeTimeout``) instead of one redis-server: the cache gets a breaker, a journal and a recovery loop
    /// per shard, and the schedule may kill or hang a shard's primary.
    package var cluster: Bool
    /// A Redis Cluster to use instead of starting one (`redis://host1:port1,host2:port2,…`); then no faults are
    /// injected.
    package var redisClusterURL: String?
    /// How many shards (primaries) the demo's own cluster has, each with one replica. 3, the fewest
    /// `redis-cli --cluster create` accepts.
    package var clusterShards: Int
    /// The `cluster-node-timeout` of the demo's own cluster: a primary unreachable for longer is failed over
    /// (its replica promoted, about two to three times this after the fault). Default 1 s.
    package var clusterNodeTimeout: Duration
    /// The faults injected into the embedded server or cluster; must be empty with ``redisURL`` or
    /// ``redisClusterURL``.
    package var faults: FaultSchedule
    /// The client's TLS settings: for a `rediss://` ``redisURL`` (over the URL's defaults), or for an embedded
    /// server started with TLS. `nil` keeps what the URL says.
    package var tls: RedisClientConfiguration.TLS?
    /// TTL of the values the workload stores. Default 60 s.
    package var valueTTL: Duration
    /// The share of each kind of call.
    package var mix: OperationMix

    /// The defaults of `resilient-cache demo`, with ``FaultSchedule/standard(for:)`` as the schedule.
    package init() {
        concurrency = 50
        duration = .seconds(30)
        keys = 1000
        originLatency = .milliseconds(20)
        commandTimeout = .milliseconds(100)
        openDuration = .seconds(2)
        deadlineMargin = .milliseconds(100)
        reportInterval = .seconds(1)
        redisURL = nil
        cluster = false
        redisClusterURL = nil
        clusterShards = 3
        clusterNodeTimeout = .seconds(1)
        faults = .standard(for: .seconds(30))
        tls = nil
        valueTTL = .seconds(60)
        mix = OperationMix()
    }

    /// Whether the run is against a Redis Cluster: the demo's own (``cluster``) or a user's (``redisClusterURL``).
    package var isCluster: Bool { cluster || redisClusterURL != nil }

    /// The longest a cache call may take, origin time excluded: ``commandTimeout`` + ``deadlineMargin``.
    package var callDeadline: Duration { commandTimeout + deadlineMargin }

    /// A configuration value out of its range.
    package struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
        package let message: String
        package var description: String { message }
    }

    /// Checks every value, and that the fault schedule fits the run and the server it needs.
    package func validate() throws(ValidationError) {
        func check(_ condition: Bool, _ message: @autoclosure () -> String) throws(ValidationError) {
            if !condition { throw ValidationError(message: message()) }
        }
        try check(concurrency >= 1 && concurrency <= 2000, "--concurrency must be in 1...2000, got \(concurrency)")
        try check(duration >= .seconds(1), "--duration must be at least 1s, got \(DurationText.format(duration))")
        try check(keys >= 1 && keys <= 10_000_000, "--keys must be in 1...10000000, got \(keys)")
        try check(originLatency >= .zero, "--origin-latency must not be negative")
        try check(commandTimeout >= .milliseconds(1), "--command-timeout must be at least 1ms")
        try check(openDuration >= .milliseconds(10), "--open-duration must be at least 10ms")
        try check(deadlineMargin >= .zero, "--deadline-margin must not be negative")
        try check(reportInterval >= .milliseconds(100), "the report interval must be at least 100ms")
        let targets = [redisURL != nil, cluster, redisClusterURL != nil].filter { $0 }.count
        try check(targets <= 1, "--redis, --cluster and --redis-cluster exclude one another: give at most one")
        try check(clusterShards >= 3, "a cluster needs at least 3 shards, got \(clusterShards)")
        try check(clusterNodeTimeout >= .milliseconds(100), "the cluster node timeout must be at least 100ms")
        if redisClusterURL != nil {
            try check(
                faults.entries.isEmpty,
                "--faults needs the cluster the demo starts itself (--cluster); with --redis-cluster, inject faults "
                    + "by hand (e.g. docker compose stop redis-node-1, then docker compose start redis-node-1)"
            )
        }
        if let redisURL, tls != nil {
            try check(redisURL.hasPrefix("rediss://"), "--tls-ca, --tls-cert and --tls-key need a rediss:// URL")
        }
        if redisURL != nil {
            try check(
                faults.entries.isEmpty,
                "--faults needs the server the demo starts itself; with --redis, inject faults by hand "
                    + "(e.g. docker compose stop redis, then docker compose start redis)"
            )
        }
        do {
            try faults.validate(duration: duration, shards: isCluster ? clusterShards : nil)
        } catch {
            throw ValidationError(message: "--faults: \(error.message)")
        }
    }

    /// The cache's settings for the demo: its own namespace, the value TTL, and a breaker that opens after 5
    /// consecutive failures and stays open at most ``openDuration``. The cache's recovery loop probes Redis every
    /// 100–250 ms meanwhile (the defaults), so it closes as soon as Redis answers, usually long before.
    package var cacheConfiguration: ResilientCacheConfiguration {
        let breaker = CircuitBreakerConfiguration(
            failureThreshold: 5,
            successThreshold: 3,
            openDuration: openDuration,
            openBackoff: .init(multiplier: 1, maxOpenDuration: openDuration)
        )
        var configuration = ResilientCacheConfiguration(namespace: "resilient-cache-demo:", breaker: breaker)
        configuration.defaultTTL = valueTTL
        return configuration
    }
}

/// The share of each kind of call in the workload; the rest of the calls are reads through `fetch`.
package struct OperationMix: Sendable, Hashable {
    /// `set` of a fresh value. Default 0.03.
    package var set: Double
    /// `delete` of one key. Default 0.02.
    package var delete: Double
    /// `invalidate(pattern:)` of ten keys (`item:12?`); a `SCAN` of the namespace each. Default 0.0005.
    package var invalidate: Double

    package init(set: Double = 0.03, delete: Double = 0.02, invalidate: Double = 0.0005) {
        precondition(set >= 0 && delete >= 0 && invalidate >= 0, "shares must not be negative")
        precondition(set + delete + invalidate <= 1, "the shares of set, delete and invalidate exceed 1")
        self.set = set
        self.delete = delete
        self.invalidate = invalidate
    }
}
