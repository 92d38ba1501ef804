/// The result of ``ResilientCache/lookup(_:)``: what `get` returns, with the reason when it is a miss.
public enum CacheLookup: Sendable {
    /// The backend had the value.
    case hit([UInt8])
    /// The backend answered and had no value, or the key is fenced by the invalidation journal.
    case miss
    /// The backend could not be asked or did not answer; the error says why (`CIRCUIT_BREAKER_OPEN`,
    /// `CIRCUIT_BREAKER_THROTTLING`, `BACKEND_UNAVAILABLE`, or `CANCELLED` when the calling task was cancelled).
    case degraded(CacheError)

    /// The value of a hit, `nil` otherwise.
    public var value: [UInt8]? {
        if case .hit(let value) = self { value } else { nil }
    }
}

/// What a service puts on its health endpoint. `Codable`, so it can be returned as JSON directly.
public struct CacheHealth: Sendable, Codable, Hashable {
    /// `"ok"` when the circuit is closed and nothing waits in the journal, `"degraded"` otherwise.
    public var status: String
    /// `"closed"`, `"open"` or `"half_open"`.
    public var state: String
    public var degraded: Bool
    /// Failures over calls in the breaker's rolling window, 0…1.
    public var failureRate: Double
    /// Invalidations waiting to be replayed.
    public var journalSize: Int
    /// True while the journal overflowed and the namespace awaits a flush (every read is a miss meanwhile).
    public var journalOverflowed: Bool
    /// The most recent failure the breaker saw, if any.
    public var lastFailure: String?
    /// Seconds since that failure.
    public var lastFailureAgeSeconds: Double?
    /// Seconds in the current state.
    public var secondsInState: Double
    /// Over a cluster, each shard's own health (the figures above sum them up); `nil` over a single backend.
    /// Keys whose shard was not known yet show as shard `"unassigned"` while it has something to report.
    public var shards: [CacheHealth]? = nil
    /// In a shard's entry: its id (the `shard` label of the metrics).
    public var shard: String? = nil
    /// In a shard's entry: its primary's address and its slots, as the cluster reported them.
    public var shardDescription: String? = nil
}
