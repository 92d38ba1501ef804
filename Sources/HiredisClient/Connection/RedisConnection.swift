internal import CHiredis
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One connection of the pool and the thread that drives it (``IOModel/threadPerConnection``): the queue of
/// commands, the write batches, the reconnects.
///
/// Why two I/O models, and why this one is not the default: this thread and the event loop (``LoopConnection``
/// on a shared ``EventLoopGroup``) form the same batches — everything queued while the previous batch was in
/// flight goes out in one write, one batch in flight per connection — and differ in threads. Measured side by
/// side, interleaved in the same runs (`CLIENT_IO_MODELS="thread-per-connection event-loop" benchmarks/run
/// client`, figures in docs/Performance.md), the event loop was faster at 50 and 200 callers, plain and TLS
/// (by a quarter or more at 50 on small values): fewer threads contend with the callers and Redis for 2 cores,
/// and a caller that queues behind a batch in flight costs no wake-up. This thread is faster for one caller
/// waiting for each reply (about 10 µs less per call in most runs) and on some 4 KiB rows; the concurrent case
/// is the one a cache under load lives in, so it decides. And its threads do not grow with connections: a
/// client runs its connections on at most `min(cores, 2)` loops, and a cluster client's node clients share one
/// such group, however many nodes. So every client defaults to the event loop (``IOModel/processDefault``); this
/// model stays, selectable with ``RedisClientConfiguration/ioModel`` or `REDIS_IO_MODEL`, so the two can still
/// be measured against each other from one build.
///
/// The socket, TLS and hiredis's codec are used only on this thread, through the ``RedisTransport`` it owns,
/// never on Swift's cooperative pool.
///
/// The loop: sleep until commands are queued; take *all* of them as one batch; encode each into the transport's
/// output buffer; read the replies in order, the first read flushing the whole batch in one write
/// (auto-pipelining). Replies are matched to requests by position.
///
/// Deadlines are not enforced here (the thread may be blocked in `read`): ``DeadlineWatchdog`` fails late
/// requests and calls ``abort(batch:now:)``, which `shutdown(2)`s the socket so the blocked read returns.
final class RedisConnection: PoolConnection, @unchecked Sendable {
    // @unchecked: everything under "guarded by lock" is only touched with `lock` held; everything under
    // "I/O thread only" belongs to the I/O thread alone.

    private let configuration: RedisClientConfiguration
    private let tlsContext: TLSContext?
    private let logger: Logger
    private let index: Int
    private let pending: PendingCounter
    private let spinToken: SpinToken
    private let instruments: ClientInstruments
    let lock = ConditionLock()

    // guarded by lock
    private var queue: [RedisRequest] = []
    private var spare: [RedisRequest] = []
    private var closed = false
    private var sleeping = false
    private var socket: Int32 = -1
    private var batchInFlight: UInt64 = 0
    /// The latest deadline among the queued requests, and among those of the batch in flight.
    private var queueDeadline: UInt64 = 0
    private var batchDeadline: UInt64 = 0
    /// The batch the watchdog will cut once ``batchDeadline`` has passed.
    private var cutScheduled: UInt64 = 0
    private var abortedBatch: UInt64 = 0
    private var backoff: ReconnectBackoff

    // I/O thread only
    private var transport: RedisTransport?
    private var batchCounter: UInt64 = 0
    private var wasConnected = false
    private var lastBatchSize = 0
    /// When the last batch ended (monotonic nanoseconds), to tell an idle connection from a busy one.
    private var idleSince: UInt64 = 0
    private var loggedDown = false

    private var thread: IOThread?  // guarded by lock

    /// Commands queued or in flight here, read without the lock to pick the least busy connection.
    let load = Atomic<Int>(0)
    /// Bumped by every enqueue, so the I/O thread can watch for work without taking the lock while it spins.
    private let enqueued = Atomic<UInt64>(0)
    /// How long an idle I/O thread polls for the next command before it sleeps, after a small batch. A caller
    /// that waits for each reply before sending the next command would otherwise pay a wake-up of this thread on
    /// every call. Measured with `benchmarks/run client` on 2 vCPUs: one caller's GET went from ~0.8x to
    /// 1.4-2.7x redis-benchmark -c 1 with this and ``pollReplyFor``, while 50 callers kept their throughput.
    private static let spinBeforeSleep: UInt64 = 50_000

    init(
        configuration: RedisClientConfiguration,
        tlsContext: TLSContext?,
        index: Int,
        pending: PendingCounter,
        spinToken: SpinToken,
        instruments: ClientInstruments,
        logger: Logger
    ) {
        self.configuration = configuration
        self.tlsContext = tlsContext
        self.spinToken = spinToken
        self.instruments = instruments
        self.index = index
        self.pending = pending
        self.backoff = ReconnectBackoff(configuration.reconnect)
        var logger = logger
        logger[metadataKey: "redis.connection"] = "\(index)"
        logger[metadataKey: "redis.endpoint"] = "\(configuration.endpoint)"
        self.logger = logger
    }

