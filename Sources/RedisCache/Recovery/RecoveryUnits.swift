import Resilience
import Synchronization

/// The recovery units of a cache and which one a key belongs to.
///
/// Over one backend there is one ``Recovery``. Over a ``ShardedCacheBackend`` there is one per shard, made when a
/// key first routes to that shard, and one more, `unassigned`, for keys whose shard is not known yet (before the
/// layout is discovered): its journal is replayed wherever the keys live once the backend answers.
///
/// A key's reads are fenced by its shard's journal, by the unassigned unit's (an entry recorded before the layout
/// was known), and by an entry for the key itself in any other shard's journal (recorded before the key moved);
/// see ``fences(_:in:)``.
final class RecoveryUnits: Sendable {
    /// The unit over a single backend.
    private let single: Recovery?
    private let sharded: (any ShardedCacheBackend)?
    /// Over a sharded backend: the unit of keys whose shard is unknown.
    private let unassigned: Recovery?
    private let makeUnit: @Sendable (Int) -> Recovery
    private let state = Mutex(State())
    /// Every unit's transitions, for ``CacheCircuit``'s streams; the units publish to it.
    let events: CircuitEventHub

    /// The shards' units as one immutable list, handed out under the lock without copying.
    private final class UnitList: Sendable {
        let units: [Recovery]
        init(_ units: [Recovery]) { self.units = units }
    }

    private struct State {
        var byShard: [Int: Recovery] = [:] {
            didSet { shardUnits = UnitList(byShard.sorted { $0.key < $1.key }.map(\.value)) }
        }
        var shardUnits = UnitList([])
        /// Told of every unit made from now on: ``ResilientCache/run()``'s, and each circuit event stream's.
        var watchers: [Int: AsyncStream<Recovery>.Continuation] = [:]
        var nextWatcher = 0
        var stopped = false
        /// What ``CacheCircuit`` forced, for units made later too.
        var forcing: Forcing?
    }

    /// A state an operator forced on the cache's circuit.
    enum Forcing: Sendable {
        case open(reason: String?, until: ContinuousClock.Instant?)
        case closed(reason: String?, until: ContinuousClock.Instant?)

        func apply(to breaker: CircuitBreaker) {
            switch self {
            case .open(let reason, let until): breaker.forceOpen(reason: reason, until: until)
            case .closed(let reason, let until): breaker.forceClosed(reason: reason, until: until)
            }
        }
    }

    /// Forces every unit, and each one made later, into `forcing`; `nil` releases them all (a reset).
    func force(_ forcing: Forcing?) {
        let units = state.withLock { state in
            state.forcing = forcing
            return Array(state.byShard.values)
        }
        for unit in [single, unassigned].compactMap({ $0 }) + units {
            if let forcing { forcing.apply(to: unit.breaker) } else { unit.breaker.reset() }
        }
    }

    init(single: Recovery, events: CircuitEventHub) {
        self.events = events
        self.single = single
        self.sharded = nil
        self.unassigned = nil
        self.makeUnit = { _ in single }
    }

    init(
        sharded: any ShardedCacheBackend,
        unassigned: Recovery,
        events: CircuitEventHub,
        makeUnit: @escaping @Sendable (Int) -> Recovery
    ) {
        self.events = events
        self.single = nil
        self.sharded = sharded
        self.unassigned = unassigned
        self.makeUnit = makeUnit
    }

    var isSharded: Bool { sharded != nil }

    /// The `shard` label of the unit of keys whose shard is not known yet.
    static let unassignedLabel = "unassigned"

    /// What the sharded backend says of a unit's shard.
    func describe(_ unit: Recovery) -> String? {
        guard let sharded, let label = unit.shard, let id = Int(label) else { return nil }
        return sharded.describe(shard: id)
    }

    /// The unit of the key named `name` (namespace included).
    @inline(__always)
    func unit(forKey name: String) -> Recovery {
        if let single { return single }
        guard let id = sharded!.shard(forKey: name) else { return unassigned! }
        return unit(forShard: id)
    }

    /// The unit of a shard, made on first use.
    func unit(forShard id: Int) -> Recovery {
        state.withLock { state in
            if let unit = state.byShard[id] { return unit }
            // Shutting down: no new unit (it would miss the final replay); the unassigned one, which has it, serves.
            if state.stopped, let unassigned { return unassigned }
            let unit = makeUnit(id)
            state.forcing?.apply(to: unit.breaker)
            state.byShard[id] = unit
            for watcher in state.watchers.values { watcher.yield(unit) }
            return unit
        }
    }

