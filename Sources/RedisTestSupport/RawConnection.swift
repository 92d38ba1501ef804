import Glibc

/// A bare TCP (or Unix socket) connection that speaks RESP by hand, for tests that must see what the wire does.
///
/// A client library hides resets, timeouts and half-read replies behind retries and reconnects; a fault
/// test needs to observe them. `RawConnection` sends exactly the bytes asked for and reports exactly what
/// comes back: a reply, a timeout, an end of file or a reset, each as a distinct
/// ``RedisTestSupportError/Code``.
///
/// Every wait is bounded by a timeout and never blocks a thread: the socket is non-blocking and the
/// connection polls it between short `Task.sleep`s, so a hung server cannot stall Swift's cooperative
/// pool (two threads on a two-core machine). Task cancellation ends a wait promptly.
///
/// One task uses a connection at a time; it is deliberately not `Sendable`.
///
/// ```swift
/// let connection = try await RawConnection.connect(port: server.port)
/// #expect(try await connection.command("PING") == .simpleString("PONG"))
/// server.hang()
/// await #expect(throws: RedisTestSupportError.self) {
///     try await connection.command("PING", timeout: .milliseconds(200))
/// }
/// ```
public final class RawConnection {
    /// A RESP2 reply.
    public enum Reply: Hashable, Sendable, CustomStringConvertible {
        /// `+OK`, `+PONG`.
        case simpleString(String)
        /// `-ERR ...`, `-NOAUTH ...`: the whole line after the dash, code included.
        case error(String)
        /// `:42`.
        case integer(Int)
        /// `$3\r\nbar`; `nil` for the null bulk string `$-1`.
        case bulkString([UInt8]?)
        /// `*2\r\n...`; `nil` for the null array `*-1`.
        case array([Reply]?)

        /// A bulk string reply holding the UTF-8 bytes of `text`, for comparisons in tests.
        public static func bulkString(_ text: String) -> Reply {
            .bulkString(Array(text.utf8))
        }

        /// The text of a simple string, error or bulk string reply; `nil` for other replies.
        public var string: String? {
            switch self {
            case .simpleString(let text), .error(let text): text
            case .bulkString(let bytes?): String(decoding: bytes, as: UTF8.self)
            default: nil
            }
        }

        public var description: String {
            switch self {
            case .simpleString(let text): "+\(text)"
            case .error(let text): "-\(text)"
            case .integer(let value): ":\(value)"
            case .bulkString(nil): "(nil)"
            case .bulkString(let bytes?): "\"\(String(decoding: bytes, as: UTF8.self))\""
            case .array(nil): "(nil array)"
            case .array(let items?): "[" + items.map(\.description).joined(separator: ", ") + "]"
            }
        }
    }

    private var fd: Int32
    /// Bytes received but not yet consumed by ``readReply(timeout:)``.
    private var buffer: [UInt8] = []
    private let peer: String

    private init(fd: Int32, peer: String) {
        self.fd = fd
        self.peer = peer
    }

    deinit {
        if fd >= 0 {
            Glibc.close(fd)
        }
    }

    /// Opens a TCP connection to `host`:`port`.
    ///
    /// - Parameters:
    ///   - host: An IPv4 address; loopback in practice.
    ///   - port: The port to connect to.
    ///   - timeout: How long the connection may take to be established.
    /// - Throws: ``RedisTestSupportError`` with code `connectionRefused` when nothing listens there,
    ///   `connectionReset` when the peer resets it at once, `timeout` when the handshake does not complete
    ///   in time.
    public static func connect(
        host: String = "127.0.0.1",
        port: Int,
        timeout: Duration = .seconds(2)
    ) async throws -> RawConnection {
        let address = try Posix.ipv4Address(host: host, port: port)
        let fd = try Posix.makeStreamSocket(family: AF_INET, nonBlocking: true)
        let connection = RawConnection(fd: fd, peer: "\(host):\(port)")
        let result = Posix.withSockaddr(address) { Glibc.connect(fd, $0, $1) }
        try await connection.finishConnect(result: result, error: errno, timeout: timeout)
        return connection
    }