    func start() {
        let thread = IOThread.spawn(name: "redis-io-\(index)") { [self] in run() }
        lock.withLock { self.thread = thread }
    }

    var currentLoad: Int { load.load(ordering: .relaxed) }

    /// Never: callers do not run on a connection's own thread.
    var drivesCurrentThread: Bool { false }

    /// Whether a call here would fail at once because the last connect failed and the backoff has not passed.
    var isBackingOff: Bool {
        lock.withLock { backoff.isWaiting(now: monotonicNanoseconds()) }
    }

    /// Queues `requests` together, in order, so they go out in one write; returns the reason when they cannot
    /// be queued (then none is).
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
        load.wrappingAdd(requests.count, ordering: .relaxed)
        enqueued.wrappingAdd(1, ordering: .releasing)
        let wake = sleeping
        sleeping = false
        lock.unlock()
        if wake { lock.signal() }
        return nil
    }

    /// Cuts the connection if `batch` is still in flight, because a command in it timed out: the replies still
    /// to come are matched by position, and a hung server would keep the I/O thread blocked in `read`.
    ///
    /// The cut waits until the last deadline in the batch has passed. Until then the other commands of the batch
    /// may still get their replies (a reply that comes for the timed-out command is read and dropped, so the
    /// stream stays in order); cutting earlier would fail them for a neighbour's timeout, not their own.
    ///
    /// - Returns: when to call again because the cut has to wait, or `nil`.
    func abort(batch: UInt64, now: UInt64) -> UInt64? {
        lock.withLock {
            guard batchInFlight == batch, socket >= 0, abortedBatch != batch else { return nil }
            if now < batchDeadline {
                if cutScheduled == batch { return nil }  // the watchdog already has it
                cutScheduled = batch
                return batchDeadline
            }
            abortedBatch = batch
            shutdown(socket, Int32(SHUT_RDWR))
            return nil
        }
    }

    /// Fails queued requests with ``RedisClientError/Code/closed``, wakes the thread and waits for it to close
    /// its transport and exit.
    func close() {
        let (orphans, thread): ([RedisRequest], IOThread?) = lock.withLock {
            closed = true
            if socket >= 0 { shutdown(socket, Int32(SHUT_RDWR)) }
            let orphans = queue
            queue = []
            sleeping = false
            return (orphans, self.thread)
        }
        lock.signal()
        fail(orphans, RedisClientError(.closed, "the client was closed before the command was sent"))
        thread?.join()
    }

    /// Tells the thread to exit without waiting for it (from ``RedisClient``'s deinit): it closes its transport
    /// and its resources go back to the system when it returns.
    func closeWithoutWaiting() {
        let (orphans, thread): ([RedisRequest], IOThread?) = lock.withLock {
            closed = true
            if socket >= 0 { shutdown(socket, Int32(SHUT_RDWR)) }
            let orphans = queue
            queue = []
            return (orphans, self.thread)
        }
        lock.signal()
        thread?.detach()
        fail(orphans, RedisClientError(.closed, "the client was released before the command was sent"))
    }

    // MARK: - The I/O thread

    private func run() {
        var batch: [RedisRequest] = []
        while true {
            spinWhileIdle()
            lock.lock()
            while queue.isEmpty && !closed {
                sleeping = true
                lock.wait()
            }
            if closed {
                lock.unlock()
                break
            }
            batchCounter &+= 1
            let batchID = batchCounter
            swap(&batch, &queue)
            queue = spare
            spare = []
            batchInFlight = batchID
            batchDeadline = queueDeadline
            queueDeadline = 0
            lock.unlock()

            process(&batch, id: batchID)

            lock.lock()
            batchInFlight = 0
            batch.removeAll(keepingCapacity: true)
            spare = batch
            batch = []
            lock.unlock()
        }
        disconnect(reason: nil)
    }

    /// Polls for new work for up to ``spinBeforeSleep`` before the loop goes to sleep on the condition.
    private func spinWhileIdle() {
        guard configuration.busyPolling else { return }
        let seen = enqueued.load(ordering: .acquiring)
        if lock.withLock({ !queue.isEmpty || closed }) { return }
        guard lastBatchSize <= Self.spinBatchLimit, spinToken.tryAcquire() else { return }
        defer { spinToken.release() }
        let until = monotonicNanoseconds() &+ Self.spinBeforeSleep
        while enqueued.load(ordering: .acquiring) == seen {
            if monotonicNanoseconds() >= until { return }
        }
    }

    private func process(_ batch: inout [RedisRequest], id: UInt64) {
        pending.subtract(batch.count)
        lastBatchSize = batch.count
        // Every request leaves `load` before its caller resumes, so a caller that sends its next command
        // right away finds this connection idle again and does not wander to a sleeping one.
        var unaccounted = batch.count
        defer {
            load.wrappingSubtract(unaccounted, ordering: .relaxed)
            idleSince = monotonicNanoseconds()
        }
        if let transport, monotonicNanoseconds() &- idleSince >= Self.staleCheckAfter, transport.peerHasClosed {
            // The server dropped the connection while it sat idle (its `timeout`, CLIENT KILL, a restart): a
            // new one carries this batch, which would otherwise fail for nothing it did.
            logger.debug("redis closed the idle connection; connecting again")
            disconnect(reason: nil)
        }
        if transport == nil {
            if let error = connect(batch: id) {
                fail(batch, error)
                return
            }
        }
        guard let transport else { return }

        var written = 0
        for index in batch.indices {
            let request = batch[index]
            guard request.place(on: self, batch: id) else { continue }  // timed out or cancelled while queued
            transport.append(request.command)
            batch[written] = request
            written += 1
        }
        // Once per write batch, never per command.
        instruments.batchSent(written)
        defer { instruments.batchFinished(written) }

        for position in 0..<written {
            if configuration.busyPolling { awaitReadable(transport) }
            let result: Result<RedisReply, RedisClientError>
            do {
                result = try transport.readReply()
            } catch {
                let error = transportError(error, batch: id)
                fail(batch[position..<written], error)
                disconnect(reason: error)
                return
            }
            load.wrappingSubtract(1, ordering: .relaxed)
            unaccounted -= 1
            batch[position].complete(result)
        }
    }

    /// How long a connection must have been idle before a batch checks that the server has not closed it: one
    /// `poll` per batch after a pause, none while batches follow each other.
    static let staleCheckAfter: UInt64 = 1_000_000

    /// Busy-polling pays off when callers wait for each reply (batches of one or two); with larger batches the
    /// thread has work anyway, and polling would only take CPU from Redis and the callers.
    static let spinBatchLimit = 2

    /// How long the thread polls the socket for a reply before it blocks in `read`.
    static let pollReplyFor: UInt64 = 100_000

    /// Flushes the output buffer and polls the socket for a reply for up to ``pollReplyFor`` before the
    /// blocking read, so a fast server's reply is picked up without the thread being put to sleep and woken.
    private func awaitReadable(_ transport: RedisTransport) {
        // The read would flush first too; the reply cannot come before the command has left.
        guard transport.flush() else { return }
        // A reply already in the reader's buffer needs no read at all.
        if transport.hasBufferedInput { return }
        guard lastBatchSize <= Self.spinBatchLimit, spinToken.tryAcquire() else { return }
        defer { spinToken.release() }
        var descriptor = pollfd(fd: transport.fileDescriptor, events: Int16(POLLIN), revents: 0)
        let until = monotonicNanoseconds() &+ Self.pollReplyFor
        repeat {
            if poll(&descriptor, 1, 0) != 0 { return }
        } while monotonicNanoseconds() < until
    }

    /// Connects, runs the TLS handshake, authenticates and selects the database, all within the connect timeout;
    /// returns the error if any step fails.
    private func connect(batch: UInt64) -> RedisClientError? {
        let outcome = ConnectionHandshake.establish(
            configuration: configuration,
            tlsContext: tlsContext,
            publish: { descriptor in lock.withLock { self.socket = descriptor } },
            transportError: { error in transportError(error, batch: batch) }
        )
        let made: RedisTransport
        switch outcome {
        case .success(let transport): made = transport
        case .failure(let error): return connectFailed(error)
        }
        transport = made
        lock.withLock { backoff.succeeded() }
        if !wasConnected || loggedDown {
            logger.info("redis connection established")
        }
        instruments.connected(again: wasConnected)
        wasConnected = true
        loggedDown = false
        return nil
    }

    private func connectFailed(_ error: RedisClientError) -> RedisClientError {
        lock.withLock { backoff.failed(error, now: monotonicNanoseconds()) }
        if !loggedDown {
            logger.warning("redis connection failed", metadata: ["error": "\(error)"])
            loggedDown = true
        }
        return error
    }

    private func disconnect(reason: RedisClientError?) {
        guard transport != nil else { return }
        lock.withLock {
            socket = -1
            backoff.lost()
        }
        self.transport = nil  // closes the socket, frees the TLS session and hiredis's reader
        instruments.disconnected()
        if let reason, !loggedDown {
            logger.warning("redis connection lost", metadata: ["error": "\(reason)"])
            loggedDown = true
        }
    }

    /// What a failed read or write means, given whether this connection cut its socket on purpose.
    private func transportError(_ error: RedisClientError, batch: UInt64) -> RedisClientError {
        let (closed, aborted) = lock.withLock { (self.closed, abortedBatch == batch) }
        if closed {
            return RedisClientError(.closed, "the client was closed while the command was in flight")
        }
        if aborted {
            return RedisClientError(
                .connectionLost,
                "connection cut because the commands on it timed out (their replies would come out of order)"
            )
        }
        return error
    }

    private func fail(_ requests: some Collection<RedisRequest>, _ error: RedisClientError) {
        for request in requests { request.fail(error) }
    }
}

extension RedisClientConfiguration.Endpoint {
    var isTCP: Bool {
        if case .tcp = base { true } else { false }
    }
}
