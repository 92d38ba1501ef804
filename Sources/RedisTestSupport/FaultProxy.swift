import Glibc
import Synchronization

/// A loopback TCP proxy that injects network faults between a client under test and a redis-server.
///
/// This machine has no netem, so latency, black holes, resets and refused connections are made here:
/// point the client at ``port`` instead of the server's, then switch ``Mode`` at run time with
/// ``setMode(_:)``. The proxy runs on its own thread with non-blocking POSIX sockets and `poll`, so a
/// fault never holds a thread of Swift's cooperative pool, and it keeps working while the test awaits.
///
/// ```swift
/// try await RedisServer.withServer { server in
///     let proxy = try FaultProxy.start(upstreamPort: server.port)
///     defer { proxy.stop() }
///     let cache = try await makeCache(url: "redis://127.0.0.1:\(proxy.port)")
///     try await proxy.setMode(.latency(.milliseconds(200)))
///     #expect(await cache.get("key") == nil)   // the call's deadline is shorter than the delay
///     try await proxy.setMode(.passThrough)
/// }
/// ```
public final class FaultProxy: Sendable {
    /// What the proxy does to the traffic; switch it with ``FaultProxy/setMode(_:)``.
    ///
    /// A struct with static members rather than an enum, so modes can be added without breaking callers.
    public struct Mode: Sendable, Hashable, CustomStringConvertible {
        enum Kind: Hashable {
            case passThrough
            case latency(Duration, jitter: Duration)
            case blackhole
            case resetAll
            case closeAfter(Int)
            case refuse
        }

        let kind: Kind

        private init(_ kind: Kind) {
            self.kind = kind
        }

        /// Forwards everything as it comes. The initial mode.
        public static var passThrough: Mode { Mode(.passThrough) }

        /// Delays every chunk, in both directions, by `delay` plus a random share of `jitter`.
        ///
        /// Order is preserved: a chunk never overtakes an earlier one, so jitter stretches gaps but never
        /// reorders bytes. A request and its reply cross the proxy twice, so a round trip gains at least
        /// twice `delay`.
        ///
        /// - Parameters:
        ///   - delay: The minimum delay per direction.
        ///   - jitter: The upper bound of a uniformly random extra delay per chunk.
        public static func latency(_ delay: Duration, jitter: Duration = .zero) -> Mode {
            precondition(delay >= .zero && jitter >= .zero, "latency and jitter must not be negative")
            return Mode(.latency(delay, jitter: jitter))
        }

        /// Accepts connections and reads what is sent, but never forwards or answers anything:
        /// a network path that silently drops packets. Connects still succeed.
        public static var blackhole: Mode { Mode(.blackhole) }

        /// Resets (RST) every open connection, and every new one as soon as it is accepted, while the mode holds.
        /// The client sees `ECONNRESET`.
        public static var resetAll: Mode { Mode(.resetAll) }

        /// Closes each connection once it has forwarded `bytes` bytes, both directions together, counted
        /// from when the mode was set (for connections already open) or accepted. Cuts a reply in the middle
        /// when the limit falls inside it.
        ///
        /// - Parameter bytes: How many bytes each connection may still forward; 0 closes them all at once.
        public static func closeAfter(bytes: Int) -> Mode {
            precondition(bytes >= 0, "the byte limit must not be negative")
            return Mode(.closeAfter(bytes))
        }

        /// Closes the listening socket so new connections are refused (`ECONNREFUSED`); open connections
        /// keep passing through. Any other mode listens again on the same port.
        public static var refuse: Mode { Mode(.refuse) }

        public var description: String {
            switch kind {
            case .passThrough: "passThrough"
            case .latency(let delay, let jitter): "latency(\(delay), jitter: \(jitter))"
            case .blackhole: "blackhole"
            case .resetAll: "resetAll"
            case .closeAfter(let bytes): "closeAfter(bytes: \(bytes))"
            case .refuse: "refuse"
            }
        }
    }

    /// The port clients connect to, on 127.0.0.1; it stays the same through ``Mode/refuse``.
    public let port: Int
    /// The address the proxy listens on, always `127.0.0.1`.
    public let host: String = "127.0.0.1"
    /// Where connections are forwarded.
    public let upstreamHost: String
    /// Where connections are forwarded.
    public let upstreamPort: Int

    private let shared: ProxyShared
    private let thread: pthread_t

    private init(port: Int, upstreamHost: String, upstreamPort: Int, shared: ProxyShared, thread: pthread_t) {
        self.port = port
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        self.shared = shared
        self.thread = thread
    }

    deinit {
        stop()
    }