    /// Opens a connection to the Unix socket at `path` (see ``RedisServer/Options-swift.struct/unixSocket``).
    ///
    /// - Parameters:
    ///   - path: The socket file.
    ///   - timeout: How long the connection may take to be established.
    public static func connect(unixSocketPath path: String, timeout: Duration = .seconds(2)) async throws
        -> RawConnection
    {
        let address = try Posix.unixAddress(path: path)
        let fd = try Posix.makeStreamSocket(family: AF_UNIX, nonBlocking: true)
        let connection = RawConnection(fd: fd, peer: path)
        let result = Posix.withSockaddr(address) { Glibc.connect(fd, $0, $1) }
        try await connection.finishConnect(result: result, error: errno, timeout: timeout)
        return connection
    }

    private func finishConnect(result: Int32, error: Int32, timeout: Duration) async throws {
        if result == 0 {
            return
        }
        switch error {
        case EINPROGRESS, EAGAIN:
            try await waitFor(Int16(POLLOUT), until: .now + timeout, doing: "connect to \(peer)")
            let pending = Posix.pendingError(of: fd)
            if pending != 0 {
                throw connectError(pending)
            }
        default:
            throw connectError(error)
        }
    }

    private func connectError(_ error: Int32) -> RedisTestSupportError {
        switch error {
        case ECONNREFUSED, ENOENT:
            RedisTestSupportError(.connectionRefused, "connection to \(peer) refused", errno: error)
        case ECONNRESET:
            // Accepted and reset at once (a proxy in `.resetAll`), before the handshake was even reported.
            RedisTestSupportError(.connectionReset, "\(peer) reset the connection while connecting", errno: error)
        default:
            Posix.failure("connect(\(peer))", errno: error)
        }
    }

    /// Whether the connection is still open on this side.
    public var isOpen: Bool { fd >= 0 }

