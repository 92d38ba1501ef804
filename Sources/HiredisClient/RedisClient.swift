import CoreMetrics
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// An async Redis client with hiredis as its codec: a pool of connections with auto-pipelining, TLS, and a deadline on
/// every call.
///
/// Commands from concurrent callers that land on the same connection while it is busy go out together in one
/// write, and their replies are matched back in order. Each call waits at most its timeout (the configured
/// ``RedisClientConfiguration/commandTimeout`` unless given), whether the server is absent, refusing or hung;
/// cancelling the calling task ends the wait at once. A connection that fails is re-established on the next
/// call, after a capped exponential backoff when connecting itself fails.
///
/// No socket I/O and no hiredis call runs on Swift's cooperative pool: the connections run on a few event-loop
/// threads (the client's own, or shared by a cluster's nodes), and one more thread enforces deadlines.
///
/// ```swift
/// let client = try RedisClient(configuration: RedisClientConfiguration(url: "redis://127.0.0.1:6380"), logger: logger)
/// try await client.set("greeting", value: Array("hello".utf8), expiration: .seconds(60))
/// let value = try await client.get("greeting")  // [UInt8]? — nil for a missing key
/// await client.close()
/// ```
///
/// The process must not die of `SIGPIPE` when a peer closes a socket mid-write: the client's own writes ask not
/// to raise it, but OpenSSL writes with `write(2)`, so creating a client sets `SIGPIPE` to ignored for the
/// process, as most servers do.
public final class RedisClient: Sendable {
    public let configuration: RedisClientConfiguration
    private let pool: ConnectionPool
    private let watchdog: DeadlineWatchdog
    /// False when the watchdog is shared with other clients (a cluster's nodes): its owner stops it.
    private let ownsWatchdog: Bool
    /// The event loops of this client's own, stopped when it closes; `nil` with thread-per-connection or with
    /// loops shared with other clients (a cluster's nodes, whose owner stops them).
    private let ownedLoops: EventLoopGroup?
    private let state = Mutex<Bool>(false)  // closed
    private let logger: Logger
    private let instruments: ClientInstruments
    private let tracer: CommandTracer?

