#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What ``ConnectionPool`` and ``DeadlineWatchdog`` need of a connection, whichever I/O model drives it:
/// ``RedisConnection`` (a thread of its own) or ``LoopConnection`` (a socket on a shared ``EventLoop``).
protocol PoolConnection: AnyObject, Sendable {
    /// Commands queued or in flight here, read without a lock to pick the least busy connection.
    var currentLoad: Int { get }

    /// Whether a call here would fail at once because the last connect failed and the backoff has not passed.
    var isBackingOff: Bool { get }

    /// Whether the calling thread is the one that drives this connection: a caller running on its event loop
    /// (a task that prefers the loop as its executor) keeps its commands and its replies on that thread.
    var drivesCurrentThread: Bool { get }

    /// Queues `requests` together, in order, so they go out in one write; returns the reason when they cannot
    /// be queued (then none is).
    func enqueue(_ requests: some Collection<RedisRequest>) -> RedisClientError?

    /// Cuts the connection if `batch` is still in flight and every deadline in it has passed.
    ///
    /// - Returns: when to call again because the cut has to wait, or `nil`.
    func abort(batch: UInt64, now: UInt64) -> UInt64?

    /// Fails queued requests with ``RedisClientError/Code/closed`` and waits until the connection has let go of
    /// its socket.
    func close()

    /// Closes without waiting (from ``RedisClient``'s deinit).
    func closeWithoutWaiting()
}

/// How a client's connections do their I/O.
///
/// Both models speak through the same ``RedisTransport`` and auto-pipeline the same way; they differ in threads.
/// See ``RedisConnection`` for what each costs and which one a client gets.
package enum IOModel: String, Sendable {
    /// One thread per connection, blocking in `read` (``RedisConnection``).
    case threadPerConnection = "thread-per-connection"
    /// A few threads waiting with `epoll` on all the connections (``LoopConnection``, ``EventLoop``).
    case eventLoop = "event-loop"

    /// The model of a client whose configuration names none: `REDIS_IO_MODEL` from the process environment when
    /// set (so the benchmarks can run both from one build), else the event loop.
    static let processDefault: IOModel = {
        if let name = getenv("REDIS_IO_MODEL"), let model = IOModel(rawValue: String(cString: name)) {
            return model
        }
        return .eventLoop
    }()
}
