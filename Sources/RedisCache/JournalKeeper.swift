import Logging
import Resilience
import Synchronization

/// Holds the ``InvalidationJournal`` under a lock and replays it against the backend.
///
/// Reads check ``fences(_:)`` on every call, so the empty case — the normal one — costs one atomic load.
final class JournalKeeper<C: Clock>: Sendable where C.Duration == Duration {
    struct Status: Sendable {
        var size: Int
        var overflowed: Bool
        var overflows: Int
        var dropped: Int
        var replays: Int
        var isEmpty: Bool { size == 0 && !overflowed }
    }

    private struct WeakBreaker: @unchecked Sendable {
        // @unchecked: only read and written inside the Mutex below; CircuitBreaker itself is Sendable.
        weak var breaker: CircuitBreaker<C>?
    }

    private let journal: Mutex<InvalidationJournal<C.Instant>>
    /// Entries plus one while overflowed; zero means nothing is fenced.
    private let size = Atomic<Int>(0)
    private let replayScheduled = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let replays = Atomic<Int>(0)
    /// The longest TTL written through the cache, in nanoseconds; `Int64.max` once any value was written
    /// without expiry (its journal entries must then never be dropped).
    private let longestTTL: Atomic<Int64>
    private let breaker = Mutex(WeakBreaker())
    private let backend: any CacheBackend
    private let clock: C
    private let logger: Logger
    private let flushPattern: String
    private let batchSize: Int

    init(configuration: ResilientCacheConfiguration, backend: any CacheBackend, clock: C, logger: Logger) {
        self.journal = Mutex(
            InvalidationJournal(capacity: configuration.journalCapacity, policy: configuration.journalOverflowPolicy)
        )
        self.backend = backend
        self.clock = clock
        self.logger = logger
        self.flushPattern = GlobPattern.escape(configuration.namespace) + "*"
        self.batchSize = configuration.replayBatchSize
        self.longestTTL = Atomic(configuration.defaultTTL.map(Self.nanoseconds) ?? .max)
    }

    func attach(breaker: CircuitBreaker<C>) {
        self.breaker.withLock { $0.breaker = breaker }
    }

    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    func stop() { stopped.store(true, ordering: .relaxed) }

    var status: Status {
        journal.withLock { journal in
            Status(
                size: journal.count,
                overflowed: journal.isOverflowed,
                overflows: journal.overflows,
                dropped: journal.dropped,
                replays: replays.load(ordering: .relaxed)
            )
        }
    }

    /// False only when nothing is journaled; one atomic load.
    var mayHoldEntries: Bool { size.load(ordering: .acquiring) != 0 }

    /// Whether a read of `key` must be a miss. The lock covers a dictionary lookup and taking the journal's
    /// pattern index, an immutable snapshot; the patterns are matched after the lock is released.
    func fences(_ key: String) -> Bool {
        if size.load(ordering: .acquiring) == 0 { return false }
        let patterns: PatternIndex? = journal.withLock { journal in
            if journal.fencesWithoutPatterns(key) { return nil }
            return journal.patternIndex
        }
        guard let patterns else { return true }
        return patterns.matches(key)
    }

    func record(key: String) {
        record { $0.record(key: key, at: $1) }
    }

    func record(pattern: String) {
        record { $0.record(pattern: pattern, at: $1) }
    }

    private func record(_ entry: (inout InvalidationJournal<C.Instant>, C.Instant) -> Bool) {
        let now = clock.now
        let overflowed = journal.withLock { journal in
            let overflowed = entry(&journal, now)
            publishSize(journal)
            return overflowed
        }
        if overflowed { logOverflow() }
    }

    func clear(key: String, recordedBefore instant: C.Instant) {
        if size.load(ordering: .acquiring) == 0 { return }
        journal.withLock { journal in
            journal.clear(key: key, recordedBefore: instant)
            publishSize(journal)
        }
    }

