internal import CHiredis

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A connected, non-blocking TCP or Unix stream socket, waited on with `poll` until a deadline.
///
/// It owns its descriptor and closes it in `deinit`. Every wait takes a deadline on the monotonic clock
/// (``monotonicNanoseconds()``); `.max` waits without bound, which is how commands wait: their deadlines are
/// enforced by ``DeadlineWatchdog``, whose `shutdown(2)` of the descriptor ends any wait here.
final class Socket {
    /// The descriptor, for `poll` and for `shutdown(2)` from another thread.
    let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// What ``wait(for:until:)`` waits for.
    enum Readiness {
        case readable
        case writable

        var events: Int16 { Int16(self == .readable ? POLLIN : POLLOUT) }
    }

    /// Connects to `endpoint`, trying each address a host name resolves to, until `deadline`.
    ///
    /// - Throws: ``RedisClientError/Code/connectionRefused`` when nothing listens (or the Unix socket does not
    ///   exist), ``RedisClientError/Code/timeout`` when the deadline passes, and
    ///   ``RedisClientError/Code/connectionFailed`` for anything else (a name that does not resolve…).
    static func connect(
        to endpoint: RedisClientConfiguration.Endpoint,
        deadline: UInt64
    ) throws(RedisClientError) -> Socket {
        switch endpoint.base {
        case .tcp(let host, let port):
            return try connectTCP(host: host, port: port, endpoint: endpoint, deadline: deadline)
        case .unix(let path):
            return try connectUnix(path: path, endpoint: endpoint, deadline: deadline)
        }
    }

