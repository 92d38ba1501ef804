/// What to do when the invalidation journal is full.
public struct JournalOverflowPolicy: Sendable, Hashable, CustomStringConvertible {
    enum Base: String, Sendable, Hashable {
        case flushNamespace
        case dropOldest
    }

    let base: Base

    /// Stop recording keys; fence every read in the namespace (all are misses) until Redis answers again, then
    /// remove every key of the namespace with `SCAN` + `UNLINK`. Never serves a stale value. The default.
    ///
    /// The journal also overflows, under either policy, when one more pattern would make a read test more than
    /// 32 patterns with a wildcard — patterns are indexed by the literal text before their first wildcard, so
    /// this counts patterns such as `*:profile` that every key of the namespace meets, plus those whose literal
    /// text is a prefix of the key. Here that fences and flushes the namespace as well.
    public static let flushNamespace = JournalOverflowPolicy(base: .flushNamespace)
    /// Forget the oldest entry to make room. Keeps the rest of the cache warm, but the forgotten key may be read
    /// stale after recovery, for at most its TTL; ``CacheMetricsSnapshot/journalDropped`` counts them.
    ///
    /// When a new pattern would make a read test more than 32 patterns with a wildcard (see
    /// ``flushNamespace``), the oldest pattern among those the same reads test is forgotten instead, and counted
    /// the same way: keys it covered may be read stale after recovery, for at most their TTL.
    public static let dropOldest = JournalOverflowPolicy(base: .dropOldest)

    public var description: String { base.rawValue }
}

