import Synchronization

/// Commands queued across the pool, for ``RedisClientConfiguration/maximumPendingCommands``.
final class PendingCounter: Sendable {
    private let count = Atomic<Int>(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Reserves `places`; false when the pool would be over its limit.
    func reserve(_ places: Int = 1) -> Bool {
        let now = count.wrappingAdd(places, ordering: .relaxed).newValue
        if now > limit {
            count.wrappingSubtract(places, ordering: .relaxed)
            return false
        }
        return true
    }

    func subtract(_ amount: Int) {
        count.wrappingSubtract(amount, ordering: .relaxed)
    }
}
