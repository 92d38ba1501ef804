import Histogram
import Synchronization
import _LoadKit

/// What the callers saw during one report interval: how many calls, how long they took, what went wrong.
struct CallWindow: Sendable {
    /// Latency of every call as the service sees it (origin included), in microseconds.
    var latencies: Histogram<UInt64>
    var calls = 0
    /// Errors thrown by the cache that are not the origin's own: each one breaks the product's promise.
    var escapedErrors = 0
    /// Calls whose cache part (the call's time minus the origin's) exceeded the deadline.
    var overruns = 0
    var maxLatency: Duration = .zero
    /// The longest cache part of a call.
    var worstCacheTime: Duration = .zero
    /// Over a cluster, the reads of each shard, by shard id (empty otherwise).
    var shardReads: [ShardReads] = []

    init() {
        // Up to 60 s in µs with 2 significant digits (1 % resolution, plenty for p50/p99 of a live report):
        // about 20 KB per histogram, one per caller.
        latencies = Histogram(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .two)
    }

    mutating func record(latency: Duration, cacheTime: Duration, overran: Bool, escaped: Bool) {
        _ = latencies.record(min(latency.microseconds, 60_000_000))
        calls += 1
        if escaped { escapedErrors += 1 }
        if overran { overruns += 1 }
        maxLatency = max(maxLatency, latency)
        worstCacheTime = max(worstCacheTime, cacheTime)
    }

    /// Counts one `fetch` against the shard that serves its key.
    mutating func recordRead(shard: Int, outcome: ShardReads.Outcome) {
        if shard >= shardReads.count {
            shardReads.append(contentsOf: repeatElement(ShardReads(), count: shard + 1 - shardReads.count))
        }
        shardReads[shard].record(outcome)
    }

    mutating func merge(_ other: CallWindow) {
        latencies.add(other.latencies)
        calls += other.calls
        escapedErrors += other.escapedErrors
        overruns += other.overruns
        maxLatency = max(maxLatency, other.maxLatency)
        worstCacheTime = max(worstCacheTime, other.worstCacheTime)
        for (shard, reads) in other.shardReads.enumerated() where reads.reads > 0 {
            if shard >= shardReads.count {
                shardReads.append(contentsOf: repeatElement(ShardReads(), count: shard + 1 - shardReads.count))
            }
            shardReads[shard].merge(reads)
        }
    }

    mutating func reset() {
        latencies.reset()
        calls = 0
        escapedErrors = 0
        overruns = 0
        maxLatency = .zero
        worstCacheTime = .zero
        shardReads.removeAll(keepingCapacity: true)
    }

    /// The latency at `percentile` (0…100) in µs; 0 without calls.
    func percentile(_ percentile: Double) -> UInt64 {
        calls == 0 ? 0 : latencies.valueAtPercentile(percentile)
    }
}

/// The reads of one shard of a cluster: how many, and how they were answered.
package struct ShardReads: Sendable, Hashable {
    /// How the cache answered a `fetch`.
    package enum Outcome: Sendable {
        /// Redis had the value.
        case hit
        /// Redis answered without it (or the journal fenced the key): the origin ran and the value was stored.
        case miss
        /// The shard was unavailable (breaker open, Redis failed or timed out): the origin ran, nothing stored.
        case degraded
    }

    package var reads = 0
    package var hits = 0
    package var degraded = 0

    package init(reads: Int = 0, hits: Int = 0, degraded: Int = 0) {
        self.reads = reads
        self.hits = hits
        self.degraded = degraded
    }

    /// Hits over reads; `nil` without reads.
    package var hitRate: Double? { reads == 0 ? nil : Double(hits) / Double(reads) }

    mutating func record(_ outcome: Outcome) {
        reads += 1
        switch outcome {
        case .hit: hits += 1
        case .miss: break
        case .degraded: degraded += 1
        }
    }

    mutating func merge(_ other: ShardReads) {
        reads += other.reads
        hits += other.hits
        degraded += other.degraded
    }
}

/// One caller's window. Each caller records into its own, so callers never contend; the reporter takes the
/// lock once per interval to move the figures out.
final class CallRecorder: Sendable {
    private let window = Mutex(CallWindow())

    /// Records one call, and for a read over a cluster its shard and how it was answered.
    func record(
        latency: Duration,
        cacheTime: Duration,
        overran: Bool,
        escaped: Bool,
        read: (shard: Int, outcome: ShardReads.Outcome)? = nil
    ) {
        window.withLock { window in
            window.record(latency: latency, cacheTime: cacheTime, overran: overran, escaped: escaped)
            if let read { window.recordRead(shard: read.shard, outcome: read.outcome) }
        }
    }

    /// Adds this caller's figures to `total` and starts a new window.
    func drain(into total: inout CallWindow) {
        window.withLock { window in
            total.merge(window)
            window.reset()
        }
    }
}
