internal import CHiredis
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A fixed set of ``EventLoop`` threads that drive the connections of one or many clients.
///
/// A cluster client makes one group and all its node clients share it, as they share the ``DeadlineWatchdog``:
/// however many nodes, the cluster's I/O costs the same threads. Connections are spread over the loops in turn.
final class EventLoopGroup: Sendable {
    private let loops: [EventLoop]
    private let next = Atomic<Int>(0)

    /// The default number of loops: one per core, at most two. A loop spends most of its time in system calls
    /// on behalf of many connections; more loops than cores only adds wake-ups.
    static var defaultLoopCount: Int {
        max(1, min(2, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }

    /// Starts `count` loop threads, named `redis-loop-N`.
    ///
    /// - Parameter busyPolling: whether an idle loop may poll briefly for the next event before it sleeps
    ///   (see ``RedisClientConfiguration/busyPolling``); one loop of the group at a time.
    init(count: Int = EventLoopGroup.defaultLoopCount, busyPolling: Bool) {
        let spinToken = SpinToken()
        loops = (0..<max(1, count)).map { index in
            EventLoop(name: "redis-loop-\(index)", busyPolling: busyPolling, spinToken: spinToken)
        }
    }

    /// The loop for the next connection.
    func nextLoop() -> EventLoop {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[index % loops.count]
    }

    /// Stops every loop and waits for its thread; connections still on a loop fail what they hold with
    /// ``RedisClientError/Code/closed``. Blocks: call it on a thread of the client's own.
    func stop() {
        for loop in loops { loop.stop(waiting: true) }
    }

    /// Tells every loop to stop without waiting for its thread.
    func stopWithoutWaiting() {
        for loop in loops { loop.stop(waiting: false) }
    }
}

/// One thread that waits with `epoll` on the sockets of many ``LoopConnection``s, and on an `eventfd` that
/// callers write when they queue work for a connection of this loop.
///
/// Each turn runs the connections that were scheduled (new commands for an idle connection, a connect that
/// finished, a close), then those whose sockets are ready (they read replies, send what queued behind the batch
/// just answered, and write what is left of their output). Nothing on a loop blocks: connecting, the TLS
/// handshake and `AUTH` run on a short-lived thread, and the transport is handed over ready.
final class EventLoop: @unchecked Sendable {
    // @unchecked: `state` is a Mutex; `epoll`, `wakeDescriptor`, `registered` and `work` belong to the loop thread
    // (the descriptors are written once in init, and closed by the thread when it exits).

    private struct State {
        var ready: [LoopConnection] = []
        /// Tasks that prefer this loop as their executor (``enqueue(_:)``), run in the loop's next turn.
        var jobs: [UnownedJob] = []
        /// Every connection made on this loop and not torn down, so that a stopping loop can fail what they hold.
        var members: [Int: LoopConnection] = [:]
        var sleeping = false
        var stopped = false
    }

    private let state = Mutex(State())
    /// Set when ``State/ready`` is not empty, so a polling loop notices work without taking the lock.
    private let hasReady = Atomic<Bool>(false)
    private let epoll: Int32
    private let wakeDescriptor: Int32
    private let busyPolling: Bool
    private let spinToken: SpinToken
    private var thread: IOThread?
    /// The loop thread's `pthread_t`, once it runs: how a connection knows its caller is on the loop.
    private let threadID = Atomic<UInt>(0)

    // loop thread only
    private var registered: [Int: LoopConnection] = [:]
    /// Requests sent and replies delivered during the current turn, to decide whether to poll before sleeping.
    private var work = 0
    /// Batches written and not fully answered, on all the loop's connections: while there are none, polling
    /// waits for new work only, without a system call.
    private var batchesInFlight = 0

    private static let wakeToken = UInt64.max

    /// How long an idle loop polls for its next event after a turn with little work, before it sleeps: a caller
    /// that waits for each reply would otherwise pay a wake-up of the loop for its command and another for the
    /// reply.
    private static let pollBeforeSleep: UInt64 = 100_000

    fileprivate init(name: String, busyPolling: Bool, spinToken: SpinToken) {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed: \(String(cString: strerror(errno)))")
        wakeDescriptor = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        precondition(wakeDescriptor >= 0, "eventfd failed: \(String(cString: strerror(errno)))")
        self.busyPolling = busyPolling
        self.spinToken = spinToken
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeToken
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeDescriptor, &event)
        thread = IOThread.spawn(name: name) { [self] in run() }
    }

    // MARK: - Any thread

    /// Adds `connection` to the loop's members; false when the loop has stopped.
    func join(_ connection: LoopConnection) -> Bool {
        state.withLock { state in
            guard !state.stopped else { return false }
            state.members[connection.id] = connection
            return true
        }
    }

    /// Runs `connection`'s ``LoopConnection/loopScheduled()`` on the loop thread soon. The connection calls this
    /// at most once until the loop has run it (its own `scheduled` flag), so the list holds no duplicates.
    ///
    /// - Returns: false when the loop has stopped (and has torn the connection down).
    @discardableResult
    func schedule(_ connection: LoopConnection) -> Bool {
        hand { $0.ready.append(connection) }
    }

    /// Adds work for the next turn with `add` and wakes the loop if it sleeps; false when the loop has stopped
    /// (then `add` is not called).
    private func hand(_ add: (inout State) -> Void) -> Bool {
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            guard !state.stopped else { return (false, false) }
            add(&state)
            let wake = state.sleeping
            state.sleeping = false
            return (true, wake)
        }
        guard accepted else { return false }
        hasReady.store(true, ordering: .releasing)
        if wake { _ = eventfd_write(wakeDescriptor, 1) }
        return true
    }

