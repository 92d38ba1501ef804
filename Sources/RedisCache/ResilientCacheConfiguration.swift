import Resilience
import Tracing

/// How a ``ResilientCache`` behaves: its namespace, TTLs, degradation, journal and circuit breaker.
///
/// ```swift
/// var configuration = ResilientCacheConfiguration(namespace: "catalog:")
/// configuration.defaultTTL = .seconds(300)
/// configuration.breaker.openDuration = .seconds(10)
/// ```
public struct ResilientCacheConfiguration: Sendable {
    /// Prefix of every key the cache reads or writes, e.g. `"catalog:"`. Patterns match inside it only.
    ///
    /// The namespace is a whole key segment: one that does not end with `:` gets it appended (`"catalog"` becomes
    /// `"catalog:"`), so that `invalidate(pattern: "*")` in namespace `catalog` can never reach `catalogue:…`
    /// keys. The empty namespace (the whole keyspace) stays empty.
    public var namespace: String {
        didSet { namespace = Self.segment(namespace) }
    }

    /// The cache's name in its metrics (the `cache` dimension of every `cache_*` series) and in its breaker's log
    /// lines, so that two caches in one process keep apart. Default: the namespace without its trailing `:`
    /// (`"catalog:"` is `"catalog"`), or `"default"` for the empty namespace.
    public var name: String {
        get { explicitName ?? Self.defaultName(namespace) }
        set {
            precondition(!newValue.isEmpty, "name must not be empty")
            explicitName = newValue
        }
    }
    private var explicitName: String?

    static func defaultName(_ namespace: String) -> String {
        namespace.isEmpty ? "default" : String(namespace.dropLast(namespace.hasSuffix(":") ? 1 : 0))
    }

