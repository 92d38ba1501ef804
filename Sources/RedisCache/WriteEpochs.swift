import Synchronization

/// Counts the writes and invalidations this cache sends, per slot of key hashes, so that `fetch` does not store a
/// value it computed before one of them (the cache-aside race: the computation read the old data, a `delete` or
/// `set` went out meanwhile, and storing the result afterwards would bring the old value back).
///
/// Keys share 1,024 slots: a collision only makes a fetch skip its store (a miss later, never a stale value).
/// Pattern invalidations cannot be mapped to slots and advance one counter every fetch checks.
final class WriteEpochs: Sendable {
    private final class Slot: Sendable {
        let count = Atomic<UInt64>(0)
    }

    /// What a fetch saw before it looked the key up.
    struct Mark: Sendable, Equatable {
        fileprivate let slot: UInt64
        fileprivate let patterns: UInt64
    }

    private static let slotCount = 1_024
    private let slots: [Slot] = (0..<WriteEpochs.slotCount).map { _ in Slot() }
    private let patterns = Atomic<UInt64>(0)

    /// A write or delete of `name` is about to go out.
    func advance(_ name: String) {
        slots[Self.slot(of: name)].count.add(1, ordering: .releasing)
    }

    /// A pattern invalidation is about to go out.
    func advancePatterns() {
        patterns.add(1, ordering: .releasing)
    }

    func mark(_ name: String) -> Mark {
        Mark(
            slot: slots[Self.slot(of: name)].count.load(ordering: .acquiring),
            patterns: patterns.load(ordering: .acquiring))
    }

    /// Whether nothing that could concern `name` went out since `mark`.
    func unchanged(_ name: String, since mark: Mark) -> Bool {
        self.mark(name) == mark
    }

    private static func slot(of name: String) -> Int {
        var hasher = Hasher()
        hasher.combine(name)
        return Int(UInt(bitPattern: hasher.finalize()) % UInt(slotCount))
    }
}
