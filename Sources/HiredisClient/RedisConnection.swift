import CHiredis
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One hiredis connection and the thread that drives it.
///
/// Why a thread per connection with hiredis's blocking API, rather than one epoll loop over non-blocking
/// contexts: on this 2-core target the pool is small (4 by default), so four mostly-sleeping threads cost little;
/// the blocking API gives connect timeouts, `AUTH` and `SELECT` for free; and auto-pipelining falls out of the
/// loop below. Measured with `benchmarks/run client`: at 50 callers the batches this loop forms make it faster
/// than redis-benchmark's 50 unpipelined connections (figures in the README). Hiredis calls happen only here,
/// never on Swift's cooperative pool.
///
/// The loop: sleep until commands are queued; take *all* of them as one batch; append each with
/// `redisAppendCommandArgv`; read the replies in order with `redisGetReply`, whose first call flushes the whole
/// batch in one `write` (auto-pipelining). Replies are matched to requests by position.
///
/// Deadlines are not enforced here (the thread may be blocked in `read`): ``DeadlineWatchdog`` fails late
/// requests and calls ``abort(batch:)``, which `shutdown(2)`s the socket so the blocked read returns.
final class RedisConnection: @unchecked Sendable {
    // @unchecked: everything under "guarded by lock" is only touched with `lock` held; `context` and the
    // argv scratch buffers belong to the I/O thread alone.

    private let configuration: RedisClientConfiguration
    private let logger: Logger
    private let index: Int
    private let pending: PendingCounter
    private let spinToken: SpinToken
    let lock = ConditionLock()

    // guarded by lock
    private var queue: [RedisRequest] = []
    private var spare: [RedisRequest] = []
    private var closed = false
    private var sleeping = false
    private var connected = false
    private var socket: Int32 = -1
    private var batchInFlight: UInt64 = 0
    private var abortedBatch: UInt64 = 0
    private var backoffUntil: UInt64 = 0
    private var connectError: RedisClientError?

    // I/O thread only
    private var context: UnsafeMutablePointer<redisContext>?
    private var batchCounter: UInt64 = 0
    private var failedAttempts = 0
    private var argv: UnsafeMutablePointer<UnsafePointer<CChar>?> = .allocate(capacity: 8)
    private var argvLengths: UnsafeMutablePointer<Int> = .allocate(capacity: 8)
    private var argvCapacity = 8
    private var wasConnected = false
    private var lastBatchSize = 0
    private var loggedDown = false

