internal import CHiredis
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One connection of the pool as a non-blocking state machine on a shared ``EventLoop``.
///
/// Callers queue requests and schedule the connection on its loop. The loop encodes everything queued into the
/// transport's output buffer (auto-pipelining), writes as much as the socket takes (and waits for `EPOLLOUT` for
/// the rest), reads replies as they come, hands them to hiredis's reader and matches them in order to the
/// requests in flight. One batch is in flight at a time, as on a ``RedisConnection``: what callers queue meanwhile
/// goes out together when its last reply comes, so a cut for a timeout fails only the batch whose deadlines
/// passed, and the pending limit still bounds what waits for a hung server.
///
/// Connecting, the TLS handshake and `AUTH`/`SELECT`/`READONLY` block, so they run on a short-lived
/// `redis-connect` thread, which hands the ready transport to the loop: a node that does not answer holds that
/// thread, never the loop that serves the healthy ones.
///
/// Deadlines are enforced as for ``RedisConnection``: ``DeadlineWatchdog`` fails late requests and calls
/// ``abort(batch:now:)``, whose `shutdown(2)` makes the loop see the socket hang up.
final class LoopConnection: PoolConnection, @unchecked Sendable {
    // @unchecked: everything under "guarded by lock" is only touched with `lock` held; everything under "loop
    // thread only" belongs to the loop's thread alone (a `redis-connect` thread only builds a transport and
    // hands it over under the lock).

    private struct Batch {
        let id: UInt64
        let deadline: UInt64
    }

    private static let nextID = Atomic<Int>(0)

    /// The connection's key on its loop.
    let id: Int
    private let configuration: RedisClientConfiguration
    private let tlsContext: TLSContext?
    private let logger: Logger
    private let pending: PendingCounter
    private let instruments: ClientInstruments
    private let loop: EventLoop
    private let lock = ConditionLock()

    // guarded by lock
    private var queue: [RedisRequest] = []
    private var queueDeadline: UInt64 = 0
    private var closed = false
    private var scheduled = false
    /// A batch is in flight: the loop sends what is queued when its last reply comes, without being scheduled.
    private var busy = false
    private var connecting = false
    private var tornDown = false
    private var socket: Int32 = -1
    /// The batches written and not fully answered, oldest first, for the watchdog's cuts.
    private var batches = RingQueue<Batch>()
    private var cutScheduled: UInt64 = 0
    /// Whether the watchdog cut the current socket.
    private var aborted = false
    private var backoff: ReconnectBackoff
    private var outcome: Result<RedisTransport, RedisClientError>?

    // loop thread only
    private var transport: RedisTransport?
    private var inFlight = RingQueue<RedisRequest>()
    /// The size of each batch in `batches` and how many of its replies are still due.
    private var batchSizes = RingQueue<(size: Int, remaining: Int)>()
    private var batchCounter: UInt64 = 0
    private var wasConnected = false
    private var loggedDown = false
    private var interest: UInt32 = 0
    /// The transport's last write or read waits for the other direction (TLS).
    private var writeWaitsForRead = false
    private var readWaitsForWrite = false

    private let loadCounter = Atomic<Int>(0)

    init(
        configuration: RedisClientConfiguration,
        tlsContext: TLSContext?,
        index: Int,
        loop: EventLoop,
        pending: PendingCounter,
        instruments: ClientInstruments,
        logger: Logger
    ) {
        self.id = Self.nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        self.configuration = configuration
        self.tlsContext = tlsContext
        self.loop = loop
        self.pending = pending
        self.instruments = instruments
        self.backoff = ReconnectBackoff(configuration.reconnect)
        var logger = logger
        logger[metadataKey: "redis.connection"] = "\(index)"
        logger[metadataKey: "redis.endpoint"] = "\(configuration.endpoint)"
        self.logger = logger
        if !loop.join(self) {
            closed = true
            tornDown = true
        }
    }

    var currentLoad: Int { loadCounter.load(ordering: .relaxed) }

    var drivesCurrentThread: Bool { loop.isCurrent }

    /// The loop this connection runs on, which is also a task executor.
    var executor: any TaskExecutor { loop }

    var isBackingOff: Bool {
        lock.withLock { backoff.isWaiting(now: monotonicNanoseconds()) }
    }