    /// Whether a read of `name`, whose unit is `unit`, must be a miss: its own shard's journal fences it, the
    /// unassigned unit's too, and so does an entry for the key itself in any other shard's journal — the key may
    /// have moved since (a resharding), and its old shard replays the entry wherever the key lives now. Another
    /// shard's patterns and overflow do not fence it: a shard that is down must not turn the healthy shards' keys
    /// into misses.
    @inline(__always)
    func fences(_ name: String, in unit: Recovery) -> Bool {
        if unit.journal.fences(name) { return true }
        guard let unassigned else { return false }
        if unassigned !== unit && unassigned.journal.fences(name) { return true }
        return othersHold(name, besides: unit)
    }

    private func othersHold(_ name: String, besides unit: Recovery) -> Bool {
        for other in state.withLock({ $0.shardUnits }).units where other !== unit && other.journal.mayHoldEntries {
            if other.journal.holdsKey(name) { return true }
        }
        return false
    }

    /// Whether a write to `name` in `unit` may supersede a journal entry (and so needs its start instant).
    @inline(__always)
    func mayHoldEntries(_ unit: Recovery) -> Bool {
        unit.journal.mayHoldEntries || (unassigned.map { $0 !== unit && $0.journal.mayHoldEntries } ?? false)
    }

    /// Forgets journal entries for `name` recorded before `instant`: a write that reached the backend since.
    func clear(key name: String, recordedBefore instant: ContinuousClock.Instant, in unit: Recovery) {
        unit.journal.clear(key: name, recordedBefore: instant)
        if let unassigned, unassigned !== unit { unassigned.journal.clear(key: name, recordedBefore: instant) }
    }

    /// The units whose shards may hold keys matching `pattern`: every shard's, or just one when the pattern's
    /// hash tag fixes the shard; the unassigned unit while no shard is known.
    func units(forPattern pattern: String) -> [Recovery] {
        if let single { return [single] }
        let backend = sharded!
        if let id = backend.shard(forPattern: pattern) { return [unit(forShard: id)] }
        let shards = backend.shards
        if shards.isEmpty { return [unassigned!] }
        return shards.map(unit(forShard:))
    }

    /// `names`' positions grouped by unit, in the order the units first appear.
    func group(_ names: [String]) -> [(unit: Recovery, positions: [Int])] {
        if let single { return [(single, Array(names.indices))] }
        var groups: [(unit: Recovery, positions: [Int])] = []
        for (position, name) in names.enumerated() {
            let unit = unit(forKey: name)
            if let index = groups.firstIndex(where: { $0.unit === unit }) {
                groups[index].positions.append(position)
            } else {
                groups.append((unit, [position]))
            }
        }
        return groups
    }

    /// Every unit made so far: the single one, or the unassigned one and then each shard's by id.
    var all: [Recovery] {
        if let single { return [single] }
        let shards = state.withLock { $0.byShard.sorted { $0.key < $1.key }.map(\.value) }
        return [unassigned!] + shards
    }

    /// Every unit: those made so far, then each one made later, until ``stopAll()`` (or the consumer stops).
    func watch() -> AsyncStream<Recovery> {
        let (stream, continuation) = AsyncStream<Recovery>.makeStream()
        let registered = state.withLock { state -> (id: Int, existing: [Recovery])? in
            if state.stopped { return nil }
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = continuation
            return (id, state.byShard.sorted { $0.key < $1.key }.map(\.value))
        }
        guard let (id, existing) = registered else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
        }
        for unit in ([single, unassigned].compactMap { $0 } + existing) { continuation.yield(unit) }
        return stream
    }

    /// Stops every unit's loop and breaker, and any unit made from now on.
    func stopAll() {
        let (units, watchers) = state.withLock { state in
            state.stopped = true
            defer { state.watchers = [:] }
            return (Array(state.byShard.values), Array(state.watchers.values))
        }
        // Outside the lock: finishing a stream runs its termination handler, which takes the lock.
        for watcher in watchers { watcher.finish() }
        events.finish()
        for unit in [single, unassigned].compactMap({ $0 }) + units {
            unit.stop()
            unit.breaker.shutdown()
        }
    }
}
