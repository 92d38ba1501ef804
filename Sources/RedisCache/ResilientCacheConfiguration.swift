import Resilience

/// How a ``ResilientCache`` behaves: its namespace, TTLs, degradation, journal and circuit breaker.
///
/// ```swift
/// var configuration = ResilientCacheConfiguration(namespace: "catalog:")
/// configuration.defaultTTL = .seconds(300)
/// configuration.breaker.openDuration = .seconds(10)
/// ```
public struct ResilientCacheConfiguration: Sendable {
    /// Prefix of every key the cache reads or writes, e.g. `"catalog:"`. Patterns match inside it only.
    public var namespace: String
    /// TTL of values stored without one. Default 300 s; `nil` stores them without expiry.
    public var defaultTTL: Duration? {
        didSet { precondition(defaultTTL.map { $0 > .zero } ?? true, "defaultTTL must be positive") }
    }
    /// Random spread applied to every TTL, as a fraction: 0.1 stores a 300 s TTL as 270…330 s, so keys written
    /// together do not expire together. Default 0.1; 0 turns it off.
    public var ttlJitter: Double {
        didSet { precondition((0..<1).contains(ttlJitter), "ttlJitter must be in 0..<1, got \(ttlJitter)") }
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
    /// The circuit breaker's settings. The cache installs its own ``CircuitBreakerConfiguration/activeProbe``
    /// (a `PING`, then a journal replay) unless one is set here.
    public var breaker: CircuitBreakerConfiguration

    public init(namespace: String = "cache:", breaker: CircuitBreakerConfiguration = CircuitBreakerConfiguration()) {
        self.namespace = namespace
        self.defaultTTL = .seconds(300)
        self.ttlJitter = 0.1
        self.degradeOnFailure = true
        self.maximumValueSize = 4 * 1024 * 1024
        self.journalCapacity = 10_000
        self.journalOverflowPolicy = .flushNamespace
        self.replayBatchSize = 100
        self.breaker = breaker
    }
}