    func enqueue(_ requests: some Collection<RedisRequest>) -> RedisClientError? {
        var latest: UInt64 = 0
        for request in requests { latest = max(latest, request.deadline) }
        lock.lock()
        if closed {
            lock.unlock()
            return RedisClientError(.closed, "the client is closed")
        }
        if let error = backoff.waitingError(now: monotonicNanoseconds()) {
            lock.unlock()
            return error
        }
        queue.append(contentsOf: requests)
        queueDeadline = max(queueDeadline, latest)
        loadCounter.wrappingAdd(requests.count, ordering: .relaxed)
        let schedule = !scheduled && !busy
        if schedule { scheduled = true }
        lock.unlock()
        if schedule { loop.schedule(self) }
        return nil
    }

    /// Cuts the connection if `batch` is still in flight, because a command in it timed out (see
    /// ``RedisConnection/abort(batch:now:)``: the cut waits for the last deadline of the batch).
    func abort(batch: UInt64, now: UInt64) -> UInt64? {
        lock.withLock {
            guard socket >= 0, !aborted, let found = batches.first(where: { $0.id == batch }) else { return nil }
            if now < found.deadline {
                if cutScheduled == batch { return nil }
                cutScheduled = batch
                return found.deadline
            }
            aborted = true
            shutdown(socket, Int32(SHUT_RDWR))
            return nil
        }
    }

    func close() {
        closeAndSchedule(message: "the client was closed before the command was sent")
        lock.withLock {
            while !tornDown || connecting { lock.wait() }
        }
    }

    func closeWithoutWaiting() {
        closeAndSchedule(message: "the client was released before the command was sent")
    }

    private func closeAndSchedule(message: String) {
        let (orphans, schedule): ([RedisRequest], Bool) = lock.withLock {
            closed = true
            if socket >= 0 { shutdown(socket, Int32(SHUT_RDWR)) }
            let orphans = queue
            queue = []
            let schedule = !scheduled && !tornDown
            scheduled = true
            return (orphans, schedule)
        }
        loadCounter.wrappingSubtract(orphans.count, ordering: .relaxed)
        pending.subtract(orphans.count)
        fail(orphans, RedisClientError(.closed, message))
        // A stopped loop has torn the connection down already.
        if schedule { loop.schedule(self) }
    }

    // MARK: - The loop thread

    /// New work, a connect outcome or a close.
    func loopScheduled() {
        lock.lock()
        scheduled = false
        let closed = self.closed
        let outcome = self.outcome
        self.outcome = nil
        lock.unlock()
        if closed {
            tearDown()
            return
        }
        if let outcome { finishConnect(outcome) }
        guard transport != nil else {
            let start = lock.withLock {
                guard !queue.isEmpty, !connecting else { return false }
                connecting = true
                return true
            }
            if start { startConnect() }
            return
        }
        sendQueued()
    }

    /// The socket is ready (or has failed, or was cut).
    func loopEvent(_ events: UInt32) {
        guard transport != nil else { return }
        if events & EPOLLOUT.rawValue != 0 || (writeWaitsForRead && events & EPOLLIN.rawValue != 0) {
            flush()
        }
        if transport != nil {
            readReplies()
        }
    }

    /// The loop stopped (its group's owner closed): fail everything with ``RedisClientError/Code/closed``.
    func loopStopped() {
        lock.withLock { closed = true }
        tearDown()
    }

    private func tearDown() {
        if transport != nil {
            failConnection(RedisClientError(.closed, "the client was closed while the command was in flight"))
        }
        let orphans: [RedisRequest] = lock.withLock {
            let orphans = queue
            queue = []
            tornDown = true
            outcome = nil
            // While a connect runs, the socket is its thread's to forget.
            if !connecting { socket = -1 }
            return orphans
        }
        loadCounter.wrappingSubtract(orphans.count, ordering: .relaxed)
        pending.subtract(orphans.count)
        fail(orphans, RedisClientError(.closed, "the client was closed before the command was sent"))
        loop.leave(self)
        lock.signal()
    }