    func noteTTL(_ ttl: Duration?) {
        let nanoseconds = ttl.map(Self.nanoseconds) ?? .max
        var current = longestTTL.load(ordering: .relaxed)
        while nanoseconds > current {
            let (exchanged, original) = longestTTL.compareExchange(
                expected: current,
                desired: nanoseconds,
                ordering: .relaxed
            )
            if exchanged { break }
            current = original
        }
    }

    /// Drops entries older than the longest TTL in use: whatever they fenced has expired.
    func expireOldEntries() {
        let longest = longestTTL.load(ordering: .relaxed)
        if longest == .max || size.load(ordering: .relaxed) == 0 { return }
        let now = clock.now
        journal.withLock { journal in
            journal.dropExpired(now: now, longestTTL: .nanoseconds(longest))
            publishSize(journal)
        }
    }

    /// After a successful backend call: replay in the background if anything waits in the journal.
    func replaySoonIfNeeded() {
        if size.load(ordering: .relaxed) == 0 { return }
        guard replayScheduled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        let breaker = self.breaker.withLock { $0.breaker }
        Task {
            defer { self.replayScheduled.store(false, ordering: .releasing) }
            try? await self.replay(through: breaker)
        }
    }

    /// Sends every journaled invalidation to the backend, and forgets the entries once all went through.
    ///
    /// - Parameter breaker: the breaker each call must pass, or `nil` when the caller already holds a permit
    ///   (the breaker's active probe).
    func replay(through breaker: CircuitBreaker<C>?) async throws(CacheError) {
        let replay = journal.withLock { $0.replay(now: clock.now) }
        if replay.keys.isEmpty && replay.patterns.isEmpty && !replay.flushNamespace { return }
        if replay.flushNamespace {
            try await call(breaker) { [backend, flushPattern] () async throws(CacheError) in
                _ = try await backend.invalidate(pattern: flushPattern)
            }
            acknowledge(Replay(keys: [], patterns: [], flushNamespace: true, taken: replay.taken))
        }
        // Keys in batches, each batch unfenced as soon as it went through, so reads recover progressively.
        var start = 0
        while start < replay.keys.count {
            let batch = Array(replay.keys[start..<min(start + batchSize, replay.keys.count)])
            try await call(breaker) { [backend] () async throws(CacheError) in _ = try await backend.delete(batch) }
            acknowledge(Replay(keys: batch, patterns: [], flushNamespace: false, taken: replay.taken))
            start += batchSize
        }
        // All patterns in one walk of the namespace.
        if !replay.patterns.isEmpty {
            try await call(breaker) { [backend, flushPattern] () async throws(CacheError) in
                _ = try await backend.invalidate(matchingAnyOf: replay.patterns, within: flushPattern)
            }
        }
        acknowledge(replay)
        replays.add(1, ordering: .relaxed)
        logger.notice(
            "invalidation journal replayed",
            metadata: [
                "keys": "\(replay.keys.count)", "patterns": "\(replay.patterns.count)",
                "namespace_flushed": "\(replay.flushNamespace)",
            ]
        )
    }

    private typealias Replay = InvalidationJournal<C.Instant>.Replay

    private func acknowledge(_ replay: Replay) {
        journal.withLock { journal in
            journal.acknowledge(replay)
            publishSize(journal)
        }
    }

    private func call(
        _ breaker: CircuitBreaker<C>?,
        _ body: () async throws(CacheError) -> Void
    ) async throws(CacheError) {
        guard let breaker else { return try await body() }
        switch await guardedCall(breaker, body) {
        case .success: return
        case .degraded(let error), .rejected(let error): throw error
        }
    }

    private func publishSize(_ journal: InvalidationJournal<C.Instant>) {
        size.store(journal.count + (journal.isOverflowed ? 1 : 0), ordering: .releasing)
    }

    private func logOverflow() {
        logger.warning(
            "invalidation journal overflowed",
            metadata: ["policy": "\(journal.withLock { $0.policy })", "capacity": "\(journal.withLock { $0.capacity })"]
        )
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds > Int64.max / 1_000_000_000 ? .max : seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