    /// Whether the calling thread is this loop's: a task that prefers the loop as its executor runs here.
    var isCurrent: Bool {
        let id = threadID.load(ordering: .relaxed)
        return id != 0 && pthread_equal(pthread_self(), id) != 0
    }

    /// Stops the loop; with `waiting`, waits for its thread to exit.
    fileprivate func stop(waiting: Bool) {
        let wake = state.withLock { state -> Bool in
            if state.stopped { return false }
            state.stopped = true
            return true
        }
        if wake { _ = eventfd_write(wakeDescriptor, 1) }
        if waiting { thread?.join() } else { thread?.detach() }
    }

    // MARK: - Loop thread

    /// Watches `descriptor` for `events` on behalf of `connection`.
    func register(_ connection: LoopConnection, descriptor: Int32, events: UInt32) {
        registered[connection.id] = connection
        var event = epoll_event()
        event.events = events
        event.data.u64 = UInt64(connection.id)
        epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event)
    }

    func modify(_ connection: LoopConnection, descriptor: Int32, events: UInt32) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = UInt64(connection.id)
        epoll_ctl(epoll, EPOLL_CTL_MOD, descriptor, &event)
    }

    /// Stops watching `descriptor`, before it is closed.
    func unregister(_ connection: LoopConnection, descriptor: Int32) {
        registered[connection.id] = nil
        epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, nil)
    }

    /// Removes a torn-down connection from the members.
    func leave(_ connection: LoopConnection) {
        _ = state.withLock { $0.members.removeValue(forKey: connection.id) }
    }

    /// Counts requests sent or replies delivered in this turn.
    func recordWork(_ count: Int) {
        work += count
    }

    /// A connection wrote a batch (`1`), or a batch was answered or failed (`-1`).
    func recordBatches(_ change: Int) {
        batchesInFlight += change
    }

    private func run() {
        let capacity: Int32 = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(capacity))
        defer { events.deallocate() }
        var pollable = false
        threadID.store(pthread_self(), ordering: .relaxed)
        let executor = asUnownedTaskExecutor()
        while true {
            let (ready, jobs, stopped) = state.withLock { state -> ([LoopConnection], [UnownedJob], Bool) in
                let ready = state.ready
                let jobs = state.jobs
                state.ready = []
                state.jobs = []
                return (ready, jobs, state.stopped)
            }
            hasReady.store(false, ordering: .relaxed)
            if stopped {
                // Jobs taken in this very turn are not dropped either: their tasks would never resume.
                for job in jobs { globalConcurrentExecutor.enqueue(job) }
                break
            }
            for connection in ready { connection.loopScheduled() }
            // Callers resumed here by the replies of the last turn: what they queue is sent in the next one.
            for job in jobs { job.runSynchronously(on: executor) }
            if !jobs.isEmpty { work += 1 }

            // Little work in the turn that ended: a caller waiting for each reply. Poll instead of sleeping.
            var count: Int32 = 0
            var polled = false
            if busyPolling, pollable || (work > 0 && work <= RedisConnection.spinBatchLimit * 2) {
                count = pollBriefly(events, capacity)
                polled = true
            }
            work = 0
            // Polling just looked at the sockets and stopped for new work: take it without another epoll_wait.
            if count == 0, !(polled && hasReady.load(ordering: .acquiring)) {
                let sleep = state.withLock { state -> Bool in
                    if !state.ready.isEmpty || !state.jobs.isEmpty || state.stopped { return false }
                    state.sleeping = true
                    return true
                }
                count = epoll_wait(epoll, events, capacity, sleep ? -1 : 0)
                if sleep { state.withLock { $0.sleeping = false } }
            }
            pollable = false
            for index in 0..<Int(max(count, 0)) {
                let event = events[index]
                if event.data.u64 == Self.wakeToken {
                    var value: eventfd_t = 0
                    _ = eventfd_read(wakeDescriptor, &value)
                    continue
                }
                registered[Int(truncatingIfNeeded: event.data.u64)]?.loopEvent(event.events)
            }
            if work > 0 && work <= RedisConnection.spinBatchLimit * 2 { pollable = true }
        }
        let members = state.withLock { state in
            defer { state.members = [:] }
            return Array(state.members.values)
        }
        for connection in members { connection.loopStopped() }
        // Tasks still bound for this loop run on the global executor: a job is never dropped.
        let orphans = state.withLock { state in
            defer { state.jobs = [] }
            return state.jobs
        }
        for job in orphans { globalConcurrentExecutor.enqueue(job) }
        registered = [:]
        close(wakeDescriptor)
        close(epoll)
    }

    /// Polls the sockets and the ready list for up to ``pollBeforeSleep``; returns the number of events found.
    private func pollBriefly(_ events: UnsafeMutablePointer<epoll_event>, _ capacity: Int32) -> Int32 {
        guard spinToken.tryAcquire() else { return 0 }
        defer { spinToken.release() }
        let until = monotonicNanoseconds() &+ Self.pollBeforeSleep
        var round = 0
        repeat {
            // With no reply due, only new work is expected: watch for it without a system call (a socket that
            // hangs up meanwhile is still seen, a little later).
            if batchesInFlight > 0 || round & 63 == 0 {
                let count = epoll_wait(epoll, events, capacity, 0)
                if count > 0 { return count }
            }
            if hasReady.load(ordering: .acquiring) { return 0 }
            round &+= 1
        } while monotonicNanoseconds() < until
        return 0
    }
}

/// A loop is also a task executor: a caller that prefers it (`withTaskExecutorPreference`) runs on the loop's
/// thread and is resumed there by its reply, without waking a thread of Swift's pool, as on SwiftNIO's event loops.
/// Its code then holds the loop while it runs: it must not block.
extension EventLoop: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if !hand({ $0.jobs.append(job) }) { globalConcurrentExecutor.enqueue(job) }
    }
}