    private func startConnect() {
        IOThread.spawnDetached(name: "redis-connect") { [self] in
            let outcome = ConnectionHandshake.establish(
                configuration: configuration,
                tlsContext: tlsContext,
                publish: { descriptor in lock.withLock { self.socket = descriptor } },
                transportError: { error in
                    lock.withLock { closed }
                        ? RedisClientError(.closed, "the client was closed while the command was in flight") : error
                }
            )
            if case .success(let transport) = outcome { transport.enterEventLoop() }
            lock.lock()
            connecting = false
            if closed {
                socket = -1
                lock.unlock()
                lock.signal()
                return  // the transport closes its socket here
            }
            self.outcome = outcome
            let schedule = !scheduled
            scheduled = true
            lock.unlock()
            if schedule { loop.schedule(self) }
        }
    }

    private func finishConnect(_ outcome: Result<RedisTransport, RedisClientError>) {
        switch outcome {
        case .success(let made):
            transport = made
            interest = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
            loop.register(self, descriptor: made.fileDescriptor, events: interest)
            lock.withLock {
                backoff.succeeded()
                aborted = false
            }
            if !wasConnected || loggedDown {
                logger.info("redis connection established")
            }
            instruments.connected(again: wasConnected)
            wasConnected = true
            loggedDown = false
        case .failure(let error):
            let failed: [RedisRequest] = lock.withLock {
                backoff.failed(error, now: monotonicNanoseconds())
                let failed = queue
                queue = []
                return failed
            }
            if !loggedDown {
                logger.warning("redis connection failed", metadata: ["error": "\(error)"])
                loggedDown = true
            }
            loadCounter.wrappingSubtract(failed.count, ordering: .relaxed)
            pending.subtract(failed.count)
            fail(failed, error)
        }
    }

    /// Encodes everything queued and writes what the socket takes, unless a batch is still in flight: then the
    /// queue waits for its last reply, as on a thread of its own (``RedisConnection``). Deeper pipelining would
    /// change what a cut means: a hung server's commands would be written behind a batch that times out, and fail
    /// as lost for their neighbour's deadline instead of waiting for a new connection; and the pending limit
    /// would no longer bound what waits for a hung server.
    private func sendQueued() {
        guard let transport, inFlight.count == 0 else { return }
        var taken: [RedisRequest] = []
        let batchID = batchCounter &+ 1
        lock.withLock {
            swap(&taken, &queue)
            if !taken.isEmpty {
                batches.append(Batch(id: batchID, deadline: queueDeadline))
                busy = true
            }
            queueDeadline = 0
        }
        guard !taken.isEmpty else { return }
        batchCounter = batchID
        pending.subtract(taken.count)
        var written = 0
        for request in taken {
            guard request.place(on: self, batch: batchID) else {  // timed out or cancelled while queued
                loadCounter.wrappingSubtract(1, ordering: .relaxed)
                continue
            }
            transport.append(request.command)
            inFlight.append(request)
            written += 1
        }
        loop.recordWork(written)
        if written == 0 {
            // Callers that queued meanwhile did not schedule the connection: it was busy.
            let again = lock.withLock {
                _ = batches.removeLast()
                busy = false
                let again = !queue.isEmpty && !scheduled
                if again { scheduled = true }
                return again
            }
            if again { loop.schedule(self) }
            return
        }
        batchSizes.append((written, written))
        loop.recordBatches(1)
        // Once per write batch, never per command.
        instruments.batchSent(written)
        flush()
    }

    private func flush() {
        guard let transport else { return }
        do {
            let blocked = try transport.writeNow()
            writeWaitsForRead = blocked == .onRead
        } catch {
            failConnection(error)
            return
        }
        updateInterest()
    }

    private func readReplies() {
        guard let transport else { return }
        while true {
            let blocked: RedisTransport.Blocked?
            do {
                blocked = try transport.readNow()
                try deliverReplies(transport)
            } catch {
                // Replies that came before the failure have been delivered; the rest of the batch fails.
                try? deliverReplies(transport)
                failConnection(error)
                return
            }
            // The batch is answered: what queued meanwhile goes out now.
            if inFlight.count == 0 {
                sendQueued()
                guard self.transport != nil else { return }
            }
            guard let blocked else { continue }
            let waits = blocked == .onWrite
            if waits != readWaitsForWrite {
                readWaitsForWrite = waits
                updateInterest()
            }
            if writeWaitsForRead { flush() }
            return
        }
    }

