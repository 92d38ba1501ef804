import RedisCache
import Synchronization
import _LoadKit

/// The service the demo pretends to be: ``DemoConfiguration/concurrency`` callers reading through the cache
/// with `fetch` (a slow origin behind it) on Zipf-skewed keys, with a few `set`, `delete` and
/// `invalidate(pattern:)` calls on uniformly drawn keys mixed in.
///
/// Every call is timed. The cache's part of a call (its time minus the time the origin ran for that key meanwhile)
/// must stay within ``DemoConfiguration/callDeadline``; anything the cache throws is an escaped error. Both break
/// the product's promise, and both are counted.
///
/// ```swift
/// let workload = DemoWorkload(cache: cache, configuration: configuration)
/// let running = Task { await workload.run() }
/// // ... every interval: let window = workload.drain()
/// workload.stop()
/// await running.value
/// ```
final class DemoWorkload: Sendable {
    enum Operation: Sendable {
        case fetch, set, delete, invalidate
    }

    /// A call that broke the promise, kept for the summary.
    struct Incident: Sendable {
        var at: Duration
        var operation: Operation
        var key: String
        var what: String
    }

    private let cache: ResilientCache
    private let configuration: DemoConfiguration
    private let distribution: KeyDistribution
    let origin: SimulatedOrigin
    private let recorders: [CallRecorder]
    private let callers: CallerLoop
    private let incidents = Mutex<[Incident]>([])
    private let clock = ContinuousClock()
    private let epoch: ContinuousClock.Instant
    /// Over a cluster, which shard serves each key, to count reads per shard; `nil` otherwise.
    private let shardMap: ShardMap?
    /// The cache's key prefix: the shard of a key is the shard of its stored name.
    private let namespace: String

    /// Fetches slower than this have the origin's time taken out of their cache part.
    private static let originCheckThreshold: Duration = .milliseconds(1)

    /// Incidents kept for the summary; the counts go on past it.
    private static let incidentCapacity = 20

    /// - Parameter shardMap: over a cluster, which shard serves each key; each read is then counted against it.
    init(
        cache: ResilientCache,
        configuration: DemoConfiguration,
        epoch: ContinuousClock.Instant,
        shardMap: ShardMap? = nil
    ) {
        self.cache = cache
        self.configuration = configuration
        self.distribution = KeyDistribution(keys: configuration.keys)
        self.origin = SimulatedOrigin(latency: configuration.originLatency)
        self.recorders = (0..<configuration.concurrency).map { _ in CallRecorder() }
        self.callers = CallerLoop(callers: configuration.concurrency)
        self.epoch = epoch
        self.shardMap = shardMap
        self.namespace = configuration.cacheConfiguration.namespace
    }

    /// Runs the callers until ``stop()``; each finishes the call it is in, nothing is cancelled mid-call.
    func run() async {
        _ = await callers.run(state: { Caller(index: $0, recorder: self.recorders[$0]) }) { caller in
            await self.call(&caller)
        }
    }

    /// Asks every caller to stop after its current call.
    func stop() {
        callers.stop()
    }

    /// The figures of every caller since the last drain.
    func drain() -> CallWindow {
        var total = CallWindow()
        for recorder in recorders { recorder.drain(into: &total) }
        return total
    }

    /// The calls that broke the promise (the first few).
    var recordedIncidents: [Incident] { incidents.withLock { $0 } }

    static func keyName(_ index: Int) -> String { "item:\(index)" }

    /// One caller's own state: its seeded generator and its recorder.
    private struct Caller: Sendable {
        var generator: SplitMix64
        let recorder: CallRecorder

        init(index: Int, recorder: CallRecorder) {
            self.generator = SplitMix64(seed: UInt64(index + 1) &* 0x2545_F491_4F6C_DD1D)
            self.recorder = recorder
        }
    }

    /// One call, timed and checked against the promise.
    private func call(_ caller: inout Caller) async {
        let recorder = caller.recorder
        let deadline = configuration.callDeadline
        let ttl = configuration.valueTTL
        let origin = self.origin
        let operation = pick(&caller.generator)
        // Reads are skewed (a few hot keys), writes land anywhere: a service's hot keys are read far more
        // often than they change.
        let index =
            operation == .fetch
            ? distribution.sample(&caller.generator) : Int.random(in: 0..<configuration.keys, using: &caller.generator)
        let key = Self.keyName(index)
        let started = clock.now
        var escaped: (any Error)?
        var source: FetchSource?
        do {
            switch operation {
            case .fetch:
                source = try await cache.fetchWithSource(key, ttl: ttl) { try await origin.load(index) }.source
            case .set:
                try await cache.set(key, origin.value(for: index), ttl: ttl)
            case .delete:
                try await cache.delete(key)
            case .invalidate:
                // A block of ten keys: `item:12?` is item:120…129, `item:?` item:0…9.
                try await cache.invalidate(pattern: index < 10 ? "item:?" : "item:\(index / 10)?")
            }
        } catch is OriginError {
            // The origin's own failure, passed on by fetch as documented: not the cache's doing.
        } catch {
            escaped = error
        }
        let ended = clock.now
        let latency = started.duration(to: ended)
        var cacheTime = latency
        if operation == .fetch, latency > Self.originCheckThreshold {
            // Time spent waiting for the origin is the service's own. Hits (well under a millisecond unless
            // the machine is busy) skip the look-up.
            cacheTime = latency - origin.ledger.overlap(key: index, from: started, to: ended)
        }
        let overran = cacheTime > deadline
        var read: (shard: Int, outcome: ShardReads.Outcome)?
        if let source, let shard = shardMap?.shard(forKey: namespace + key) {
            read = (shard, source == .hit ? .hit : source == .computedWhileDegraded ? .degraded : .miss)
        }
        recorder.record(
            latency: latency, cacheTime: cacheTime, overran: overran, escaped: escaped != nil, read: read)
        if let escaped {
            note(Incident(at: epoch.duration(to: ended), operation: operation, key: key, what: "threw \(escaped)"))
        }
        if overran {
            note(
                Incident(
                    at: epoch.duration(to: ended),
                    operation: operation,
                    key: key,
                    what:
                        "cache part took \(DurationText.format(cacheTime)) > deadline \(DurationText.format(deadline))"
                )
            )
        }
    }

    private func pick(_ generator: inout SplitMix64) -> Operation {
        let mix = configuration.mix
        let u = Double.random(in: 0..<1, using: &generator)
        if u < mix.set { return .set }
        if u < mix.set + mix.delete { return .delete }
        if u < mix.set + mix.delete + mix.invalidate { return .invalidate }
        return .fetch
    }

    private func note(_ incident: Incident) {
        incidents.withLock { incidents in
            if incidents.count < Self.incidentCapacity { incidents.append(incident) }
        }
    }
}

extension DemoWorkload.Operation: CustomStringConvertible {
    var description: String {
        switch self {
        case .fetch: "fetch"
        case .set: "set"
        case .delete: "delete"
        case .invalidate: "invalidate"
        }
    }
}
