import Synchronization

/// One thread per client that fails requests whose deadline passed.
///
/// The I/O threads cannot do this themselves: they block in `read` on a hung server. The watchdog completes the
/// late request with ``RedisClientError/Code/timeout`` and, if the command was already written, cuts its
/// connection (its reply stream would be out of sync), which also wakes the blocked I/O thread.
///
/// It wakes at most once a millisecond: at 100,000 commands a second a wake per deadline would cost more than
/// the commands, and a deadline met within a millisecond is met.
final class DeadlineWatchdog: Sendable {
    private struct Entry {
        let deadline: UInt64
        /// One call's request, or all the requests of a pipeline (they share one deadline).
        let requests: Target
    }

    private enum Target {
        case single(RedisRequest)
        case pipeline([RedisRequest])
    }

    // @unchecked storage: `heap` and `stopped` are only touched with `lock` held.
    private final class Storage: @unchecked Sendable {
        let lock = ConditionLock()
        var heap: [Entry] = []
        var stopped = false
        var sleepingUntil: UInt64 = .max
    }

    private static let resolution: UInt64 = 1_000_000

    private let storage = Storage()
    private let thread: IOThread

    init() {
        let storage = self.storage
        thread = IOThread.spawn(name: "redis-deadline") { DeadlineWatchdog.run(storage) }
    }

    /// Watches `request` until it completes or its deadline passes.
    func watch(_ request: RedisRequest) {
        watch(Entry(deadline: request.deadline, requests: .single(request)))
    }

    /// Watches the requests of a pipeline, which share one deadline, with one entry.
    func watch(pipeline requests: [RedisRequest]) {
        guard let first = requests.first else { return }
        watch(Entry(deadline: first.deadline, requests: .pipeline(requests)))
    }

    private func watch(_ entry: Entry) {
        let storage = self.storage
        storage.lock.lock()
        Self.push(entry, into: &storage.heap)
        // Only a deadline earlier than the current sleep needs a wake-up; with one timeout for all calls, new
        // deadlines are later than the earliest one and cost no signal.
        let wake = entry.deadline < storage.sleepingUntil
        storage.lock.unlock()
        if wake { storage.lock.signal() }
    }

    /// Stops the thread and waits for it. Requests still watched are left to their other completions.
    func stop() {
        storage.lock.withLock { storage.stopped = true }
        storage.lock.signal()
        thread.join()
    }

    /// Tells the thread to stop without waiting for it (the client was dropped without being closed).
    func stopWithoutWaiting() {
        storage.lock.withLock { storage.stopped = true }
        storage.lock.signal()
        thread.detach()
    }

    private static func run(_ storage: Storage) {
        var expired: [RedisRequest] = []
        storage.lock.lock()
        while !storage.stopped {
            let now = monotonicNanoseconds()
            while let first = storage.heap.first, first.deadline <= now {
                switch pop(from: &storage.heap).requests {
                case .single(let request):
                    if !request.isCompleted { expired.append(request) }
                case .pipeline(let requests):
                    for request in requests where !request.isCompleted { expired.append(request) }
                }
            }
            if !expired.isEmpty {
                storage.lock.unlock()
                for request in expired { expire(request) }
                expired.removeAll(keepingCapacity: true)
                storage.lock.lock()
                continue
            }
            if let first = storage.heap.first {
                let wake = max(first.deadline, now + resolution)
                storage.sleepingUntil = wake
                storage.lock.wait(untilNanoseconds: wake)
            } else {
                storage.sleepingUntil = .max
                storage.lock.wait()
            }
            storage.sleepingUntil = 0
        }
        storage.heap.removeAll()
        storage.lock.unlock()
    }

    private static func expire(_ request: RedisRequest) {
        let completed = request.complete(
            .failure(RedisClientError(.timeout, "no reply to \(request.command) within the command timeout"))
        )
        // Read the placement after completing: an I/O thread that places the request later sees it completed
        // and does not send it; one that placed it before is found here and its batch cut.
        if completed, let connection = request.placement.connection {
            connection.abort(batch: request.placement.batch)
        }
    }

    private static func push(_ entry: Entry, into heap: inout [Entry]) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if heap[parent].deadline <= heap[child].deadline { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    private static func pop(from heap: inout [Entry]) -> Entry {
        let top = heap[0]
        let last = heap.removeLast()
        if heap.isEmpty { return top }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count, heap[right].deadline < heap[smallest].deadline { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
