import Logging
import Resilience
import Synchronization

/// Holds the ``InvalidationJournal`` under a lock: records, fences, clears and hands out replays.
///
/// Reads check ``fences(_:)`` on every call, so the empty case — the normal one — costs one atomic load. The
/// replay itself belongs to ``Recovery``, the one owner of everything that talks to the backend on the cache's
/// behalf.
final class JournalKeeper: Sendable {
    typealias Instant = ContinuousClock.Instant
    struct Status: Sendable {
        var size: Int
        var overflowed: Bool
        var overflows: Int
        var dropped: Int
        var replays: Int
        var isEmpty: Bool { size == 0 && !overflowed }
    }

    private let journal: Mutex<InvalidationJournal<Instant>>
    /// Entries plus one while overflowed; zero means nothing is fenced.
    private let size = Atomic<Int>(0)
    private let replays = Atomic<Int>(0)
    /// The longest TTL written through the cache, in nanoseconds; `Int64.max` once any value was written
    /// without expiry (its journal entries must then never be dropped).
    private let longestTTL: Atomic<Int64>
    private let clock: TimeSource
    private let logger: Logger

    init(configuration: ResilientCacheConfiguration, clock: TimeSource, logger: Logger) {
        self.journal = Mutex(
            InvalidationJournal(capacity: configuration.journalCapacity, policy: configuration.journalOverflowPolicy)
        )
        self.clock = clock
        self.logger = logger
        self.longestTTL = Atomic(configuration.defaultTTL.map(\.nanoseconds) ?? .max)
    }

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

    func fences(_ key: String) -> Bool {
        if size.load(ordering: .acquiring) == 0 { return false }
        return journal.withLock { $0.fences(key) }
    }

    func record(key: String) {
        record { $0.record(key: key, at: $1) }
    }

    func record(pattern: String) {
        record { $0.record(pattern: pattern, at: $1) }
    }

    private func record(_ entry: (inout InvalidationJournal<Instant>, Instant) -> Bool) {
        let now = clock.now
        let overflowed = journal.withLock { journal in
            let overflowed = entry(&journal, now)
            publishSize(journal)
            return overflowed
        }
        if overflowed { logOverflow() }
    }

    func clear(key: String, recordedBefore instant: Instant) {
        if size.load(ordering: .acquiring) == 0 { return }
        journal.withLock { journal in
            journal.clear(key: key, recordedBefore: instant)
            publishSize(journal)
        }
    }

    func noteTTL(_ ttl: Duration?) {
        let nanoseconds = ttl.map(\.nanoseconds) ?? .max
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

    /// What to replay now: a copy of the entries and the instant it was taken; `nil` when nothing waits.
    func takeReplay() -> Replay? {
        if size.load(ordering: .acquiring) == 0 { return nil }
        let now = clock.now
        let replay = journal.withLock { $0.replay(now: now) }
        if replay.keys.isEmpty && replay.patterns.isEmpty && !replay.flushNamespace { return nil }
        return replay
    }

    typealias Replay = InvalidationJournal<Instant>.Replay

    /// Forgets what `replay` covered (except entries recorded again since it was taken).
    func acknowledge(_ replay: Replay) {
        journal.withLock { journal in
            journal.acknowledge(replay)
            publishSize(journal)
        }
    }

    /// Counts a whole replay that went through.
    func countReplay() {
        replays.add(1, ordering: .relaxed)
    }

    private func publishSize(_ journal: InvalidationJournal<Instant>) {
        size.store(journal.count + (journal.isOverflowed ? 1 : 0), ordering: .releasing)
    }

    private func logOverflow() {
        logger.warning(
            "invalidation journal overflowed",
            metadata: ["policy": "\(journal.withLock { $0.policy })", "capacity": "\(journal.withLock { $0.capacity })"]
        )
    }
}
