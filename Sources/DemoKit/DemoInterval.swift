import Resilience
import _LoadKit

/// The figures of one report interval: what the live line shows and `--json` prints.
package struct DemoInterval: Sendable {
    /// The end of the interval, counted from the start of the run.
    package var at: Duration
    /// The interval's length (the last one of an interrupted run is shorter).
    package var length: Duration
    /// Calls completed (fetch, set, delete, invalidate).
    package var calls: Int
    /// Reads that found a value in Redis.
    package var hits: Int
    /// Reads Redis answered without a value, and reads of keys fenced by the invalidation journal.
    package var misses: Int
    /// Operations the cache degraded (circuit open or throttled, Redis failed or timed out).
    package var degraded: Int
    /// Errors the cache let escape to the caller; the promise is that there are none.
    package var escapedErrors: Int
    /// Calls whose cache part exceeded ``DemoConfiguration/callDeadline``.
    package var overruns: Int
    /// Call latency percentiles and maximum as the service sees it (origin included), in µs.
    package var p50Microseconds: UInt64
    package var p99Microseconds: UInt64
    package var maxMicroseconds: UInt64
    /// The longest cache part of a call (origin excluded), in µs: what the deadline is checked against.
    package var worstCacheMicroseconds: UInt64
    /// Times `fetch` ran the origin.
    package var originCalls: Int
    /// The breaker's state at the end of the interval.
    package var state: CircuitBreakerState
    /// Invalidations waiting in the journal for Redis to come back.
    package var journal: Int
    /// The fault in force at the end of the interval (`hang`, `stopped`…), `nil` when none.
    package var fault: String?

    package var callsPerSecond: Double { length > .zero ? Double(calls) / length.seconds : 0 }
    package var originCallsPerSecond: Double { length > .zero ? Double(originCalls) / length.seconds : 0 }

    /// Hits over reads; `nil` without reads.
    package var hitRate: Double? {
        let reads = hits + misses + degradedReads
        return reads == 0 ? nil : Double(hits) / Double(reads)
    }

    /// Reads answered as misses because the cache degraded them; part of ``degraded``.
    package var degradedReads: Int

    /// Over a cluster, each shard's breaker, journal and reads at the end of the interval (`unassigned` while the
    /// cache had keys of no known shard); empty for one server.
    package var shards: [ShardInterval] = []

    /// One JSON object: `t`, `ops_per_sec`, `hits`, `misses`, `degraded`, `escaped_errors`, `p50_us`, `p99_us`,
    /// `max_us`, `origin_calls`, `state`, `journal`, `fault` and a few more; over a cluster, `shards`: an array of
    /// ``ShardInterval/json`` objects.
    package var json: String {
        var object = JSONLine()
        object.add("type", "interval")
        object.add("t", at.seconds, digits: 3)
        object.add("ops", calls)
        object.add("ops_per_sec", callsPerSecond, digits: 1)
        object.add("hits", hits)
        object.add("misses", misses)
        object.add("hit_rate", hitRate ?? .nan, digits: 4)
        object.add("degraded", degraded)
        object.add("escaped_errors", escapedErrors)
        object.add("overruns", overruns)
        object.add("p50_us", p50Microseconds)
        object.add("p99_us", p99Microseconds)
        object.add("max_us", maxMicroseconds)
        object.add("cache_max_us", worstCacheMicroseconds)
        object.add("origin_calls", originCalls)
        object.add("state", state.name)
        object.add("journal", journal)
        object.add("fault", fault)
        if !shards.isEmpty {
            object.addRaw("shards", JSONLine.array(shards.map(\.json)))
        }
        return object.line
    }
}

/// One shard of a cluster during one report interval.
package struct ShardInterval: Sendable, Hashable {
    /// The shard's id as the cache labels it: `"0"`, `"1"`…, or `"unassigned"` for keys of no known shard.
    package var shard: String
    /// Its breaker's state at the end of the interval.
    package var state: CircuitBreakerState
    /// Invalidations waiting in its journal.
    package var journal: Int
    /// The interval's reads of keys this shard serves.
    package var reads: ShardReads

    package init(shard: String, state: CircuitBreakerState, journal: Int, reads: ShardReads = ShardReads()) {
        self.shard = shard
        self.state = state
        self.journal = journal
        self.reads = reads
    }

    /// `{"shard":"1","state":"open","journal":12,"reads":…,"hits":…,"degraded_reads":…,"hit_rate":…}`.
    package var json: String {
        var object = JSONLine()
        object.add("shard", shard)
        object.add("state", state.name)
        object.add("journal", journal)
        object.add("reads", reads.reads)
        object.add("hits", reads.hits)
        object.add("degraded_reads", reads.degraded)
        object.add("hit_rate", reads.hitRate ?? .nan, digits: 4)
        return object.line
    }
}
