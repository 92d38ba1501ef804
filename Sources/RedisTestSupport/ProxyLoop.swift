import Glibc
import Synchronization

/// The event loop of a ``FaultProxy``: runs on the proxy's own thread and owns every socket it uses.
///
/// One `poll` loop over non-blocking sockets: accept, connect upstream, read what arrives, queue it with
/// the instant it may leave (the mode decides: now, later, never) and write what is due. Only this
/// thread touches the sockets and the queues; the caller's side talks to it through ``ProxyShared``.
final class ProxyLoop {
    /// One client connection and its upstream counterpart.
    private final class Connection {
        var client: Int32
        var upstream: Int32
        var upstreamConnected = false
        /// Bytes read from the client, waiting to go upstream.
        var toUpstream = Direction()
        /// Bytes read from upstream, waiting to go to the client.
        var toClient = Direction()
        /// Bytes forwarded since the current mode took effect (for ``FaultProxy/Mode/closeAfter(bytes:)``).
        var forwardedUnderMode = 0
        var isClosed = false

        init(client: Int32, upstream: Int32) {
            self.client = client
            self.upstream = upstream
        }
    }

    /// The bytes travelling one way, in order.
    private struct Direction {
        var chunks: [Chunk] = []
        var queuedBytes = 0
        /// The release instant of the last chunk queued: a later chunk never leaves before it.
        var lastRelease: ContinuousClock.Instant?
        /// The source sent end-of-file; once the queue is empty it is passed on with `shutdown`.
        var sourceClosed = false
        var shutdownSent = false
        /// The destination's send buffer was full at the last attempt: wait for POLLOUT.
        var blocked = false

        var isFinished: Bool { sourceClosed && shutdownSent }
    }

    private struct Chunk {
        var bytes: [UInt8]
        var offset = 0
        let releaseAt: ContinuousClock.Instant
    }

    /// Stop reading from a side while this much is queued for the other, so a stalled reader cannot make
    /// the proxy buffer without bound.
    private static let queueLimit = 1 << 20
    /// How long a failed re-listen (after ``FaultProxy/Mode/refuse``) is retried before setMode reports it.
    private static let relistenTimeout: Duration = .seconds(2)

