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
    /// The copy on disk, when ``ResilientCacheConfiguration/durableJournalDirectory`` is set.
    private let durable: DurableJournal?
    private let durableWrites = WakeSignal()
    private let instruments: UnitInstruments

    init(
        configuration: ResilientCacheConfiguration,
        clock: TimeSource,
        logger: Logger,
        instruments: UnitInstruments
    ) {
        var journal = InvalidationJournal<Instant>(
            capacity: configuration.journalCapacity,
            policy: configuration.journalOverflowPolicy
        )
        self.clock = clock
        self.logger = logger
        self.instruments = instruments
        self.longestTTL = Atomic(configuration.defaultTTL.map(\.wholeNanoseconds) ?? .max)
        var durable: DurableJournal?
        if let directory = configuration.durableJournalDirectory {
            do {
                let (file, contents) = try DurableJournal.open(directory: directory, namespace: configuration.namespace)
                durable = file
                // What a previous process journaled and did not replay: fenced from the first read on, and
                // replayed by the recovery loop as soon as the backend answers.
                let now = clock.now
                if contents.flushNamespace {
                    journal.forceOverflow(at: now)
                } else {
                    for key in contents.keys { _ = journal.record(key: key, at: now) }
                    for pattern in contents.patterns { _ = journal.record(pattern: pattern, at: now) }
                }
                if !contents.isEmpty {
                    logger.warning(
                        "durable journal holds invalidations from a previous run; they are fenced until replayed",
                        metadata: [
                            "path": "\(file.path)", "keys": "\(contents.keys.count)",
                            "patterns": "\(contents.patterns.count)", "namespace_flush": "\(contents.flushNamespace)",
                        ]
                    )
                }
            } catch {
                logger.error(
                    "durable journal unavailable: invalidations are kept in memory only",
                    metadata: ["error": "\(error)"]
                )
            }
        }
        self.durable = durable
        self.journal = Mutex(journal)
        size.store(journal.count + (journal.isOverflowed ? 1 : 0), ordering: .releasing)
        instruments.journalSizeChanged(journal.count)
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

    /// Whether `key` itself is journaled (patterns and an overflow aside): what another shard's journal says of
    /// a key that has moved away from it.
    func holdsKey(_ key: String) -> Bool {
        if size.load(ordering: .acquiring) == 0 { return false }
        return journal.withLock { $0.keys[key] != nil }
    }

    func record(key: String) {
        record({ $0.record(key: key, at: $1) }, durably: { $0.append(key: key) })
    }

    func record(pattern: String) {
        record({ $0.record(pattern: pattern, at: $1) }, durably: { $0.append(pattern: pattern) })
    }

    /// Fences the whole namespace until it is flushed: more writes are in doubt than could be remembered one by one.
    func recordNamespaceInDoubt() {
        record(
            { journal, now in
                journal.forceOverflow(at: now)
                return true
            }, durably: { _ in })
    }

    private func record(
        _ entry: (inout InvalidationJournal<Instant>, Instant) -> Bool,
        durably append: (DurableJournal) -> Void
    ) {
        let now = clock.now
        let overflowed = journal.withLock { journal in
            let wasOverflowed = journal.isOverflowed
            let overflowed = entry(&journal, now)
            if let durable {
                // While overflowed nothing else is recorded: one `F` line says it all.
                if !journal.isOverflowed {
                    append(durable)
                } else if !wasOverflowed {
                    durable.appendFlushNamespace()
                }
            }
            publishSize(journal)
            return overflowed
        }
        if durable != nil { durableWrites.signal() }
        if overflowed { logOverflow() }
    }

    // MARK: - The copy on disk

    /// Whether invalidations are also kept on disk.
    var isDurable: Bool { durable != nil }

    /// Writes and syncs the durable journal in batches until the task is cancelled, then once more.
    func runDurableWriter() async {
        while !Task.isCancelled {
            await durableWrites.wait(until: nil, time: clock)
            flushDurable()
        }
        flushDurable()
    }

    /// Writes and syncs what is pending now (at shutdown, after the last replay), logging a failure.
    func flushDurable() {
        guard let durable, durable.hasPending else { return }
        do {
            try durable.flush()
        } catch {
            logger.error("durable journal write failed", metadata: ["error": "\(error)", "path": "\(durable.path)"])
        }
    }

    /// Flushes and closes the durable journal, releasing its lock for the next process.
    func closeDurable() {
        flushDurable()
        durable?.close()
    }

    func clear(key: String, recordedBefore instant: Instant) {
        if size.load(ordering: .acquiring) == 0 { return }
        journal.withLock { journal in
            journal.clear(key: key, recordedBefore: instant)
            publishSize(journal)
        }
    }

    func noteTTL(_ ttl: Duration?) {
        let nanoseconds = ttl.map(\.wholeNanoseconds) ?? .max
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
        if journal.isEmpty, let durable {
            durable.markEmpty()
            durableWrites.signal()
        }
        size.store(journal.count + (journal.isOverflowed ? 1 : 0), ordering: .releasing)
        // Under the journal's lock: the gauge's last value is the journal's last size.
        instruments.journalSizeChanged(journal.count)
    }

    private func logOverflow() {
        instruments.countOverflow()
        logger.warning(
            "invalidation journal overflowed: it is full, or too many patterns sit on one read's path",
            metadata: [
                "policy": "\(journal.withLock { $0.policy })", "capacity": "\(journal.withLock { $0.capacity })",
            ]
        )
    }
}