    /// Creates the pool. Connections are made lazily, by the first calls that need them, so creating a client
    /// succeeds even while the server is down.
    ///
    /// - Parameters:
    ///   - configuration: where and how to connect.
    ///   - logger: the application's logger; it receives one line per connection state change (established,
    ///     failed, lost), never one per command. A library does not make up its own logger, so there is no
    ///     default: pass `Logger(label: "…", factory: { _ in SwiftLogNoOpLogHandler() })` for silence.
    ///   - metricsFactory: where the `redis_*` metrics go (connections open, connects and reconnects, timeouts,
    ///     commands in flight, pipeline batch sizes); `MetricsSystem.factory` by default.
    /// - Throws: ``RedisClientError/Code/invalidConfiguration`` when `configuration` holds an invalid value (see
    ///   ``RedisClientConfiguration/validate()``) or a TLS file OpenSSL cannot use; no thread is started then.
    public convenience init(
        configuration: RedisClientConfiguration,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws(RedisClientError) {
        try configuration.validate()
        let tlsContext = try configuration.tls.map { tls throws(RedisClientError) in try TLSContext.make(tls) }
        self.init(
            validated: configuration,
            tlsContext: tlsContext,
            logger: logger,
            metricsFactory: metricsFactory,
            watchdog: nil,
            loops: nil
        )
    }

    /// A client for one node of a cluster: it enforces its deadlines on `watchdog`, shared by all the nodes and
    /// stopped by their owner, runs its connections on `loops`, shared and stopped the same way (unless the
    /// configuration asks for thread-per-connection), makes its TLS sessions from `tlsContext`, shared too, and
    /// labels its metrics with `dimensions` (the node's address).
    ///
    /// Without shared loops, the client's own I/O model is ``RedisClientConfiguration/ioModel``, else
    /// ``IOModel/processDefault``; its own loops are no more than its connections.
    init(
        validated configuration: RedisClientConfiguration,
        tlsContext: TLSContext?,
        logger: Logger,
        metricsFactory: any MetricsFactory,
        watchdog: DeadlineWatchdog?,
        loops: EventLoopGroup?,
        dimensions: [(String, String)] = []
    ) {
        signal(SIGPIPE, SIG_IGN)
        self.configuration = configuration
        self.logger = logger
        self.tracer = CommandTracer(configuration)
        self.watchdog = watchdog ?? DeadlineWatchdog()
        self.ownsWatchdog = watchdog == nil
        let instruments = ClientInstruments(factory: metricsFactory, dimensions: dimensions)
        self.instruments = instruments
        var loops = loops
        if configuration.ioModel == .threadPerConnection {
            loops = nil
            self.ownedLoops = nil
        } else if loops == nil, (configuration.ioModel ?? IOModel.processDefault) == .eventLoop {
            let owned = EventLoopGroup(
                count: min(EventLoopGroup.defaultLoopCount, configuration.connectionCount),
                busyPolling: configuration.busyPolling
            )
            loops = owned
            self.ownedLoops = owned
        } else {
            self.ownedLoops = nil
        }
        self.pool = ConnectionPool(
            configuration: configuration,
            tlsContext: tlsContext,
            loops: loops,
            logger: logger,
            instruments: instruments
        )
    }

    deinit {
        // A client dropped without close(): let its threads end rather than leak them. Nothing waits for them
        // here: deinit may run on any thread, and the I/O threads may still be leaving a blocking call.
        pool.closeWithoutWaiting()
        ownedLoops?.stopWithoutWaiting()
        if ownsWatchdog { watchdog.stopWithoutWaiting() }
    }

    /// The event loops that drive this client's connections, as task executors; empty with thread-per-connection.
    ///
    /// A task that prefers one of them runs on that loop's thread, its commands go to a connection of that loop,
    /// and its reply resumes it right there, without waking a thread of Swift's pool (one wake-up less per call):
    ///
    /// ```swift
    /// let loop = client.taskExecutors.first
    /// try await withTaskExecutorPreference(loop) {
    ///     for key in keys { _ = try await client.get(key) }  // one caller, calls back to back
    /// }
    /// ```
    ///
    /// What such a task runs holds the loop, and every connection on it, until it suspends: only short,
    /// non-blocking code belongs there. Spread many callers over the loops. After ``close()`` the loops are gone
    /// and tasks that prefer them run on the global executor.
    public var taskExecutors: [any TaskExecutor] { pool.executors }

    /// Fails every queued command with ``RedisClientError/Code/closed``, waits for the I/O threads to exit and
    /// closes every connection. Calls made afterwards fail with `closed`. Safe to call more than once.
    public func close() async {
        let alreadyClosed = state.withLock { closed in
            defer { closed = true }
            return closed
        }
        if alreadyClosed { return }
        // Joining blocks until each thread has left its I/O; do it on a thread of our own, not the pool's.
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let pool = self.pool
            let watchdog = self.ownsWatchdog ? self.watchdog : nil
            let loops = self.ownedLoops
            IOThread.spawnDetached(name: "redis-close") {
                pool.close()
                loops?.stop()
                watchdog?.stop()
                continuation.resume()
            }
        }
        logger.debug("redis client closed")
    }

    /// Sends a command and waits for its reply.
    ///
    /// The arguments are bytes encoded by hiredis from an argv, never interpolated into a format string.
    /// An error reply from the server is thrown as ``RedisClientError/Code/serverError``.
    ///
    /// ```swift
    /// let reply = try await client.send("HSET", [Array("h".utf8), Array("field".utf8), Array("value".utf8)])
    /// ```
    ///
    /// - Parameters:
    ///   - command: the command name, e.g. `"SET"`.
    ///   - arguments: its arguments.
    ///   - timeout: how long to wait for the reply, queueing and connecting included; the configured
    ///     ``RedisClientConfiguration/commandTimeout`` when `nil`.
    public func send(
        _ command: String,
        _ arguments: [[UInt8]] = [],
        timeout: Duration? = nil
    ) async throws(RedisClientError) -> RedisReply {
        try await send(RedisCommand(command, arguments), timeout: timeout)
    }

