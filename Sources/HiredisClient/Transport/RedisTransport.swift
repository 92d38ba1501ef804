/// A connection's byte stream to the server: its ``Socket``, its ``TLSSession`` when TLS is on, its buffers, and
/// the ``HiredisCodec`` that turns commands into bytes and bytes into replies.
///
/// Commands are encoded into one output buffer and leave in one write when the batch is flushed
/// (auto-pipelining); bytes read go straight into hiredis's reader's buffer. Not thread-safe: the
/// connection's I/O thread owns it (``RedisConnection``), or its event loop once the connect thread has handed it
/// over (``LoopConnection``).
final class RedisTransport {
    private let socket: Socket
    private let tls: TLSSession?
    private let codec = HiredisCodec()
    /// Encoded commands not yet written.
    private var output: [UInt8] = []
    /// Why the last ``flush()`` failed; the next ``readReply()`` throws it.
    private var writeError: RedisClientError?

    /// The instant reads and writes give up with ``RedisClientError/Code/timeout``; `.max`, the default, waits
    /// without bound (commands rely on ``DeadlineWatchdog`` to cut the socket).
    ///
    /// Without TLS and without a deadline, the socket blocks: a read that must wait is then one system call.
    var deadline: UInt64 = .max {
        didSet {
            if tls == nil, (oldValue == .max) != (deadline == .max) { socket.setBlocking(deadline == .max) }
        }
    }

    private static let retainedOutputCapacity = 1024 * 1024

    /// Takes over `socket`, with TLS on it when `tls` is given; ``startTLS(until:)`` runs its handshake.
    init(socket: Socket, tls: TLSSession?) {
        self.socket = socket
        self.tls = tls
    }

    /// The socket, for `poll` and for `shutdown(2)` from another thread.
    var fileDescriptor: Int32 { socket.descriptor }

    /// Whether the server has closed this connection while it sat idle (see ``Socket/peerHasClosed``).
    var peerHasClosed: Bool { socket.peerHasClosed }

    func enableKeepAlive() {
        socket.enableKeepAlive()
    }

    /// Runs the TLS handshake, if there is TLS, before anything else is sent.
    func startTLS(until deadline: UInt64) throws(RedisClientError) {
        try tls?.handshake(until: deadline)
    }

    /// Appends `command` to the output buffer; nothing is written until ``flush()`` or ``readReply()``.
    func append(_ command: RedisCommand) {
        codec.encode(command, into: &output)
    }

    /// Writes the whole output buffer. False when writing failed; the next ``readReply()`` throws the error.
    func flush() -> Bool {
        do throws(RedisClientError) {
            try write()
            return true
        } catch {
            writeError = error
            return false
        }
    }