    /// Closes the connection (a FIN). Idempotent.
    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Sends `bytes` as they are.
    ///
    /// - Parameters:
    ///   - bytes: The bytes to write; nothing is added.
    ///   - timeout: How long the kernel may take to accept them all.
    public func send(_ bytes: [UInt8], timeout: Duration = .seconds(2)) async throws {
        let deadline = ContinuousClock.now + timeout
        var offset = 0
        while offset < bytes.count {
            try checkOpen()
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                offset += written
                continue
            }
            let error = errno
            switch error {
            case EAGAIN, EINTR:
                try await waitFor(Int16(POLLOUT), until: deadline, doing: "send to \(peer)")
            case ECONNRESET, EPIPE:
                throw RedisTestSupportError(
                    .connectionReset, "\(peer) reset the connection while sending", errno: error)
            default:
                throw Posix.failure("send(\(peer))", errno: error)
            }
        }
    }

    /// Sends `text` encoded as UTF-8, as it is (write `\r\n` yourself).
    public func send(_ text: String, timeout: Duration = .seconds(2)) async throws {
        try await send(Array(text.utf8), timeout: timeout)
    }

    /// Waits for bytes and returns whatever arrived (at least one byte).
    ///
    /// Bytes left over by ``readReply(timeout:)`` are returned first.
    ///
    /// - Parameter timeout: How long to wait for the first byte.
    /// - Throws: ``RedisTestSupportError`` with code `timeout` when nothing arrives in time,
    ///   `connectionClosed` on end of file, `connectionReset` on `ECONNRESET`.
    public func receive(timeout: Duration = .seconds(2)) async throws -> [UInt8] {
        if !buffer.isEmpty {
            defer { buffer.removeAll() }
            return buffer
        }
        return try await receiveFromSocket(until: .now + timeout)
    }

    private func receiveFromSocket(until deadline: ContinuousClock.Instant) async throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            try checkOpen()
            let count = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                return Array(chunk[0..<count])
            }
            if count == 0 {
                throw RedisTestSupportError(.connectionClosed, "\(peer) closed the connection")
            }
            let error = errno
            switch error {
            case EAGAIN, EINTR:
                try await waitFor(Int16(POLLIN), until: deadline, doing: "receive from \(peer)")
            case ECONNRESET:
                throw RedisTestSupportError(.connectionReset, "\(peer) reset the connection", errno: error)
            default:
                throw Posix.failure("recv(\(peer))", errno: error)
            }
        }
    }

    /// Reads one complete RESP reply.
    ///
    /// - Parameter timeout: How long the whole reply may take to arrive.
    /// - Throws: ``RedisTestSupportError`` with code `timeout`, `connectionClosed` (also when the peer
    ///   closed in the middle of a reply), `connectionReset` or `protocolError`.
    public func readReply(timeout: Duration = .seconds(2)) async throws -> Reply {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let (reply, consumed) = try Self.parse(buffer, at: 0) {
                buffer.removeFirst(consumed)
                return reply
            }
            buffer += try await receiveFromSocket(until: deadline)
        }
    }

    /// Sends a command as a RESP array of bulk strings and reads its reply.
    ///
    /// ```swift
    /// #expect(try await connection.command("AUTH", "alice", "secret") == .simpleString("OK"))
    /// ```
    ///
    /// - Parameters:
    ///   - arguments: The command and its arguments, for instance `"SET", "key", "value"`.
    ///   - timeout: How long the reply may take (sending has its own bound of the same length).
    public func command(_ arguments: String..., timeout: Duration = .seconds(2)) async throws -> Reply {
        try await send(Self.encode(arguments), timeout: timeout)
        return try await readReply(timeout: timeout)
    }

    /// The RESP encoding of a command: an array of bulk strings, as every Redis client sends it.
    public static func encode(_ arguments: [String]) -> [UInt8] {
        var bytes = Array("*\(arguments.count)\r\n".utf8)
        for argument in arguments {
            let utf8 = Array(argument.utf8)
            bytes += Array("$\(utf8.count)\r\n".utf8)
            bytes += utf8
            bytes += [13, 10]
        }
        return bytes
    }

    /// Parses one reply starting at `start`; `nil` when the bytes so far are only part of a reply.
    static func parse(_ bytes: [UInt8], at start: Int) throws(RedisTestSupportError) -> (Reply, Int)? {
        guard start < bytes.count, let lineEnd = lineEnd(in: bytes, from: start + 1) else {
            return nil
        }
        let line = String(decoding: bytes[(start + 1)..<lineEnd], as: UTF8.self)
        let next = lineEnd + 2
        switch bytes[start] {
        case UInt8(ascii: "+"):
            return (.simpleString(line), next)
        case UInt8(ascii: "-"):
            return (.error(line), next)
        case UInt8(ascii: ":"):
            return (.integer(try integer(line)), next)
        case UInt8(ascii: "$"):
            let length = try integer(line)
            if length < 0 {
                return (.bulkString(nil), next)
            }
            guard bytes.count >= next + length + 2 else {
                return nil
            }
            return (.bulkString(Array(bytes[next..<(next + length)])), next + length + 2)
        case UInt8(ascii: "*"):
            let count = try integer(line)
            if count < 0 {
                return (.array(nil), next)
            }
            var items: [Reply] = []
            var position = next
            for _ in 0..<count {
                guard let (item, after) = try parse(bytes, at: position) else {
                    return nil
                }
                items.append(item)
                position = after
            }
            return (.array(items), position)
        default:
            throw RedisTestSupportError(.protocolError, "unexpected RESP type byte \(bytes[start])")
        }
    }

    private static func integer(_ line: String) throws(RedisTestSupportError) -> Int {
        guard let value = Int(line) else {
            throw RedisTestSupportError(.protocolError, "'\(line)' is not a RESP integer")
        }
        return value
    }

    private static func lineEnd(in bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == 13 && bytes[index + 1] == 10 {
                return index
            }
            index += 1
        }
        return nil
    }

    private func checkOpen() throws(RedisTestSupportError) {
        guard fd >= 0 else {
            throw RedisTestSupportError(.connectionClosed, "the connection to \(peer) was closed on this side")
        }
    }

    /// Waits until `events` are ready on the socket (or it failed), without blocking a thread.
    private func waitFor(_ events: Int16, until deadline: ContinuousClock.Instant, doing what: String) async throws {
        // Short sleeps that grow to a few milliseconds: quick to notice a fast reply, cheap while waiting
        // for a hung server. A blocking poll would pin one of the cooperative pool's threads instead.
        var pause = Duration.microseconds(200)
        while true {
            try checkOpen()
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            if poll(&descriptor, 1, 0) > 0 {
                return
            }
            let now = ContinuousClock.now
            if now >= deadline {
                throw RedisTestSupportError(.timeout, "timed out waiting to \(what)")
            }
            try await Task.sleep(for: min(pause, deadline - now))
            pause = min(pause * 2, .milliseconds(5))
        }
    }
}

@available(*, unavailable, message: "A RawConnection belongs to one task at a time")
extension RawConnection: Sendable {}
