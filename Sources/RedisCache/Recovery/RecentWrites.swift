import Synchronization

/// The keys a unit's backend acknowledged writing during the last ``window``, oldest first, at most `capacity`.
///
/// On the unit's next failed call they are taken into its journal: a replica promoted in place of a primary that
/// died may never have received them (Redis replicates asynchronously), so they are fenced and replayed on
/// recovery like writes that never arrived.
final class RecentWrites: Sendable {
    typealias Instant = ContinuousClock.Instant

    private struct Ring {
        var entries: [(key: String, at: Instant)] = []
        var head = 0
        /// More keys arrived within the window than the ring holds.
        var overflowed = false

        var count: Int { entries.count - head }

        mutating func dropOlder(than limit: Instant) {
            while head < entries.count && entries[head].at < limit { head += 1 }
            if head > 1024 && head * 2 > entries.count {
                entries.removeFirst(head)
                head = 0
            }
        }
    }

    let window: Duration
    private let capacity: Int
    private let ring = Mutex(Ring())

    init(window: Duration, capacity: Int) {
        self.window = window
        self.capacity = capacity
    }

    /// Remembers that `key` was written (set or removed) at `instant`.
    func note(_ key: String, at instant: Instant) {
        ring.withLock { ring in
            ring.dropOlder(than: instant - window)
            if ring.count >= capacity {
                ring.head += 1
                ring.overflowed = true
            }
            ring.entries.append((key, instant))
        }
    }

    /// The keys written within the window before `instant`, and whether some were forgotten; empties the ring.
    func take(before instant: Instant) -> (keys: [String], overflowed: Bool) {
        ring.withLock { ring in
            ring.dropOlder(than: instant - window)
            let keys = ring.entries[ring.head...].map(\.key)
            let overflowed = ring.overflowed && !keys.isEmpty
            ring = Ring()
            return (keys, overflowed)
        }
    }
}