    static func segment(_ namespace: String) -> String {
        namespace.isEmpty || namespace.hasSuffix(":") ? namespace : namespace + ":"
    }
    /// TTL of values stored without one. Default 300 s; `nil` stores them without expiry.
    public var defaultTTL: Duration? {
        didSet { precondition(defaultTTL.map { $0 > .zero } ?? true, "defaultTTL must be positive") }
    }
    /// Random spread applied to every TTL, as a fraction: 0.1 stores a 300 s TTL as 270…330 s, so keys written
    /// together do not expire together. Default 0.1; 0 turns it off.
    public var ttlJitter: Double {
        didSet { precondition((0..<1).contains(ttlJitter), "ttlJitter must be in 0..<1, got \(ttlJitter)") }
    }
    /// How long ``ResilientCache/fetchOptional(_:ttl:compute:)`` remembers that `compute` found nothing, so that
    /// a missing item does not reach the database on every request. `nil` (the default) turns it off.
    ///
    /// Keep it short — seconds, not minutes: an item created meanwhile stays "not found" for up to this long
    /// unless the key is written (`set`) or removed (`delete`, `invalidate`), which ends the entry at once.
    /// The same jitter as for values applies.
    public var negativeTTL: Duration? {
        didSet { precondition(negativeTTL.map { $0 > .zero } ?? true, "negativeTTL must be positive") }
    }
    /// When true (the default), availability problems never throw: `get` returns nil, `set` true, `delete` and
    /// `invalidate` 0. When false they throw ``CacheError`` with code `CIRCUIT_BREAKER_OPEN`,
    /// `CIRCUIT_BREAKER_THROTTLING` or `BACKEND_UNAVAILABLE`. Caller errors throw in both modes.
    public var degradeOnFailure: Bool
    /// Largest value `set` accepts, in bytes; larger ones throw ``CacheError/Code/valueTooLarge`` without
    /// touching the backend. Default 4 MiB.
    public var maximumValueSize: Int {
        didSet { precondition(maximumValueSize >= 1, "maximumValueSize must be at least 1") }
    }
    /// Entries the invalidation journal holds before ``journalOverflowPolicy`` applies. Default 10,000.
    public var journalCapacity: Int {
        didSet { precondition(journalCapacity >= 1, "journalCapacity must be at least 1") }
    }
    /// What happens when the journal is full. Default ``JournalOverflowPolicy/flushNamespace``.
    public var journalOverflowPolicy: JournalOverflowPolicy
    /// Keys per `UNLINK` when the journal is replayed. Default 100.
    public var replayBatchSize: Int {
        didSet { precondition(replayBatchSize >= 1, "replayBatchSize must be at least 1") }
    }
    /// While the circuit is open, how often the cache probes the backend (a `PING`) to find out it answers
    /// again; the interval doubles after each failed probe, up to ``maximumProbeInterval``. Default 100 ms.
    ///
    /// The first probe that answers replays the journal and lets calls through (HALF_OPEN) at once, whatever
    /// the breaker's open duration, so after an outage of any length calls reach Redis again within about
    /// ``maximumProbeInterval`` plus a probe of it answering.
    public var probeInterval: Duration {
        didSet { precondition(probeInterval > .zero, "probeInterval must be positive") }
    }
    /// The longest pause between two probes while the circuit is open. Default 250 ms: a dead Redis costs a
    /// handful of `PING`s a second per instance, and another instance's stale window stays well under a second.
    /// A value below ``probeInterval`` means no backoff: every probe waits ``probeInterval``.
    public var maximumProbeInterval: Duration {
        didSet { precondition(maximumProbeInterval > .zero, "maximumProbeInterval must be positive") }
    }
    /// How long one probe (a `PING`) may take before it counts as failed, independently of the backend's command
    /// timeout: a probe sent into a connection that drops it must not hold recovery up. Default 250 ms.
    public var probeTimeout: Duration {
        didSet { precondition(probeTimeout > .zero, "probeTimeout must be positive") }
    }
    /// How long ``ResilientCache/run()`` tries, on its way out, to replay what is still journaled. What is not
    /// replayed by then is logged and counted (`cache_journal_unreplayed_total`). Default 2 s.
    public var shutdownReplayTimeout: Duration {
        didSet { precondition(shutdownReplayTimeout >= .zero, "shutdownReplayTimeout must not be negative") }
    }
    /// How long a write the backend acknowledged is still doubted: when a call fails, the writes acknowledged
    /// within this long before are journaled, and so fenced and replayed on recovery like writes that never
    /// arrived.
    ///
    /// Redis replicates asynchronously. A primary that dies may have acknowledged a `SET` or an `UNLINK` that its
    /// replica never received; when that replica is promoted, it serves the value the write replaced. The writes
    /// acknowledged shortly before the outage are the ones at risk, and removing them on the new primary costs
    /// only misses. `nil` (the default) means 2 s over a Redis Cluster, where failover is part of the design, and
    /// off over a single backend; set it for a single Redis that fails over behind its address (a managed Redis,
    /// Sentinel behind a proxy). At most ``journalCapacity`` writes are remembered; more within the window
    /// fence the whole namespace when a call fails, until it is flushed.
    public var replicationLossWindow: Duration? {
        didSet {
            precondition(
                replicationLossWindow.map { $0 >= .zero } ?? true, "replicationLossWindow must not be negative")
        }
    }
    /// A directory for the durable journal, or `nil` (the default) to keep the journal in memory only.
    ///
    /// With a directory, every journaled invalidation is also appended to a file there (synced to disk in
    /// batches), and a cache that starts finds what a previous process over the same namespace journaled and did
    /// not replay — because it was killed, crashed, or stopped while Redis was still unreachable — fences it and
    /// replays it as soon as Redis answers. Without it, such invalidations are lost with the process, and other
    /// readers can read the old values until they expire. Give each process its own directory (the file is
    /// locked while a cache uses it).
    public var durableJournalDirectory: String?
    /// The circuit breaker's settings.
    ///
    /// The breaker's ``CircuitBreakerConfiguration/classifier`` decides how every backend error counts; its
    /// default asks ``CacheError/circuitBreakerClassification``. An ``CircuitBreakerConfiguration/activeProbe``
    /// set here runs after each `PING` of the cache's probes, as an extra health check; the cache probes on
    /// its own schedule (``probeInterval``), not on ``CircuitBreakerConfiguration/activeProbeInterval``.
    public var breaker: CircuitBreakerConfiguration
    /// Where the cache's spans go (`cache.get`, `cache.set`, … with the result and the circuit's state), or `nil`
    /// for none. The client a cache makes from a URL traces its commands with this tracer too. Default: the
    /// tracer bootstrapped in `InstrumentationSystem` when the configuration is made; with none bootstrapped,
    /// tracing is off and costs a pointer check per call. See <doc:Operations#Tracing>.
    public var tracer: (any Tracer)? = InstrumentationSystem.tracer

    public init(namespace: String = "cache:", breaker: CircuitBreakerConfiguration = CircuitBreakerConfiguration()) {
        self.namespace = Self.segment(namespace)
        self.defaultTTL = .seconds(300)
        self.ttlJitter = 0.1
        self.negativeTTL = nil
        self.degradeOnFailure = true
        self.maximumValueSize = 4 * 1024 * 1024
        self.journalCapacity = 10_000
        self.journalOverflowPolicy = .flushNamespace
        self.replayBatchSize = 100
        self.probeInterval = .milliseconds(100)
        self.maximumProbeInterval = .milliseconds(250)
        self.probeTimeout = .milliseconds(250)
        self.shutdownReplayTimeout = .seconds(2)
        self.breaker = breaker
    }
}
