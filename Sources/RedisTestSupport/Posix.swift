import Glibc

/// The few POSIX socket calls the test support needs, each turning a failure into a ``RedisTestSupportError``.
///
/// Every socket is created with `SOCK_CLOEXEC`: a listening socket inherited by a redis-server started
/// later would keep its port open after the proxy closed it, and `.refuse` would stop refusing.
enum Posix {
    /// The port that must never be used: a developer's own Redis may listen there.
    static let defaultRedisPort = 6379

    /// The text of an `errno` value.
    static func describe(_ error: Int32) -> String {
        String(cString: strerror(error))
    }

    /// An error for a failed system call, with `errno` captured at the call site.
    static func failure(
        _ call: String,
        errno error: Int32 = errno,
        file: String = #fileID,
        line: Int = #line
    ) -> RedisTestSupportError {
        RedisTestSupportError(
            .systemCallFailed,
            "\(call) failed: \(describe(error)) (errno \(error))",
            errno: error,
            file: file,
            line: line
        )
    }

    /// A new TCP or Unix stream socket, close-on-exec, optionally non-blocking.
    static func makeStreamSocket(family: Int32 = AF_INET, nonBlocking: Bool) throws(RedisTestSupportError) -> Int32 {
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking {
            type |= Int32(SOCK_NONBLOCK.rawValue)
        }
        let fd = socket(family, type, 0)
        guard fd >= 0 else {
            throw failure("socket")
        }
        return fd
    }

    /// Makes an existing descriptor (an accepted socket) non-blocking and close-on-exec.
    static func makeNonBlockingCloseOnExec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
    }

    /// An IPv4 socket address for `host` (a dotted quad or `localhost`) and `port`.
    static func ipv4Address(host: String, port: Int) throws(RedisTestSupportError) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let numericHost = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, numericHost, &address.sin_addr) == 1 else {
            throw RedisTestSupportError(
                .systemCallFailed,
                "'\(host)' is not an IPv4 address; the test support only speaks to loopback addresses"
            )
        }
        return address
    }

    /// Calls `body` with `address` viewed as the generic `sockaddr` the socket calls take.
    static func withSockaddr<Address, Result>(
        _ address: Address,
        _ body: (UnsafePointer<sockaddr>, socklen_t) -> Result
    ) -> Result {
        withUnsafePointer(to: address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<Address>.size))
            }
        }
    }

    /// A Unix socket address for `path`.
    static func unixAddress(path: String) throws(RedisTestSupportError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            throw RedisTestSupportError(
                .systemCallFailed, "Unix socket path is too long (\(bytes.count) bytes): \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        return address
    }

    /// Binds `fd` to 127.0.0.1:`port`; returns `errno` on failure so callers can retry on `EADDRINUSE`.
    static func bindLoopback(_ fd: Int32, port: Int) -> Int32? {
        guard let address = try? ipv4Address(host: "127.0.0.1", port: port) else { return EINVAL }
        // Without SO_REUSEADDR a port just released by a killed redis-server stays unusable while its old
        // connections sit in TIME_WAIT; redis-server sets the same option, so the two can take turns.
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let result = withSockaddr(address) { bind(fd, $0, $1) }
        return result == 0 ? nil : errno
    }

    /// The local port a bound socket got from the kernel.
    static func localPort(of fd: Int32) throws(RedisTestSupportError) -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else {
            throw failure("getsockname")
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A loopback port nobody listens on right now, chosen by the kernel (binding to port 0) and never 6379.
    ///
    /// The socket is closed before returning, so another process may take the port before the caller
    /// binds it: callers retry with a fresh port when that happens.
    static func freeLoopbackPort() throws(RedisTestSupportError) -> Int {
        for _ in 0..<16 {
            let fd = try makeStreamSocket(nonBlocking: false)
            defer { close(fd) }
            if let error = bindLoopback(fd, port: 0) {
                throw failure("bind(127.0.0.1:0)", errno: error)
            }
            let port = try localPort(of: fd)
            if port != defaultRedisPort {
                return port
            }
        }
        throw RedisTestSupportError(.systemCallFailed, "the kernel kept handing out port \(defaultRedisPort)")
    }

    /// A non-blocking listening socket on 127.0.0.1:`port` (0 picks a free port).
    static func listenLoopback(port: Int) throws(RedisTestSupportError) -> Int32 {
        let fd = try makeStreamSocket(nonBlocking: true)
        if let error = bindLoopback(fd, port: port) {
            close(fd)
            throw failure("bind(127.0.0.1:\(port))", errno: error)
        }
        guard listen(fd, 128) == 0 else {
            let error = errno
            close(fd)
            throw failure("listen", errno: error)
        }
        return fd
    }

    /// Closes `fd` with an RST instead of a FIN: SO_LINGER with a zero timeout discards unsent data and
    /// aborts the connection, which the peer sees as `ECONNRESET`.
    static func abortiveClose(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    /// The pending error of a socket (the outcome of a non-blocking connect).
    static func pendingError(of fd: Int32) -> Int32 {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return errno }
        return error
    }

    /// Milliseconds for `poll`, rounded up so a wake-up never comes before the instant asked for.
    static func pollTimeout(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) {
            return 0
        }
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: milliseconds)
    }
}