    private static func connectTCP(
        host: String,
        port: Int,
        endpoint: RedisClientConfiguration.Endpoint,
        deadline: UInt64
    ) throws(RedisClientError) -> Socket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var addresses: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &addresses)
        guard status == 0, let addresses else {
            throw RedisClientError(
                .connectionFailed,
                "connecting to \(endpoint) failed: cannot resolve \(host): \(String(cString: gai_strerror(status)))"
            )
        }
        defer { freeaddrinfo(addresses) }
        var lastError: Int32 = ECONNREFUSED
        var next: UnsafeMutablePointer<addrinfo>? = addresses
        while let address = next {
            next = address.pointee.ai_next
            let descriptor = socket(
                address.pointee.ai_family,
                Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                address.pointee.ai_protocol
            )
            guard descriptor >= 0 else {
                lastError = errno
                continue
            }
            let made = Socket(descriptor: descriptor)
            if Glibc.connect(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen) != 0 {
                guard errno == EINPROGRESS else {
                    lastError = errno
                    continue
                }
                do {
                    try made.wait(for: .writable, until: deadline)
                } catch {
                    throw RedisClientError(.timeout, "connecting to \(endpoint) timed out")
                }
                let pending = made.pendingError
                guard pending == 0 else {
                    lastError = pending
                    continue
                }
            }
            var on: Int32 = 1
            setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            return made
        }
        throw connectError(lastError, endpoint: endpoint)
    }

    private static func connectUnix(
        path: String,
        endpoint: RedisClientConfiguration.Endpoint,
        deadline: UInt64
    ) throws(RedisClientError) -> Socket {
        let descriptor = socket(
            AF_UNIX,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
            0
        )
        guard descriptor >= 0 else { throw connectError(errno, endpoint: endpoint) }
        let made = Socket(descriptor: descriptor)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // The configuration checked that the path fits, with its NUL.
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        while true {
            let status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if status == 0 { return made }
            let code = errno
            // A Unix socket whose backlog is full refuses with EAGAIN and never completes later: try again.
            guard code == EAGAIN || code == EINTR else { throw connectError(code, endpoint: endpoint) }
            guard monotonicNanoseconds() < deadline else {
                throw RedisClientError(.timeout, "connecting to \(endpoint) timed out")
            }
            usleep(1_000)
        }
    }

    private static func connectError(_ code: Int32, endpoint: RedisClientConfiguration.Endpoint) -> RedisClientError {
        let detail = String(cString: strerror(code))
        if code == ECONNREFUSED || code == ENOENT {
            return RedisClientError(.connectionRefused, "connection to \(endpoint) refused: \(detail)")
        }
        if code == ETIMEDOUT {
            return RedisClientError(.timeout, "connecting to \(endpoint) timed out")
        }
        return RedisClientError(.connectionFailed, "connecting to \(endpoint) failed: \(detail)")
    }

    /// The error a non-blocking connect ended with, 0 when it succeeded.
    private var pendingError: Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { return errno }
        return code
    }

    /// Turns on TCP keepalive: probes after 15 s idle, every 5 s, 3 of them, as hiredis's `redisEnableKeepAlive`.
    func enableKeepAlive() {
        func set(_ level: Int32, _ option: Int32, _ value: Int32) {
            var value = value
            setsockopt(descriptor, level, option, &value, socklen_t(MemoryLayout<Int32>.size))
        }
        set(SOL_SOCKET, SO_KEEPALIVE, 1)
        set(Int32(IPPROTO_TCP), TCP_KEEPIDLE, 15)
        set(Int32(IPPROTO_TCP), TCP_KEEPINTVL, 5)
        set(Int32(IPPROTO_TCP), TCP_KEEPCNT, 3)
    }

    /// Switches the socket between blocking and non-blocking mode.
    ///
    /// A wait without deadline is one blocking `recv` instead of `recv`, `poll` and `recv` again: at high
    /// concurrency that is a third of the system calls per batch. A blocked call still ends at once when the
    /// socket is shut down (what ``DeadlineWatchdog`` and `close()` do).
    func setBlocking(_ blocking: Bool) {
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0 else { return }
        let wanted = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK
        if wanted != flags { _ = fcntl(descriptor, F_SETFL, wanted) }
    }

    /// Waits until the socket is ready for `readiness`, has failed or was shut down.
    ///
    /// - Throws: ``RedisClientError/Code/timeout`` once `deadline` has passed.
    func wait(for readiness: Readiness, until deadline: UInt64) throws(RedisClientError) {
        var entry = pollfd(fd: descriptor, events: readiness.events, revents: 0)
        while true {
            var timeout: Int32 = -1
            if deadline != .max {
                let now = monotonicNanoseconds()
                guard now < deadline else {
                    throw RedisClientError(.timeout, readiness == .readable ? "read timed out" : "write timed out")
                }
                // Rounded up, so the wait never ends just before the deadline and spins.
                timeout = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            }
            let ready = poll(&entry, 1, timeout)
            // Readiness, an error or a hang-up: the next read or write says which.
            if ready > 0 { return }
            if ready < 0 && errno != EINTR {
                throw RedisClientError(
                    .connectionLost, "connection lost: poll failed: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Whether the peer has closed its side or the socket has failed, without waiting: what an idle connection
    /// looks like after the server dropped it (its `timeout` setting, `CLIENT KILL`, a restart, a proxy's idle
    /// cut). Bytes waiting to be read do not count: with TLS they may be a session ticket.
    var peerHasClosed: Bool {
        var entry = pollfd(fd: descriptor, events: Self.pollReadHangUp, revents: 0)
        guard poll(&entry, 1, 0) > 0 else { return false }
        return entry.revents & (Self.pollReadHangUp | Int16(POLLHUP | POLLERR)) != 0
    }

    /// Linux's `POLLRDHUP` (the peer shut down its writing side), which Glibc's module leaves out (it needs
    /// `_GNU_SOURCE`).
    private static let pollReadHangUp: Int16 = 0x2000

    /// Reads what is available, waiting until `deadline` for something to come.
    ///
    /// - Returns: how many bytes were read, at least one.
    /// - Throws: ``RedisClientError/Code/connectionLost`` when the peer closed or the read failed,
    ///   ``RedisClientError/Code/timeout`` when the deadline passed.
    func read(into buffer: UnsafeMutableRawBufferPointer, until deadline: UInt64) throws(RedisClientError) -> Int {
        while true {
            if let count = try readNow(into: buffer) { return count }
            try wait(for: .readable, until: deadline)
        }
    }

    /// Writes all of `bytes`, waiting until `deadline` whenever the socket's send buffer is full.
    func write(_ bytes: UnsafeRawBufferPointer, until deadline: UInt64) throws(RedisClientError) {
        var offset = 0
        while true {
            offset += try writeNow(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            if offset == bytes.count { return }
            try wait(for: .writable, until: deadline)
        }
    }

    /// Reads what is available now, without waiting.
    ///
    /// - Returns: how many bytes were read, at least one, or `nil` when nothing is available.
    /// - Throws: ``RedisClientError/Code/connectionLost`` when the peer closed or the read failed.
    func readNow(into buffer: UnsafeMutableRawBufferPointer) throws(RedisClientError) -> Int? {
        while true {
            let count = recv(descriptor, buffer.baseAddress, buffer.count, 0)
            if count > 0 { return count }
            if count == 0 { throw RedisClientError(.connectionLost, "server closed the connection") }
            switch errno {
            case EINTR: continue
            case EAGAIN: return nil
            case let code: throw Self.lost(code)
            }
        }
    }

    /// Writes as much of `bytes` as the send buffer takes now, without waiting; returns how many bytes it wrote.
    func writeNow(_ bytes: UnsafeRawBufferPointer) throws(RedisClientError) -> Int {
        var offset = 0
        while offset < bytes.count {
            let count = send(descriptor, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if count >= 0 {
                offset += count
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN: return offset
            case let code: throw Self.lost(code)
            }
        }
        return offset
    }

    static func lost(_ code: Int32) -> RedisClientError {
        RedisClientError(.connectionLost, "connection lost: \(String(cString: strerror(code)))")
    }
}