    private func write() throws(RedisClientError) {
        if let writeError { throw writeError }
        guard !output.isEmpty else { return }
        let deadline = self.deadline
        let failure: RedisClientError? = output.withUnsafeBytes { bytes in
            do throws(RedisClientError) {
                if let tls {
                    try tls.write(bytes, until: deadline)
                } else {
                    try socket.write(bytes, until: deadline)
                }
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
        // A batch of large values should not pin its buffer for the life of the connection.
        if output.capacity > Self.retainedOutputCapacity {
            output = []
        } else {
            output.removeAll(keepingCapacity: true)
        }
    }

    /// Flushes the output buffer if needed and reads the next reply.
    ///
    /// - Returns: the reply; an error reply from the server is a `failure` (the connection is still usable).
    /// - Throws: the transport failure when the read or write failed (the connection is not usable any more).
    func readReply() throws(RedisClientError) -> Result<RedisReply, RedisClientError> {
        try write()
        while true {
            if let reply = try codec.nextReply() { return reply }
            // Bytes (decrypted, with TLS) go straight into hiredis's reader.
            let deadline = self.deadline
            if let tls {
                try codec.read { buffer throws(RedisClientError) in try tls.read(into: buffer, until: deadline) }
            } else {
                try codec.read { buffer throws(RedisClientError) in try socket.read(into: buffer, until: deadline) }
            }
        }
    }

    // MARK: - Non-blocking use, by an event loop

    /// Where the unwritten bytes of ``output`` start, in event-loop use: a write may take part of them.
    private var outputStart = 0
    /// The length of a TLS write OpenSSL asked to repeat, which must be repeated with the same bytes.
    private var tlsRetryLength = 0

    /// Puts the socket in non-blocking mode for good, for an event loop that waits with `epoll`; the blocking
    /// calls (``readReply()``, ``flush()``) must not be used afterwards.
    func enterEventLoop() {
        deadline = .max
        socket.setBlocking(false)
    }

    /// Whether encoded commands wait to be written.
    var hasPendingOutput: Bool { outputStart < output.count }

    /// What ``writeNow()`` and ``readNow()`` need before they can go on.
    enum Blocked {
        case onRead
        case onWrite
    }

    /// Writes as much of the output buffer as the socket takes now.
    ///
    /// - Returns: `nil` once everything is written, else what the write waits for.
    func writeNow() throws(RedisClientError) -> Blocked? {
        while outputStart < output.count {
            let start = outputStart
            let length = tlsRetryLength > 0 ? tlsRetryLength : output.count - start
            let outcome: Result<TLSSession.Step, RedisClientError> = output.withUnsafeBytes { bytes in
                let pending = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
                do throws(RedisClientError) {
                    if let tls { return .success(try tls.writeNow(pending)) }
                    let count = try socket.writeNow(pending)
                    return .success(count > 0 ? .transferred(count) : .wantsWrite)
                } catch {
                    return .failure(error)
                }
            }
            switch try outcome.get() {
            case .transferred(let count):
                tlsRetryLength = 0
                outputStart += count
            case .wantsRead:
                tlsRetryLength = length
                return .onRead
            case .wantsWrite:
                if tls != nil { tlsRetryLength = length }
                return .onWrite
            }
        }
        outputStart = 0
        if output.capacity > Self.retainedOutputCapacity {
            output = []
        } else {
            output.removeAll(keepingCapacity: true)
        }
        return nil
    }

    /// Reads what is available now, once, and hands it to hiredis's reader; take the replies with
    /// ``nextReply()``.
    ///
    /// A read that did not fill the buffer and left nothing inside OpenSSL has drained what was there: the next
    /// read would fail with `EAGAIN`, so it reports ``Blocked/onRead`` without making that system call. The loop's
    /// `epoll` is level-triggered, so bytes that arrive meanwhile are announced.
    ///
    /// - Returns: `nil` when more may be read at once (call again), else what the next read waits for.
    /// - Throws: the transport failure (the peer closed, the socket was cut, TLS failed).
    func readNow() throws(RedisClientError) -> Blocked? {
        // Straight into hiredis's reader, as readReply() does; a read that finds nothing adds nothing.
        var blocked: Blocked?
        if let tls {
            try codec.read { buffer throws(RedisClientError) in
                switch try tls.readNow(into: buffer) {
                case .transferred(let count):
                    if count < buffer.count && !tls.hasBufferedInput { blocked = .onRead }
                    return count
                case .wantsRead:
                    blocked = .onRead
                    return 0
                case .wantsWrite:
                    blocked = .onWrite
                    return 0
                }
            }
            return blocked
        }
        try codec.read { buffer throws(RedisClientError) in
            guard let count = try socket.readNow(into: buffer) else {
                blocked = .onRead
                return 0
            }
            if count < buffer.count { blocked = .onRead }
            return count
        }
        return blocked
    }

    /// The next complete reply among the bytes read so far, or `nil` when more are needed.
    func nextReply() throws(RedisClientError) -> Result<RedisReply, RedisClientError>? {
        try codec.nextReply()
    }

    /// Whether bytes already read wait in hiredis's reader or in OpenSSL, so the next reply may need no `read`.
    var hasBufferedInput: Bool {
        codec.hasBufferedInput || tls?.hasBufferedInput == true
    }
}