    private var thread: IOThread?

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
        index: Int,
        pending: PendingCounter,
        spinToken: SpinToken,
        logger: Logger
    ) {
        self.configuration = configuration
        self.spinToken = spinToken
        self.index = index
        self.pending = pending
        var logger = logger
        logger[metadataKey: "redis.connection"] = "\(index)"
        logger[metadataKey: "redis.endpoint"] = "\(configuration.endpoint)"
        self.logger = logger
    }

    deinit {
        argv.deallocate()
        argvLengths.deallocate()
    }

    func start() {
        thread = IOThread.spawn(name: "redis-io-\(index)") { [self] in run() }
    }

    /// Whether a call here would fail at once because the last connect failed and the backoff has not passed.
    var isBackingOff: Bool {
        lock.withLock { !connected && monotonicNanoseconds() < backoffUntil }
    }

    /// Queues `request`; returns the reason when it cannot be queued.
    /// Queues `requests` together, in order, so they go out in one write; returns the reason when they cannot
    /// be queued (then none is).
    func enqueue(_ requests: some Collection<RedisRequest>) -> RedisClientError? {
        lock.lock()
        if closed {
            lock.unlock()
            return RedisClientError(.closed, "the client is closed")
        }
        if !connected, let connectError, monotonicNanoseconds() < backoffUntil {
            lock.unlock()
            var error = connectError
            error.message += " (next attempt after backoff)"
            return error
        }
        queue.append(contentsOf: requests)
        load.wrappingAdd(requests.count, ordering: .relaxed)
        enqueued.wrappingAdd(1, ordering: .releasing)
        let wake = sleeping
        sleeping = false
        lock.unlock()
        if wake { lock.signal() }
        return nil
    }

    /// Cuts the connection if `batch` is still in flight: a command in it timed out, so the replies still to
    /// come would be matched to the wrong requests.
    func abort(batch: UInt64) {
        lock.withLock {
            if batchInFlight == batch, socket >= 0 {
                abortedBatch = batch
                shutdown(socket, Int32(SHUT_RDWR))
            }
        }
    }

    /// Fails queued requests with ``RedisClientError/Code/closed``, wakes the thread and waits for it to free
    /// its context and exit.
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

    /// Tells the thread to exit without waiting for it (from ``RedisClient``'s deinit).
    func closeWithoutWaiting() {
        let orphans: [RedisRequest] = lock.withLock {
            closed = true
            if socket >= 0 { shutdown(socket, Int32(SHUT_RDWR)) }
            let orphans = queue
            queue = []
            return orphans
        }
        lock.signal()
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
        defer { load.wrappingSubtract(unaccounted, ordering: .relaxed) }
        if context == nil {
            if let error = connect(batch: id) {
                fail(batch, error)
                return
            }
        }
        guard let context else { return }

        var written = 0
        for index in batch.indices {
            let request = batch[index]
            guard request.place(on: self, batch: id) else { continue }  // timed out or cancelled while queued
            append(request.command, to: context)
            batch[written] = request
            written += 1
        }

        for position in 0..<written {
            var reply: UnsafeMutableRawPointer?
            if configuration.busyPolling { awaitReadable(context) }
            if redisGetReply(context, &reply) != REDIS_OK {
                let error = transportError(context, batch: id)
                fail(batch[position..<written], error)
                disconnect(reason: error)
                return
            }
            let result = Self.convert(reply!.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(reply)
            load.wrappingSubtract(1, ordering: .relaxed)
            unaccounted -= 1
            batch[position].complete(result)
        }
    }

    /// Busy-polling pays off when callers wait for each reply (batches of one or two); with larger batches the
    /// thread has work anyway, and polling would only take CPU from Redis and the callers.
    static let spinBatchLimit = 2

    /// How long the thread polls the socket for a reply before it blocks in `read`.
    static let pollReplyFor: UInt64 = 100_000

    /// Flushes the output buffer and polls the socket for a reply for up to ``pollReplyFor`` before the
    /// blocking read, so a fast server's reply is picked up without the thread being put to sleep and woken.
    private func awaitReadable(_ context: UnsafeMutablePointer<redisContext>) {
        var done: Int32 = 0
        // redisGetReply would flush first too; the reply cannot come before the command has left.
        while done == 0 {
            if redisBufferWrite(context, &done) != REDIS_OK { return }
        }
        // A reply already in the reader's buffer needs no read at all.
        if context.pointee.reader.pointee.len > context.pointee.reader.pointee.pos { return }
        guard lastBatchSize <= Self.spinBatchLimit, spinToken.tryAcquire() else { return }
        defer { spinToken.release() }
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        let until = monotonicNanoseconds() &+ Self.pollReplyFor
        repeat {
            if poll(&descriptor, 1, 0) != 0 { return }
        } while monotonicNanoseconds() < until
    }

    private func append(_ command: RedisCommand, to context: UnsafeMutablePointer<redisContext>) {
        let count = command.lengths.count
        if count > argvCapacity {
            argv.deallocate()
            argvLengths.deallocate()
            argvCapacity = max(count, argvCapacity * 2)
            argv = .allocate(capacity: argvCapacity)
            argvLengths = .allocate(capacity: argvCapacity)
        }
        command.storage.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            var offset = 0
            for word in 0..<count {
                argv[word] = (base + offset).assumingMemoryBound(to: CChar.self)
                argvLengths[word] = command.lengths[word]
                offset += command.lengths[word]
            }
            // hiredis copies the words into its output buffer before returning.
            _ = redisAppendCommandArgv(context, Int32(count), argv, argvLengths)
        }
    }

    /// Connects, authenticates and selects the database; returns the error if any step fails.
    private func connect(batch: UInt64) -> RedisClientError? {
        let timeout = Self.makeTimeval(configuration.connectTimeout)
        errno = 0
        let made: UnsafeMutablePointer<redisContext>?
        switch configuration.endpoint.base {
        case .tcp(let host, let port):
            made = redisConnectWithTimeout(host, Int32(port), timeout)
        case .unix(let path):
            made = redisConnectUnixWithTimeout(path, timeout)
        }
        let connectErrno = errno
        guard let made else {
            return connectFailed(RedisClientError(.connectionFailed, "hiredis could not allocate a context"))
        }
        if made.pointee.err != 0 {
            let error = Self.connectError(made, errno: connectErrno, endpoint: configuration.endpoint)
            redisFree(made)
            return connectFailed(error)
        }
        lock.withLock { socket = made.pointee.fd }
        if configuration.keepAlive, configuration.endpoint.isTCP {
            _ = redisEnableKeepAlive(made)
        }
        // The handshake below is bounded by the connect timeout; commands afterwards by the watchdog.
        _ = redisSetTimeout(made, timeout)
        if let error = handshake(made, batch: batch) {
            lock.withLock { socket = -1 }
            redisFree(made)
            return connectFailed(error)
        }
        _ = redisSetTimeout(made, Self.makeTimeval(.zero))
        context = made
        failedAttempts = 0
        lock.withLock {
            connected = true
            connectError = nil
            backoffUntil = 0
        }
        if !wasConnected || loggedDown {
            logger.info("redis connection established")
        }
        wasConnected = true
        loggedDown = false
        return nil
    }

    private func handshake(_ context: UnsafeMutablePointer<redisContext>, batch: UInt64) -> RedisClientError? {
        var commands: [RedisCommand] = []
        if let authentication = configuration.authentication {
            var auth = RedisCommand("AUTH")
            if let username = authentication.username { auth.append(username) }
            auth.append(authentication.password)
            commands.append(auth)
        }
        if configuration.database != 0 {
            var select = RedisCommand("SELECT")
            select.append(configuration.database)
            commands.append(select)
        }
        for command in commands { append(command, to: context) }
        for command in commands {
            var reply: UnsafeMutableRawPointer?
            if redisGetReply(context, &reply) != REDIS_OK {
                var error = transportError(context, batch: batch)
                if error.code == .connectionLost, context.pointee.err == REDIS_ERR_IO {
                    error = RedisClientError(.timeout, "no answer to \(command) within the connect timeout")
                }
                return error
            }
            let result = Self.convert(reply!.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(reply)
            if case .failure(var error) = result {
                // AUTH's error text names no password; keep the server's words and say which step failed.
                error = RedisClientError(
                    .connectionFailed,
                    "\(command) failed: \(error.serverError?.message ?? error.message)",
                    serverError: error.serverError
                )
                return error
            }
        }
        return nil
    }

    private func connectFailed(_ error: RedisClientError) -> RedisClientError {
        failedAttempts += 1
        let reconnect = configuration.reconnect
        let exponent = Double(min(failedAttempts - 1, 30))
        let delay = min(
            Double(reconnect.initialDelay.nanoseconds) * pow(reconnect.multiplier, exponent),
            Double(reconnect.maximumDelay.nanoseconds)
        )
        lock.withLock {
            connected = false
            connectError = error
            backoffUntil = monotonicNanoseconds() + UInt64(delay)
        }
        if !loggedDown {
            logger.warning("redis connection failed", metadata: ["error": "\(error)"])
            loggedDown = true
        }
        return error
    }

    private func disconnect(reason: RedisClientError?) {
        guard let context else { return }
        lock.withLock {
            socket = -1
            connected = false
        }
        redisFree(context)
        self.context = nil
        if let reason, !loggedDown {
            logger.warning("redis connection lost", metadata: ["error": "\(reason)"])
            loggedDown = true
        }
    }

    /// The error for a failed read or write on `context`.
    private func transportError(_ context: UnsafeMutablePointer<redisContext>, batch: UInt64) -> RedisClientError {
        let (closed, aborted) = lock.withLock { (self.closed, abortedBatch == batch) }
        if closed {
            return RedisClientError(.closed, "the client was closed while the command was in flight")
        }
        if aborted {
            return RedisClientError(
                .connectionLost,
                "connection cut because a command on it timed out (its replies would be out of order)"
            )
        }
        let detail = String(cString: CHiredis_errstr(context))
        switch context.pointee.err {
        case REDIS_ERR_PROTOCOL:
            return RedisClientError(.protocolError, "protocol error: \(detail)")
        case REDIS_ERR_EOF:
            return RedisClientError(.connectionLost, "server closed the connection")
        case REDIS_ERR_IO where detail.contains("Resource temporarily unavailable"):
            return RedisClientError(.timeout, "read timed out")
        default:
            return RedisClientError(.connectionLost, "connection lost: \(detail)")
        }
    }

    private static func connectError(
        _ context: UnsafeMutablePointer<redisContext>,
        errno code: Int32,
        endpoint: RedisClientConfiguration.Endpoint
    ) -> RedisClientError {
        let detail = String(cString: CHiredis_errstr(context))
        if code == ECONNREFUSED || code == ENOENT || detail.contains("refused") || detail.contains("No such file") {
            return RedisClientError(.connectionRefused, "connection to \(endpoint) refused: \(detail)")
        }
        if code == ETIMEDOUT || code == EINPROGRESS || detail.contains("timed out") {
            return RedisClientError(.timeout, "connecting to \(endpoint) timed out")
        }
        return RedisClientError(.connectionFailed, "connecting to \(endpoint) failed: \(detail)")
    }

    private func fail(_ requests: some Collection<RedisRequest>, _ error: RedisClientError) {
        for request in requests { request.complete(.failure(error)) }
    }

    static func makeTimeval(_ duration: Duration) -> timeval {
        let nanoseconds = duration.nanoseconds
        return Glibc.timeval(
            tv_sec: Int(nanoseconds / 1_000_000_000),
            tv_usec: Int((nanoseconds % 1_000_000_000) / 1_000)
        )
    }

    /// Turns a hiredis reply into a ``RedisReply``; a top-level error reply becomes a thrown error.
    static func convert(_ reply: UnsafePointer<redisReply>) -> Result<RedisReply, RedisClientError> {
        if reply.pointee.type == REDIS_REPLY_ERROR {
            let serverError = RedisServerError(message: string(reply))
            return .failure(RedisClientError(.serverError, serverError.message, serverError: serverError))
        }
        return .success(value(reply))
    }

    private static func value(_ reply: UnsafePointer<redisReply>) -> RedisReply {
        switch reply.pointee.type {
        case REDIS_REPLY_STRING:
            let length = reply.pointee.len
            guard length > 0, let bytes = reply.pointee.str else { return .bulkString([]) }
            return .bulkString(
                Array(UnsafeRawBufferPointer(start: bytes, count: length).bindMemory(to: UInt8.self))
            )
        case REDIS_REPLY_STATUS:
            return .simpleString(string(reply))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.pointee.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ERROR:
            return .error(RedisServerError(message: string(reply)))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(reply.pointee.elements)
            for index in 0..<reply.pointee.elements {
                elements.append(value(CHiredis_element(reply, index)))
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func string(_ reply: UnsafePointer<redisReply>) -> String {
        guard let bytes = reply.pointee.str else { return "" }
        return String(
            decoding: UnsafeRawBufferPointer(start: bytes, count: reply.pointee.len).bindMemory(to: UInt8.self),
            as: UTF8.self
        )
    }
}

extension RedisClientConfiguration.Endpoint {
    var isTCP: Bool {
        if case .tcp = base { true } else { false }
    }
}

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

/// Lets at most one I/O thread of a client busy-poll at a time.
///
/// Polling instead of sleeping saves a wake-up per call when a caller waits for each reply (one wake-up of an
/// idle vCPU costs tens of microseconds on the VMs this was measured on), but on 2 cores four polling threads
/// would starve Redis and the callers; one is the measured sweet spot.
final class SpinToken: Sendable {
    private let held = Atomic<Bool>(false)

    func tryAcquire() -> Bool {
        held.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    }

    func release() {
        held.store(false, ordering: .releasing)
    }
}
