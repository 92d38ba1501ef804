/// What to do when the invalidation journal is full.
public struct JournalOverflowPolicy: Sendable, Hashable, CustomStringConvertible {
    enum Base: String, Sendable, Hashable {
        case flushNamespace
        case dropOldest
    }

    let base: Base

    /// Stop recording keys; fence every read in the namespace (all are misses) until Redis answers again, then
    /// remove every key of the namespace with `SCAN` + `UNLINK`. Never serves a stale value. The default.
    public static let flushNamespace = JournalOverflowPolicy(base: .flushNamespace)
    /// Forget the oldest entry to make room. Keeps the rest of the cache warm, but the forgotten key may be read
    /// stale after recovery, for at most its TTL; ``CacheMetricsSnapshot/journalDropped`` counts them.
    public static let dropOldest = JournalOverflowPolicy(base: .dropOldest)

    public var description: String { base.rawValue }
}

/// Invalidations that could not reach the backend, kept until they can be replayed.
///
/// A pure value: the cache holds it under a lock and performs the replay. One entry per key (the newest
/// instant wins) and one per pattern. While an entry exists, reads it covers are misses ("read fencing"):
/// the backend may still hold a value that was deleted or overwritten during the outage.
struct InvalidationJournal<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    struct PatternEntry: Sendable {
        let glob: GlobPattern
        var recorded: Instant
    }

    /// A copy of the entries to replay, and the instant it was taken: entries recorded again after that instant
    /// stay in the journal when the replay is acknowledged.
    struct Replay: Sendable {
        var keys: [String]
        var patterns: [String]
        var flushNamespace: Bool
        let taken: Instant
    }

    let capacity: Int
    let policy: JournalOverflowPolicy
    private(set) var keys: [String: Instant] = [:]
    private(set) var patterns: [String: PatternEntry] = [:]
    /// Set while the namespace must be flushed (``JournalOverflowPolicy/flushNamespace``).
    private(set) var overflowedAt: Instant?
    /// Entries forgotten by ``JournalOverflowPolicy/dropOldest``.
    private(set) var dropped = 0
    /// How many times the journal overflowed.
    private(set) var overflows = 0

    init(capacity: Int, policy: JournalOverflowPolicy) {
        precondition(capacity >= 1, "journal capacity must be at least 1")
        self.capacity = capacity
        self.policy = policy
    }

    var count: Int { keys.count + patterns.count }
    var isEmpty: Bool { keys.isEmpty && patterns.isEmpty && overflowedAt == nil }
    var isOverflowed: Bool { overflowedAt != nil }

    /// Whether a read of `key` must be a miss.
    func fences(_ key: String) -> Bool {
        if overflowedAt != nil || keys[key] != nil { return true }
        for entry in patterns.values where entry.glob.matches(key) { return true }
        return false
    }

    /// Records a key; returns true when this record made the journal overflow.
    mutating func record(key: String, at instant: Instant) -> Bool {
        if overflowedAt != nil { return false }
        if keys[key] != nil {
            keys[key] = instant
            return false
        }
        let overflowed = makeRoom(at: instant)
        if overflowedAt == nil { keys[key] = instant }
        return overflowed
    }

    /// Records a pattern (already qualified with the namespace); returns true when it made the journal overflow.
    mutating func record(pattern: String, at instant: Instant) -> Bool {
        if overflowedAt != nil { return false }
        if patterns[pattern] != nil {
            patterns[pattern]!.recorded = instant
            return false
        }
        let overflowed = makeRoom(at: instant)
        if overflowedAt == nil { patterns[pattern] = PatternEntry(glob: GlobPattern(pattern), recorded: instant) }
        return overflowed
    }

    /// Forgets `key` when its entry is older than `instant`: a write that started after the invalidation was
    /// recorded, and reached the backend, replaced whatever stale value was there.
    mutating func clear(key: String, recordedBefore instant: Instant) {
        if let recorded = keys[key], recorded < instant { keys[key] = nil }
    }

    /// Drops entries older than `longestTTL`: every value written before them has expired by now.
    mutating func dropExpired(now: Instant, longestTTL: Duration) {
        keys = keys.filter { $0.value.duration(to: now) < longestTTL }
        patterns = patterns.filter { $0.value.recorded.duration(to: now) < longestTTL }
        if let overflowedAt, overflowedAt.duration(to: now) >= longestTTL { self.overflowedAt = nil }
    }

    func replay(now: Instant) -> Replay {
        Replay(keys: Array(keys.keys), patterns: Array(patterns.keys), flushNamespace: overflowedAt != nil, taken: now)
    }

    /// Removes what `replay` covered, except entries recorded again since it was taken.
    mutating func acknowledge(_ replay: Replay) {
        for key in replay.keys {
            if let recorded = keys[key], recorded <= replay.taken { keys[key] = nil }
        }
        for pattern in replay.patterns {
            if let entry = patterns[pattern], entry.recorded <= replay.taken { patterns[pattern] = nil }
        }
        if replay.flushNamespace, let overflowedAt, overflowedAt <= replay.taken {
            self.overflowedAt = nil
            // The flush removed every key of the namespace, so every entry recorded before it is covered too.
            keys = keys.filter { $0.value > replay.taken }
            patterns = patterns.filter { $0.value.recorded > replay.taken }
        }
    }

    /// Fences the whole namespace until it is flushed, as an overflow under ``JournalOverflowPolicy/flushNamespace``
    /// does (a previous run's durable journal asked for a flush).
    mutating func forceOverflow(at instant: Instant) {
        overflowedAt = instant
        keys.removeAll()
        patterns.removeAll()
    }

    private mutating func makeRoom(at instant: Instant) -> Bool {
        guard count >= capacity else { return false }
        overflows += 1
        switch policy.base {
        case .flushNamespace:
            overflowedAt = instant
            keys.removeAll()
            patterns.removeAll()
        case .dropOldest:
            if let oldest = keys.min(by: { $0.value < $1.value }) {
                keys[oldest.key] = nil
            } else if let oldest = patterns.min(by: { $0.value.recorded < $1.value.recorded }) {
                patterns[oldest.key] = nil
            }
            dropped += 1
        }
        return true
    }
}