    /// Sends an encoded ``RedisCommand`` and waits for its reply.
    ///
    /// - Throws: ``RedisClientError/Code/unsupportedCommand``, without sending it, for a command that would
    ///   change how its shared connection replies or what it is (`SUBSCRIBE`, `MONITOR`, `HELLO`, `SELECT`…).
    public func send(_ command: RedisCommand, timeout: Duration? = nil) async throws(RedisClientError) -> RedisReply {
        if let refusal = command.poolRefusal { throw refusal }
        if let tracer {
            return try await tracer.withSpan(command) { () async throws(RedisClientError) in
                try await untracedSend(command, timeout: timeout)
            }
        }
        return try await untracedSend(command, timeout: timeout)
    }

    @inline(__always)
    private func untracedSend(
        _ command: RedisCommand,
        timeout: Duration?
    ) async throws(RedisClientError) -> RedisReply {
        let deadline = monotonicDeadline(after: timeout ?? configuration.commandTimeout)
        let request = RedisRequest(command: command, deadline: deadline)
        let result = await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                request.install(continuation)
                submit(CollectionOfOne(request))
            }
        } onCancel: {
            request.cancel()
        }
        if case .failure(let error) = result, error.code == .timeout { instruments.timedOut() }
        return try result.get()
    }

    /// Sends several commands on one connection, back to back in one write, and waits for all replies.
    ///
    /// Auto-pipelining already batches concurrent callers; this is for one caller with many commands, e.g. a
    /// bulk load. Each command gets its own result: an error reply or a timeout of one does not hide the others'
    /// replies. The timeout applies to each command from the moment the pipeline is sent. A command that would
    /// change its shared connection (``RedisClientError/Code/unsupportedCommand``) is not sent; its result says so.
    ///
    /// ```swift
    /// let results = await client.pipeline((0..<16).map { RedisCommand("GET", [Array("key:\($0)".utf8)]) })
    /// ```
    public func pipeline(
        _ commands: [RedisCommand],
        timeout: Duration? = nil
    ) async -> [Result<RedisReply, RedisClientError>] {
        if commands.isEmpty { return [] }
        let refusals = commands.map(\.poolRefusal)
        if refusals.contains(where: { $0 != nil }) {
            // Those are not sent (UNSUPPORTED_COMMAND); the others are, as one pipeline.
            let sendable = commands.indices.filter { refusals[$0] == nil }.map { commands[$0] }
            var sent = await pipeline(sendable, timeout: timeout).makeIterator()
            return refusals.map { refusal in refusal.map { .failure($0) } ?? sent.next()! }
        }
        if let tracer {
            return await tracer.withSpan(pipeline: commands) { await untracedPipeline(commands, timeout: timeout) }
        }
        return await untracedPipeline(commands, timeout: timeout)
    }

    @inline(__always)
    private func untracedPipeline(
        _ commands: [RedisCommand],
        timeout: Duration?
    ) async -> [Result<RedisReply, RedisClientError>] {
        let deadline = monotonicDeadline(after: timeout ?? configuration.commandTimeout)
        let group = PipelineGroup(count: commands.count)
        let requests = commands.map { RedisRequest(command: $0, deadline: deadline, group: group) }
        let results = await withTaskCancellationHandler {
            submit(requests)
            // One wake-up for the whole pipeline, when its last command has completed.
            await group.wait()
            return requests.map { $0.result ?? .failure(RedisClientError(.closed, "the pipeline did not complete")) }
        } onCancel: {
            for request in requests {
                request.cancel()
            }
        }
        var timeouts = 0
        for case .failure(let error) in results where error.code == .timeout { timeouts += 1 }
        instruments.timedOut(timeouts)
        return results
    }

    private func submit(_ requests: some Collection<RedisRequest>) {
        if requests.count == 1, requests.first!.isCompleted { return }  // cancelled before it was queued
        if let error = pool.place(requests) {
            for request in requests { request.fail(error) }
            return
        }
        if requests.count == 1 {
            watchdog.watch(requests.first!)
        } else {
            watchdog.watch(pipeline: Array(requests))
        }
    }
}
