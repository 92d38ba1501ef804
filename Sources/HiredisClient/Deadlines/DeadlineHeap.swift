/// A binary min-heap ordered by deadline: the watchdog's earliest deadline in O(1), insertion and removal in
/// O(log n).
struct DeadlineHeap<Element> {
    private var entries: [(deadline: UInt64, element: Element)] = []

    var isEmpty: Bool { entries.isEmpty }

    /// The earliest deadline, `nil` when empty.
    var earliestDeadline: UInt64? { entries.first?.deadline }

    mutating func push(_ element: Element, deadline: UInt64) {
        entries.append((deadline, element))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if entries[parent].deadline <= entries[child].deadline { break }
            entries.swapAt(parent, child)
            child = parent
        }
    }

    /// Removes and returns the element with the earliest deadline if that deadline is at or before `now`.
    mutating func popExpired(at now: UInt64) -> Element? {
        guard let first = entries.first, first.deadline <= now else { return nil }
        let last = entries.removeLast()
        if entries.isEmpty { return first.element }
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count, entries[left].deadline < entries[smallest].deadline { smallest = left }
            if right < entries.count, entries[right].deadline < entries[smallest].deadline { smallest = right }
            if smallest == parent { break }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
        return first.element
    }

    mutating func removeAll() {
        entries.removeAll()
    }
}