    private let shared: ProxyShared
    private let port: Int
    private let upstreamAddress: sockaddr_in
    private var listener: Int32
    private var connections: [Connection] = []
    private var mode: FaultProxy.Mode = .passThrough
    private var appliedGeneration: UInt64 = 0
    private var relistenFailure: (since: ContinuousClock.Instant, error: RedisTestSupportError)?
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)

    init(shared: ProxyShared, listener: Int32, port: Int, upstream: sockaddr_in) {
        self.shared = shared
        self.listener = listener
        self.port = port
        self.upstreamAddress = upstream
    }

    // MARK: - Loop

    func run() {
        while applyControl() {
            let now = ContinuousClock.now
            for connection in connections {
                service(connection, now: now)
            }
            removeClosedConnections()

            var descriptors = [pollfd(fd: shared.wakeReader, events: Int16(POLLIN), revents: 0)]
            descriptors.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0))
            for connection in connections {
                let (clientEvents, upstreamEvents) = interest(in: connection)
                // A negative fd is skipped by poll: otherwise POLLHUP, which is always reported, would wake
                // the loop over and over for a socket it has nothing more to do with.
                descriptors.append(
                    pollfd(fd: clientEvents == 0 ? -1 : connection.client, events: clientEvents, revents: 0))
                descriptors.append(
                    pollfd(fd: upstreamEvents == 0 ? -1 : connection.upstream, events: upstreamEvents, revents: 0)
                )
            }
            let ready = poll(&descriptors, nfds_t(descriptors.count), pollTimeout(now: now))
            guard ready > 0 else { continue }

            if descriptors[0].revents != 0 {
                shared.drainWakeups()
            }
            // Accepting appends to `connections`: keep the list the descriptors were built from.
            let polled = connections
            if descriptors[1].revents != 0 {
                acceptConnections()
            }
            let readTime = ContinuousClock.now
            for (index, connection) in polled.enumerated() {
                let client = descriptors[2 + 2 * index].revents
                let upstream = descriptors[3 + 2 * index].revents
                handle(connection, clientEvents: client, upstreamEvents: upstream, now: readTime)
            }
        }
        shutDown()
    }

    /// Picks up a new mode (or a stop request) from the caller's side; returns `false` to stop.
    private func applyControl() -> Bool {
        let (requested, generation, isStopping) = shared.control.withLock { ($0.mode, $0.generation, $0.isStopping) }
        guard !isStopping else { return false }
        if generation != appliedGeneration {
            apply(requested)
            appliedGeneration = generation
            relistenFailure = nil
        }
        if mode != .refuse && listener < 0 {
            do {
                listener = try Posix.listenLoopback(port: port)
            } catch {
                // The port is briefly held by someone else: retry each turn, and answer the waiters after a while.
                if relistenFailure == nil {
                    relistenFailure = (ContinuousClock.now, error)
                }
            }
        }
        var failure: RedisTestSupportError?
        if let relistenFailure, listener < 0 {
            guard ContinuousClock.now - relistenFailure.since >= Self.relistenTimeout else {
                return true
            }
            failure = relistenFailure.error
        }
        acknowledgeWaiters(upTo: appliedGeneration, failure: failure)
        return true
    }

    private func apply(_ newMode: FaultProxy.Mode) {
        mode = newMode
        for connection in connections {
            connection.forwardedUnderMode = 0
        }
        switch newMode.kind {
        case .resetAll:
            for connection in connections {
                abort(connection)
            }
        case .refuse:
            if listener >= 0 {
                close(listener)
                listener = -1
            }
        case .passThrough, .latency, .blackhole, .closeAfter:
            break
        }
        removeClosedConnections()
    }

    private func acknowledgeWaiters(upTo generation: UInt64, failure: RedisTestSupportError?) {
        let due = shared.control.withLock { control in
            let due = control.waiters.filter { $0.generation <= generation }
            control.waiters.removeAll { $0.generation <= generation }
            return due
        }
        for waiter in due {
            if let failure {
                waiter.continuation.resume(throwing: failure)
            } else {
                waiter.continuation.resume()
            }
        }
    }

    private func shutDown() {
        for connection in connections {
            closeGracefully(connection)
        }
        removeClosedConnections()
        if listener >= 0 {
            close(listener)
            listener = -1
        }
        let waiters = shared.control.withLock { control in
            defer { control.waiters = [] }
            return control.waiters
        }
        for waiter in waiters {
            waiter.continuation.resume(
                throwing: RedisTestSupportError(.proxyStopped, "the proxy on port \(port) was stopped"))
        }
    }

    /// How long `poll` may sleep: until the next delayed chunk is due, a short retry while re-listening
    /// failed, or indefinitely (a wake-up byte ends it).
    private func pollTimeout(now: ContinuousClock.Instant) -> Int32 {
        if mode != .refuse && listener < 0 {
            return 20
        }
        guard mode != .blackhole else { return -1 }
        var earliest: ContinuousClock.Instant?
        for connection in connections {
            for direction in [connection.toUpstream, connection.toClient] {
                guard let first = direction.chunks.first, first.releaseAt > now else { continue }
                earliest = min(earliest ?? first.releaseAt, first.releaseAt)
            }
        }
        guard let earliest else { return -1 }
        return Posix.pollTimeout(earliest - now)
    }

    // MARK: - Connections

    private func acceptConnections() {
        guard listener >= 0 else { return }
        for _ in 0..<64 {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            shared.acceptedConnections.add(1, ordering: .relaxed)
            Posix.makeNonBlockingCloseOnExec(client)
            if mode == .resetAll {
                Posix.abortiveClose(client)
                continue
            }
            guard let upstream = try? Posix.makeStreamSocket(family: AF_INET, nonBlocking: true) else {
                Posix.abortiveClose(client)
                continue
            }
            setNoDelay(client)
            setNoDelay(upstream)
            let connection = Connection(client: client, upstream: upstream)
            let result = Posix.withSockaddr(upstreamAddress) { connect(upstream, $0, $1) }
            if result == 0 {
                connection.upstreamConnected = true
            } else if errno != EINPROGRESS {
                // The upstream is down: reset the client, the nearest a proxy can come to a refused connect.
                abort(connection)
                continue
            }
            connections.append(connection)
        }
    }

    /// Small writes (a RESP command) must go out at once: Nagle's algorithm would hold them back for
    /// an ACK and add delays no mode asked for.
    private func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// The poll events wanted for the client and the upstream socket.
    private func interest(in connection: Connection) -> (client: Int16, upstream: Int16) {
        var client: Int16 = 0
        var upstream: Int16 = 0
        let blackhole = mode == .blackhole
        if !connection.toUpstream.sourceClosed && (blackhole || connection.toUpstream.queuedBytes < Self.queueLimit) {
            client |= Int16(POLLIN)
        }
        if connection.toClient.blocked {
            client |= Int16(POLLOUT)
        }
        if !connection.upstreamConnected {
            upstream |= Int16(POLLOUT)
        } else {
            if !connection.toClient.sourceClosed && (blackhole || connection.toClient.queuedBytes < Self.queueLimit) {
                upstream |= Int16(POLLIN)
            }
            if connection.toUpstream.blocked {
                upstream |= Int16(POLLOUT)
            }
        }
        return (client, upstream)
    }

    private func handle(
        _ connection: Connection, clientEvents: Int16, upstreamEvents: Int16, now: ContinuousClock.Instant
    ) {
        guard !connection.isClosed else { return }
        let readable = Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)
        if !connection.upstreamConnected && upstreamEvents != 0 {
            guard Posix.pendingError(of: connection.upstream) == 0 else {
                abort(connection)
                return
            }
            connection.upstreamConnected = true
        } else if upstreamEvents & readable != 0 {
            guard read(from: connection.upstream, into: &connection.toClient, now: now) else {
                abort(connection)
                return
            }
        }
        if clientEvents & readable != 0 {
            guard read(from: connection.client, into: &connection.toUpstream, now: now) else {
                abort(connection)
                return
            }
        }
        if clientEvents & Int16(POLLOUT) != 0 {
            connection.toClient.blocked = false
        }
        if upstreamEvents & Int16(POLLOUT) != 0 {
            connection.toUpstream.blocked = false
        }
    }

    /// Reads what `fd` has and queues it, or drops it in a black hole; returns `false` on a socket error.
    private func read(from fd: Int32, into direction: inout Direction, now: ContinuousClock.Instant) -> Bool {
        let count = readBuffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            guard mode != .blackhole else { return true }
            var releaseAt = now
            if case .latency(let delay, let jitter) = mode.kind {
                releaseAt = now + delay + randomShare(of: jitter)
            }
            if let last = direction.lastRelease, last > releaseAt {
                releaseAt = last
            }
            direction.lastRelease = releaseAt
            direction.chunks.append(Chunk(bytes: Array(readBuffer[0..<count]), releaseAt: releaseAt))
            direction.queuedBytes += count
            return true
        }
        if count == 0 {
            direction.sourceClosed = true
            return true
        }
        return errno == EAGAIN || errno == EINTR
    }

    private func randomShare(of jitter: Duration) -> Duration {
        let (seconds, attoseconds) = jitter.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanoseconds))
    }

    /// Writes what is due on both directions of `connection` and closes it when it is done or over budget.
    private func service(_ connection: Connection, now: ContinuousClock.Instant) {
        guard !connection.isClosed else { return }
        if budgetExhausted(connection) {
            closeGracefully(connection)
            return
        }
        guard flush(&connection.toClient, to: connection.client, connection: connection, now: now),
            !connection.isClosed
        else {
            if !connection.isClosed { abort(connection) }
            return
        }
        if connection.upstreamConnected {
            guard flush(&connection.toUpstream, to: connection.upstream, connection: connection, now: now),
                !connection.isClosed
            else {
                if !connection.isClosed { abort(connection) }
                return
            }
        }
        if connection.toClient.isFinished && connection.toUpstream.isFinished {
            closeGracefully(connection)
        }
    }

    /// Writes the due chunks of `direction` to `fd`; returns `false` when the destination failed.
    private func flush(
        _ direction: inout Direction,
        to fd: Int32,
        connection: Connection,
        now: ContinuousClock.Instant
    ) -> Bool {
        // A black hole holds what was queued before it; it leaves when the mode changes.
        guard mode != .blackhole else { return true }
        while let first = direction.chunks.first, first.releaseAt <= now {
            var count = first.bytes.count - first.offset
            if case .closeAfter(let limit) = mode.kind {
                count = min(count, limit - connection.forwardedUnderMode)
                if count <= 0 {
                    closeGracefully(connection)
                    return true
                }
            }
            let written = first.bytes.withUnsafeBytes { bytes in
                send(fd, bytes.baseAddress! + first.offset, count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EAGAIN || errno == EINTR {
                    direction.blocked = true
                    return true
                }
                return false
            }
            shared.bytesForwarded.add(written, ordering: .relaxed)
            connection.forwardedUnderMode += written
            direction.queuedBytes -= written
            direction.chunks[0].offset += written
            if direction.chunks[0].offset == direction.chunks[0].bytes.count {
                direction.chunks.removeFirst()
            }
            if budgetExhausted(connection) {
                closeGracefully(connection)
                return true
            }
        }
        if direction.chunks.isEmpty && direction.sourceClosed && !direction.shutdownSent {
            shutdown(fd, Int32(SHUT_WR))
            direction.shutdownSent = true
        }
        return true
    }

    private func budgetExhausted(_ connection: Connection) -> Bool {
        guard case .closeAfter(let limit) = mode.kind else { return false }
        return connection.forwardedUnderMode >= limit
    }

    /// Closes both sockets with a FIN: the client reads end-of-file.
    private func closeGracefully(_ connection: Connection) {
        guard !connection.isClosed else { return }
        close(connection.client)
        close(connection.upstream)
        connection.isClosed = true
    }

    /// Closes both sockets with an RST: the client sees `ECONNRESET`.
    private func abort(_ connection: Connection) {
        guard !connection.isClosed else { return }
        Posix.abortiveClose(connection.client)
        Posix.abortiveClose(connection.upstream)
        connection.isClosed = true
    }

    private func removeClosedConnections() {
        connections.removeAll { $0.isClosed }
        shared.openConnections.store(connections.count, ordering: .relaxed)
    }
}