    /// Starts a proxy on a free loopback port (never 6379) forwarding to `upstreamHost`:`upstreamPort`.
    ///
    /// ```swift
    /// let proxy = try FaultProxy.start(upstreamPort: server.port)
    /// defer { proxy.stop() }
    /// ```
    ///
    /// - Parameters:
    ///   - upstreamHost: An IPv4 address (or `localhost`) of the server to forward to.
    ///   - upstreamPort: The server's port. Nothing needs to listen there yet: connections made while
    ///     the upstream is down are reset.
    /// - Returns: The running proxy, in ``Mode/passThrough``. Call ``stop()`` when done.
    public static func start(upstreamHost: String = "127.0.0.1", upstreamPort: Int) throws -> FaultProxy {
        let upstream = try Posix.ipv4Address(host: upstreamHost, port: upstreamPort)
        let (listener, port) = try listenOnFreePort()
        let shared: ProxyShared
        do {
            shared = try ProxyShared()
        } catch {
            close(listener)
            throw error
        }
        let loop = ProxyLoop(shared: shared, listener: listener, port: port, upstream: upstream)
        // A pthread rather than Foundation's Thread: stop() must be able to join it.
        let context = Unmanaged.passRetained(loop).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread,
            nil,
            { context in
                Unmanaged<ProxyLoop>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            },
            context
        )
        guard result == 0 else {
            Unmanaged<ProxyLoop>.fromOpaque(context).release()
            close(listener)
            throw Posix.failure("pthread_create", errno: result)
        }
        return FaultProxy(
            port: port, upstreamHost: upstreamHost, upstreamPort: upstreamPort, shared: shared, thread: thread)
    }

    /// A listening socket on a port the kernel picks, never 6379 (a developer's own Redis may want it later).
    private static func listenOnFreePort() throws(RedisTestSupportError) -> (Int32, Int) {
        for _ in 0..<16 {
            let listener = try Posix.listenLoopback(port: 0)
            let port: Int
            do {
                port = try Posix.localPort(of: listener)
            } catch {
                close(listener)
                throw error
            }
            if port != Posix.defaultRedisPort {
                return (listener, port)
            }
            close(listener)
        }
        throw RedisTestSupportError(.systemCallFailed, "the kernel kept handing out port \(Posix.defaultRedisPort)")
    }

    /// The mode most recently set (it may still be being applied).
    public var mode: Mode { shared.control.withLock { $0.mode } }

    /// Switches the mode and returns once the proxy thread has applied it.
    ///
    /// After it returns the fault is in effect: with ``Mode/refuse`` the next connect is refused, with
    /// ``Mode/resetAll`` every connection has been reset, with ``Mode/passThrough`` after `refuse` the port
    /// listens again.
    ///
    /// ```swift
    /// try await proxy.setMode(.refuse)
    /// try await proxy.setMode(.passThrough)
    /// ```
    ///
    /// - Throws: ``RedisTestSupportError`` with code `proxyStopped` after ``stop()``, `systemCallFailed`
    ///   if the port cannot be listened on again (the proxy keeps trying).
    public func setMode(_ mode: Mode) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = shared.control.withLock { control in
                guard !control.isStopping else { return false }
                control.mode = mode
                control.generation += 1
                control.waiters.append((control.generation, continuation))
                return true
            }
            if accepted {
                shared.wake()
            } else {
                continuation.resume(
                    throwing: RedisTestSupportError(.proxyStopped, "the proxy on port \(port) was stopped"))
            }
        }
    }

    /// How many proxied connections are open now.
    public var connectionCount: Int { shared.openConnections.load(ordering: .relaxed) }

    /// How many connections the proxy has accepted since it started (reset ones included).
    public var acceptedConnectionCount: Int { shared.acceptedConnections.load(ordering: .relaxed) }

    /// How many bytes the proxy has written to clients and upstream together since it started.
    public var bytesForwarded: Int { shared.bytesForwarded.load(ordering: .relaxed) }

    /// Closes the listener and every connection and joins the proxy thread. Idempotent; `deinit` calls it.
    ///
    /// Blocks the calling thread only while the proxy thread finishes its current loop turn, which is
    /// woken at once.
    public func stop() {
        let isFirstCall = shared.control.withLock { control in
            defer { control.isStopping = true }
            return !control.isStopping
        }
        guard isFirstCall else { return }
        shared.wake()
        pthread_join(thread, nil)
    }
}

/// The state the caller's side and the proxy thread share.
final class ProxyShared: Sendable {
    struct Control {
        var mode: FaultProxy.Mode = .passThrough
        /// Bumped by every setMode; the thread acknowledges waiters up to the generation it applied.
        var generation: UInt64 = 0
        var waiters: [(generation: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var isStopping = false
    }

    let control = Mutex(Control())
    let bytesForwarded = Atomic<Int>(0)
    let openConnections = Atomic<Int>(0)
    let acceptedConnections = Atomic<Int>(0)
    /// A socket pair: a byte written to `wakeWriter` ends the proxy thread's `poll` at once.
    let wakeWriter: Int32
    let wakeReader: Int32

    init() throws(RedisTestSupportError) {
        var ends: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        guard socketpair(AF_UNIX, type, 0, &ends) == 0 else {
            throw Posix.failure("socketpair")
        }
        wakeReader = ends[0]
        wakeWriter = ends[1]
    }

    deinit {
        close(wakeReader)
        close(wakeWriter)
    }

    func wake() {
        var byte: UInt8 = 1
        // A full buffer means a wake-up is already pending: nothing is lost by dropping this one.
        _ = send(wakeWriter, &byte, 1, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
    }

    func drainWakeups() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while recv(wakeReader, &buffer, buffer.count, Int32(MSG_DONTWAIT)) > 0 {}
    }
}
