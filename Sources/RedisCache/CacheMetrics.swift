import CoreMetrics
import Resilience
import Synchronization

/// The cache operations metrics are broken down by.
enum CacheOperation: Int, CaseIterable, Sendable {
    case get, getMany, set, delete, invalidate, fetchStore

    var label: String {
        switch self {
        case .get: "get"
        case .getMany: "get_many"
        case .set: "set"
        case .delete: "delete"
        case .invalidate: "invalidate"
        case .fetchStore: "fetch_store"
        }
    }
}

/// A combined snapshot of the cache's counters, its journal and its breaker.
public struct CacheMetricsSnapshot: Sendable {
    /// Reads that found a value.
    public var hits: Int
    /// Reads the backend answered without a value.
    public var misses: Int
    /// Reads answered as misses because the invalidation journal fences the key.
    public var fencedReads: Int
    /// Hits over all reads (hits, misses, fenced and degraded reads); 0 before the first read.
    public var hitRate: Double
    /// Degraded operations (circuit open, throttled, backend unavailable) by operation: `get`, `get_many`,
    /// `set`, `delete`, `invalidate`, `fetch_store`.
    public var degraded: [String: Int]
    /// All degraded operations.
    public var degradedTotal: Int
    /// Times `fetch` ran its `compute` closure.
    public var originCalls: Int
    /// Invalidations waiting to be replayed.
    public var journalSize: Int
    /// True while the journal overflowed and the namespace awaits a flush.
    public var journalOverflowed: Bool
    /// Times the journal overflowed.
    public var journalOverflows: Int
    /// Entries forgotten under ``JournalOverflowPolicy/dropOldest``.
    public var journalDropped: Int
    /// Completed journal replays.
    public var journalReplays: Int
    /// The breaker's own snapshot: state, failure rate, transitions, recent failures, counts.
    public var breaker: CircuitBreakerMetrics
}

/// Lock-free counters behind ``CacheMetricsSnapshot``.
final class CacheCounters: Sendable {
    private let hits = Atomic<Int>(0)
    private let misses = Atomic<Int>(0)
    private let fenced = Atomic<Int>(0)
    private let originCalls = Atomic<Int>(0)
    private let degradedGet = Atomic<Int>(0)
    private let degradedGetMany = Atomic<Int>(0)
    private let degradedSet = Atomic<Int>(0)
    private let degradedDelete = Atomic<Int>(0)
    private let degradedInvalidate = Atomic<Int>(0)
    private let degradedFetchStore = Atomic<Int>(0)

    func recordHit() { hits.add(1, ordering: .relaxed) }
    func recordMiss() { misses.add(1, ordering: .relaxed) }
    func recordFencedRead() { fenced.add(1, ordering: .relaxed) }
    func recordOriginCall() { originCalls.add(1, ordering: .relaxed) }

    func recordDegraded(_ operation: CacheOperation) {
        switch operation {
        case .get: degradedGet.add(1, ordering: .relaxed)
        case .getMany: degradedGetMany.add(1, ordering: .relaxed)
        case .set: degradedSet.add(1, ordering: .relaxed)
        case .delete: degradedDelete.add(1, ordering: .relaxed)
        case .invalidate: degradedInvalidate.add(1, ordering: .relaxed)
        case .fetchStore: degradedFetchStore.add(1, ordering: .relaxed)
        }
    }

    private func degradedCount(_ operation: CacheOperation) -> Int {
        switch operation {
        case .get: degradedGet.load(ordering: .relaxed)
        case .getMany: degradedGetMany.load(ordering: .relaxed)
        case .set: degradedSet.load(ordering: .relaxed)
        case .delete: degradedDelete.load(ordering: .relaxed)
        case .invalidate: degradedInvalidate.load(ordering: .relaxed)
        case .fetchStore: degradedFetchStore.load(ordering: .relaxed)
        }
    }

    func snapshot(journal: JournalKeeper.Status, breaker: CircuitBreakerMetrics) -> CacheMetricsSnapshot {
        var degraded: [String: Int] = [:]
        for operation in CacheOperation.allCases {
            degraded[operation.label] = degradedCount(operation)
        }
        let hits = hits.load(ordering: .relaxed)
        let misses = misses.load(ordering: .relaxed)
        let fenced = fenced.load(ordering: .relaxed)
        let reads = hits + misses + fenced + degraded["get", default: 0]
        return CacheMetricsSnapshot(
            hits: hits,
            misses: misses,
            fencedReads: fenced,
            hitRate: reads == 0 ? 0 : Double(hits) / Double(reads),
            degraded: degraded,
            degradedTotal: degraded.values.reduce(0, +),
            originCalls: originCalls.load(ordering: .relaxed),
            journalSize: journal.size,
            journalOverflowed: journal.overflowed,
            journalOverflows: journal.overflows,
            journalDropped: journal.dropped,
            journalReplays: journal.replays,
            breaker: breaker
        )
    }
}

/// The swift-metrics instruments of a cache's operations, created once with the injected factory.
///
/// Every series carries the dimension `cache` (``ResilientCacheConfiguration/name``), so two caches in one process
/// never share a series. The circuit and journal series belong to each recovery unit (``UnitInstruments``): over a
/// cluster they carry a `shard` dimension too.
final class CacheInstruments: Sendable {
    let hits: Counter
    let misses: Counter
    private let degradedCounters: [Counter]
    private let durations: [CoreMetrics.Timer]
    private let name: String
    private let factory: any MetricsFactory

