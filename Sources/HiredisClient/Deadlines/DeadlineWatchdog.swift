import Synchronization

/// One thread per client that fails requests whose deadline passed.
///
/// The I/O threads cannot do this themselves: a connection's own thread blocks in `read` on a hung server, and an
/// event loop, which serves many connections, keeps no timers. The watchdog completes the
/// late request with ``RedisClientError/Code/timeout`` and, if the command was already written, has its
/// connection cut once every deadline of its write batch has passed (see ``RedisConnection/abort(batch:now:)``),
/// which also wakes the blocked I/O thread. All late requests of a wake-up are completed before any cut, so no
/// request whose deadline passed is failed by the cut instead.
///
/// It wakes at most once a millisecond: at 100,000 commands a second a wake per deadline would cost more than
/// the commands, and a deadline met within a millisecond is met.
final class DeadlineWatchdog: Sendable {
    private enum Entry {
        /// One call's request.
        case single(RedisRequest)
        /// All the requests of a pipeline: they share one deadline.
        case pipeline([RedisRequest])
        /// A connection cut that waits for the last deadline of its write batch.
        case cut(any PoolConnection, batch: UInt64)
    }

    private struct Cut {
        let connection: any PoolConnection
        let batch: UInt64
    }

    // @unchecked storage: `heap` and `stopped` are only touched with `lock` held.
    private final class Storage: @unchecked Sendable {
        let lock = ConditionLock()
        var heap = DeadlineHeap<Entry>()
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
        watch(.single(request), deadline: request.deadline)
    }

    /// Watches the requests of a pipeline, which share one deadline, with one entry.
    func watch(pipeline requests: [RedisRequest]) {
        guard let first = requests.first else { return }
        watch(.pipeline(requests), deadline: first.deadline)
    }

    private func watch(_ entry: Entry, deadline: UInt64) {
        let storage = self.storage
        storage.lock.lock()
        storage.heap.push(entry, deadline: deadline)
        // Only a deadline earlier than the current sleep needs a wake-up; with one timeout for all calls, new
        // deadlines are later than the earliest one and cost no signal.
        let wake = deadline < storage.sleepingUntil
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

    /// A request whose deadline passed: to be timed out if nothing completed it; if its caller abandoned it after
    /// it was written, its connection is cut unless the reply has come by now (``RedisConnection/abort(batch:now:)``
    /// does nothing for a batch no longer in flight).
    private static func watchExpired(_ request: RedisRequest, expired: inout [RedisRequest], cuts: inout [Cut]) {
        if !request.isCompleted {
            expired.append(request)
        } else if request.wasAbandoned, let connection = request.placement.connection {
            cuts.append(Cut(connection: connection, batch: request.placement.batch))
        }
    }

    private static func run(_ storage: Storage) {
        var expired: [RedisRequest] = []
        var cuts: [Cut] = []
        storage.lock.lock()
        while !storage.stopped {
            let now = monotonicNanoseconds()
            while let entry = storage.heap.popExpired(at: now) {
                switch entry {
                case .single(let request):
                    watchExpired(request, expired: &expired, cuts: &cuts)
                case .pipeline(let requests):
                    for request in requests { watchExpired(request, expired: &expired, cuts: &cuts) }
                case .cut(let connection, let batch):
                    cuts.append(Cut(connection: connection, batch: batch))
                }
            }
            if !expired.isEmpty || !cuts.isEmpty {
                storage.lock.unlock()
                for request in expired where request.complete(.failure(request.timeoutError())) {
                    // Read the placement after completing: an I/O thread that places the request later sees it
                    // completed and does not send it; one that placed it before is found here.
                    let placement = request.placement
                    if let connection = placement.connection {
                        cuts.append(Cut(connection: connection, batch: placement.batch))
                    }
                }
                expired.removeAll(keepingCapacity: true)
                var later: [(Cut, UInt64)] = []
                for cut in cuts {
                    if let deadline = cut.connection.abort(batch: cut.batch, now: now) {
                        later.append((cut, deadline))
                    }
                }
                cuts.removeAll(keepingCapacity: true)
                storage.lock.lock()
                for (cut, deadline) in later {
                    storage.heap.push(.cut(cut.connection, batch: cut.batch), deadline: deadline)
                }
                continue
            }
            if let earliest = storage.heap.earliestDeadline {
                let wake = max(earliest, now + resolution)
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
}