/// Invalidations that could not reach the backend, kept until they can be replayed.
///
/// A pure value: the cache holds it under a lock and performs the replay. One entry per key (the newest
/// instant wins) and one per pattern. While an entry exists, reads it covers are misses ("read fencing"):
/// the backend may still hold a value that was deleted or overwritten during the outage.
///
/// Keys are a dictionary lookup. Patterns are also kept in ``patternIndex``, an immutable ``PatternIndex``
/// replaced on every change of the patterns (rare: an invalidation that failed, a replay, an expiry), so a
/// reader can take it under the lock and match outside. Each read tests only the patterns whose literal prefix
/// is a prefix of the key, at most ``patternsPerReadLimit`` of them with a wildcard: one more is an overflow,
/// handled by the ``policy``.
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
    /// The most patterns with a wildcard one read may test; see ``PatternIndex/patternsPerRead``.
    let patternsPerReadLimit: Int
    private(set) var keys: [String: Instant] = [:]
    private(set) var patterns: [String: PatternEntry] = [:]
    /// The glob of every entry in ``patterns``, indexed by literal prefix.
    private(set) var patternIndex = PatternIndex.empty
    /// Set while the namespace must be flushed (``JournalOverflowPolicy/flushNamespace``).
    private(set) var overflowedAt: Instant?
    /// Entries forgotten by ``JournalOverflowPolicy/dropOldest``.
    private(set) var dropped = 0
    /// How many times the journal overflowed.
    private(set) var overflows = 0

    init(
        capacity: Int,
        policy: JournalOverflowPolicy,
        patternsPerReadLimit: Int = PatternIndex.defaultPatternsPerReadLimit
    ) {
        precondition(capacity >= 1, "journal capacity must be at least 1")
        precondition(patternsPerReadLimit >= 1, "patternsPerReadLimit must be at least 1")
        self.capacity = capacity
        self.policy = policy
        self.patternsPerReadLimit = patternsPerReadLimit
    }

    var count: Int { keys.count + patterns.count }
    var isEmpty: Bool { keys.isEmpty && patterns.isEmpty && overflowedAt == nil }
    var isOverflowed: Bool { overflowedAt != nil }

    /// Whether a read of `key` must be a miss.
    func fences(_ key: String) -> Bool {
        fencesWithoutPatterns(key) || patternIndex.matches(key)
    }

    /// Whether `key` is journaled itself or the whole namespace is fenced: the part of ``fences(_:)`` that
    /// needs the journal; the rest is ``patternIndex``'s, which can be matched without it.
    func fencesWithoutPatterns(_ key: String) -> Bool {
        overflowedAt != nil || (!keys.isEmpty && keys[key] != nil)
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

    /// Records a pattern (already qualified with the namespace); returns true when it made the journal overflow,
    /// by number or by crowding reads past ``patternsPerReadLimit``.
    mutating func record(pattern: String, at instant: Instant) -> Bool {
        if overflowedAt != nil { return false }
        if patterns[pattern] != nil {
            patterns[pattern]!.recorded = instant
            return false
        }
        let overflowed = makeRoom(at: instant)
        if overflowedAt != nil { return overflowed }
        let glob = GlobPattern(pattern)
        patterns[pattern] = PatternEntry(glob: glob, recorded: instant)
        patternIndex = patternIndex.inserting(glob)
        if patternIndex.patternsPerRead <= patternsPerReadLimit { return overflowed }
        relieveCrowding(around: glob, at: instant)
        return true
    }

    /// Forgets `key` when its entry is older than `instant`: a write that started after the invalidation was
    /// recorded, and reached the backend, replaced whatever stale value was there.
    mutating func clear(key: String, recordedBefore instant: Instant) {
        if let recorded = keys[key], recorded < instant { keys[key] = nil }
    }

    /// Drops entries older than `longestTTL`: every value written before them has expired by now.
    mutating func dropExpired(now: Instant, longestTTL: Duration) {
        keys = keys.filter { $0.value.duration(to: now) < longestTTL }
        forget(patterns: patterns.filter { $0.value.recorded.duration(to: now) >= longestTTL }.map(\.key))
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
        let replayed = replay.patterns.filter { pattern in
            patterns[pattern].map { $0.recorded <= replay.taken } ?? false
        }
        forget(patterns: replayed)
        if replay.flushNamespace, let overflowedAt, overflowedAt <= replay.taken {
            self.overflowedAt = nil
            // The flush removed every key of the namespace, so every entry recorded before it is covered too.
            keys = keys.filter { $0.value > replay.taken }
            forget(patterns: patterns.filter { $0.value.recorded <= replay.taken }.map(\.key))
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
            fenceNamespace(at: instant)
        case .dropOldest:
            if let oldest = keys.min(by: { $0.value < $1.value }) {
                keys[oldest.key] = nil
            } else if let oldest = patterns.min(by: { $0.value.recorded < $1.value.recorded }) {
                forget(patterns: [oldest.key])
            }
            dropped += 1
        }
        return true
    }

    /// `glob`, just recorded, made some read test more than ``patternsPerReadLimit`` patterns: an overflow.
    private mutating func relieveCrowding(around glob: GlobPattern, at instant: Instant) {
        overflows += 1
        switch policy.base {
        case .flushNamespace:
            fenceNamespace(at: instant)
        case .dropOldest:
            // Only reads that meet `glob` can be over the limit: forget the oldest of the patterns they test
            // (never `glob` itself while there is another), until they are back within it.
            while patternIndex.patternsPerRead > patternsPerReadLimit {
                let crowd = patternIndex.crowdedPath(through: glob).map { String(decoding: $0.pattern, as: UTF8.self) }
                let newest = String(decoding: glob.pattern, as: UTF8.self)
                let candidates = crowd.count > 1 ? crowd.filter { $0 != newest } : crowd
                guard let oldest = candidates.min(by: { patterns[$0]!.recorded < patterns[$1]!.recorded }) else {
                    break
                }
                forget(patterns: [oldest])
                dropped += 1
            }
        }
    }

    private mutating func fenceNamespace(at instant: Instant) {
        overflowedAt = instant
        keys.removeAll()
        patterns.removeAll()
        patternIndex = .empty
    }

    /// Removes patterns and keeps ``patternIndex`` in step: one by one when few go, rebuilt when most do.
    private mutating func forget(patterns removed: [String]) {
        var globs: [GlobPattern] = []
        for pattern in removed {
            if let entry = patterns.removeValue(forKey: pattern) { globs.append(entry.glob) }
        }
        if globs.isEmpty { return }
        if patterns.isEmpty {
            patternIndex = .empty
        } else if globs.count > patterns.count {
            patternIndex = PatternIndex(patterns.values.lazy.map(\.glob))
        } else {
            for glob in globs { patternIndex = patternIndex.removing(glob) }
        }
    }
}