    private func deliverReplies(_ transport: RedisTransport) throws(RedisClientError) {
        var delivered = 0
        defer { loop.recordWork(delivered) }
        while let result = try transport.nextReply() {
            guard let request = inFlight.removeFirst() else {
                throw RedisClientError(.protocolError, "protocol error: a reply came for no command")
            }
            loadCounter.wrappingSubtract(1, ordering: .relaxed)
            delivered += 1
            batchSizes.withFirst { $0.remaining -= 1 }
            // The batch's bookkeeping comes before its last caller resumes, so that caller's next command does not
            // meet this connection's lock held.
            if let first = batchSizes.first, first.remaining == 0 {
                _ = batchSizes.removeFirst()
                loop.recordBatches(-1)
                lock.withLock {
                    _ = batches.removeFirst()
                    busy = false
                }
                request.complete(result)
                instruments.batchFinished(first.size)
            } else {
                request.complete(result)
            }
        }
    }

    private func updateInterest() {
        guard let transport else { return }
        var wanted = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        if transport.hasPendingOutput || readWaitsForWrite { wanted |= EPOLLOUT.rawValue }
        if wanted != interest {
            interest = wanted
            loop.modify(self, descriptor: transport.fileDescriptor, events: wanted)
        }
    }

    /// Fails every request in flight with what `error` means, and drops the transport. Queued requests stay:
    /// they go out on a new connection.
    private func failConnection(_ error: RedisClientError) {
        guard let transport else { return }
        let (closed, aborted) = lock.withLock { (self.closed, self.aborted) }
        var reason = error
        if closed {
            reason = RedisClientError(.closed, "the client was closed while the command was in flight")
        } else if aborted {
            reason = RedisClientError(
                .connectionLost,
                "connection cut because the commands on it timed out (their replies would come out of order)"
            )
        }
        let failed = inFlight.count
        while let request = inFlight.removeFirst() { request.fail(reason) }
        loadCounter.wrappingSubtract(failed, ordering: .relaxed)
        while let batch = batchSizes.removeFirst() {
            loop.recordBatches(-1)
            instruments.batchFinished(batch.size)
        }
        loop.unregister(self, descriptor: transport.fileDescriptor)
        let reconnect = lock.withLock {
            socket = -1
            backoff.lost()
            batches.removeAll()
            busy = false
            // Queued requests go out on a new connection.
            let reconnect = !closed && !queue.isEmpty && !scheduled
            if reconnect { scheduled = true }
            return reconnect
        }
        self.transport = nil  // closes the socket, frees the TLS session and hiredis's reader
        writeWaitsForRead = false
        readWaitsForWrite = false
        instruments.disconnected()
        if failed == 0 && !closed {
            // Nothing was lost: the server dropped the connection while it sat idle (its `timeout`, CLIENT KILL, a
            // restart). The next command connects again, and says so if that fails.
            logger.debug("redis closed the idle connection", metadata: ["error": "\(reason)"])
        } else if !closed, !loggedDown {
            logger.warning("redis connection lost", metadata: ["error": "\(reason)"])
            loggedDown = true
        }
        if reconnect { loop.schedule(self) }
    }

    private func fail(_ requests: some Collection<RedisRequest>, _ error: RedisClientError) {
        for request in requests { request.fail(error) }
    }
}

/// A first-in, first-out queue over an array, without the shifting of `removeFirst`.
struct RingQueue<Element> {
    private var storage: [Element?] = []
    private var head = 0

    var count: Int { storage.count - head }
    var first: Element? { head < storage.count ? storage[head] : nil }

    mutating func append(_ element: Element) {
        storage.append(element)
    }

    mutating func removeFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        storage[head] = nil
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }

    mutating func removeLast() -> Element? {
        guard head < storage.count else { return nil }
        return storage.removeLast()
    }

    mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
        head = 0
    }

    mutating func withFirst(_ body: (inout Element) -> Void) {
        guard head < storage.count else { return }
        body(&storage[head]!)
    }

    func first(where predicate: (Element) -> Bool) -> Element? {
        for index in head..<storage.count where predicate(storage[index]!) { return storage[index] }
        return nil
    }
}