    /// Whether the metrics go anywhere. With swift-metrics' no-op factory (the default when nothing was
    /// bootstrapped) the cache skips the two clock reads per call that timing costs, and the failure rate it would
    /// compute for the gauge after each failed call.
    let isEnabled: Bool
    var timesOperations: Bool { isEnabled }

    init(name: String, factory: any MetricsFactory) {
        self.name = name
        self.factory = factory
        isEnabled = !(factory is NOOPMetricsHandler)
        let cache = ("cache", name)
        hits = Counter(label: "cache_hits_total", dimensions: [cache], factory: factory)
        misses = Counter(label: "cache_misses_total", dimensions: [cache], factory: factory)
        degradedCounters = CacheOperation.allCases.map {
            Counter(label: "cache_degraded_total", dimensions: [cache, ("operation", $0.label)], factory: factory)
        }
        // swift-metrics timers are exported in seconds by Prometheus backends; the name says the unit.
        durations = CacheOperation.allCases.map {
            CoreMetrics.Timer(
                label: "cache_operation_duration_seconds",
                dimensions: [cache, ("operation", $0.label)],
                factory: factory
            )
        }
    }

    /// The circuit and journal series of one recovery unit: without a `shard` dimension for a cache over one
    /// backend, with one per shard over a cluster.
    func unit(shard: String?) -> UnitInstruments {
        UnitInstruments(name: name, shard: shard, factory: factory, isEnabled: isEnabled)
    }

    func degraded(_ operation: CacheOperation) {
        degradedCounters[operation.rawValue].increment()
    }

    func record(_ operation: CacheOperation, since start: ContinuousClock.Instant?, time: TimeSource) {
        guard timesOperations, let start else { return }
        durations[operation.rawValue].recordNanoseconds(start.duration(to: time.now).wholeNanoseconds)
    }
}

/// The circuit and journal series of one recovery unit (one backend, or one shard of a cluster).
///
/// Gauges are recorded when what they show changes — the state on each transition, the journal size on each
/// change of the journal, the failure rate on each failed call — and once a second by ``Recovery/run()`` for the
/// failure rate's window sliding by; nobody has to read ``ResilientCache/metrics``.
final class UnitInstruments: Sendable {
    private let journalSize: Gauge
    private let state: Gauge
    private let failureRate: Gauge
    private let stateChanges: Counter
    private let opened: Counter
    private let reopened: Counter
    private let unreplayed: Counter
    private let overflows: Counter
    private let isEnabled: Bool

    init(name: String, shard: String?, factory: any MetricsFactory, isEnabled: Bool) {
        self.isEnabled = isEnabled
        var dimensions = [("cache", name)]
        if let shard { dimensions.append(("shard", shard)) }
        journalSize = Gauge(label: "cache_journal_size", dimensions: dimensions, factory: factory)
        state = Gauge(label: "cache_circuit_breaker_state", dimensions: dimensions, factory: factory)
        failureRate = Gauge(label: "cache_failure_rate", dimensions: dimensions, factory: factory)
        stateChanges = Counter(label: "cache_circuit_state_changes_total", dimensions: dimensions, factory: factory)
        opened = Counter(label: "cache_circuit_opened_total", dimensions: dimensions, factory: factory)
        reopened = Counter(label: "cache_circuit_reopened_total", dimensions: dimensions, factory: factory)
        unreplayed = Counter(label: "cache_journal_unreplayed_total", dimensions: dimensions, factory: factory)
        overflows = Counter(label: "cache_journal_overflows_total", dimensions: dimensions, factory: factory)
    }

    /// `cache_circuit_breaker_state` at creation: 0, closed.
    func startClosed() {
        state.record(CircuitBreakerState.closed.gaugeValue)
    }

    /// One transition: the state gauge (0 closed, 1 half-open, 2 open), `cache_circuit_state_changes_total`, and
    /// the outage counters.
    ///
    /// `cache_circuit_opened_total` counts CLOSED → OPEN on failures: one per outage, however many times the
    /// circuit re-opens before it closes again. `cache_circuit_reopened_total` counts HALF_OPEN → OPEN on a failed
    /// probe (the event's reason stays ``CircuitBreakerTransitionReason/probeFailed`` or its active-probe and
    /// reclaim variants). A forced open is an operator's decision, not an outage: it counts as a state change
    /// only.
    func transition(_ event: CircuitBreakerEvent) {
        state.record(event.to.gaugeValue)
        stateChanges.increment()
        guard event.to == .open, event.reason != .forcedOpen else { return }
        switch event.from {
        case .closed: opened.increment()
        case .halfOpen: reopened.increment()
        case .open: break
        }
    }

    /// `cache_journal_overflows_total`: the journal was full (or too many patterns sat on one read's path) and its
    /// overflow policy applied.
    func countOverflow() {
        overflows.increment()
    }

    /// `cache_journal_unreplayed_total`: entries still journaled when the cache stopped.
    func countUnreplayed(_ entries: Int) {
        unreplayed.increment(by: Int64(entries))
    }

    /// `cache_journal_size`, recorded under the journal's lock so that the last value recorded is the last size.
    func journalSizeChanged(_ size: Int) {
        journalSize.record(size)
    }

    /// `cache_failure_rate`, 0…1; `rate` is computed only when the metrics go somewhere.
    func failureRateChanged(_ rate: @autoclosure () -> Double) {
        guard isEnabled else { return }
        failureRate.record(rate())
    }
}
