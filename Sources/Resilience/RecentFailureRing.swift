/// The last `capacity` failures, oldest overwritten first.
///
/// Storage is allocated once; appending keeps the error's existing box (no message is
/// built until a metrics snapshot asks for it).
struct RecentFailureRing: Sendable {
    struct Entry: Sendable {
        var at: Duration
        var kind: CircuitBreakerFailureKind
        var error: (any Error)?
        var duration: Duration?
    }

    let capacity: Int
    private var storage: [Entry?]
    private var next = 0
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        self.storage = Array(repeating: nil, count: capacity)
    }

    mutating func append(_ entry: Entry) {
        guard capacity > 0 else { return }
        storage[next] = entry
        next = next + 1 == capacity ? 0 : next + 1
        count = min(count + 1, capacity)
    }

    /// The entries, oldest first.
    var entries: [Entry] {
        var result: [Entry] = []
        result.reserveCapacity(count)
        let start = count < capacity ? 0 : next
        for offset in 0..<count {
            if let entry = storage[(start + offset) % capacity] { result.append(entry) }
        }
        return result
    }
}
