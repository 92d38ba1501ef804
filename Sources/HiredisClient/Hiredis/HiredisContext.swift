internal import CHiredis

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The one owner of a hiredis `redisContext`: it connects, writes commands, reads replies and frees the context.
///
/// Every hiredis call of the client is made here, and this is the one place that turns hiredis's return codes,
/// `err` and `errstr` into a ``RedisClientError``. Like the hiredis context it wraps, it is not thread-safe: one
/// I/O thread owns it, and ``RedisConnection`` serializes access to it (GRDB's `Database` and
/// `SerializedDatabase` split the same way).
///
/// The context uses hiredis's blocking API: ``readReply()`` blocks its thread until a reply, an error or the
/// socket timeout set with ``setTimeout(_:)``.
final class HiredisContext {
    private let context: UnsafeMutablePointer<redisContext>
    /// The argv handed to `redisAppendCommandArgv`, grown on demand and reused for every command.
    private var argv: UnsafeMutablePointer<UnsafePointer<CChar>?>
    private var argvLengths: UnsafeMutablePointer<Int>
    private var argvCapacity: Int

    private init(_ context: UnsafeMutablePointer<redisContext>) {
        self.context = context
        self.argvCapacity = 8
        self.argv = .allocate(capacity: argvCapacity)
        self.argvLengths = .allocate(capacity: argvCapacity)
    }

    deinit {
        redisFree(context)
        argv.deallocate()
        argvLengths.deallocate()
    }

    /// Opens a TCP or Unix socket connection, waiting at most `timeout`.
    static func connect(
        to endpoint: RedisClientConfiguration.Endpoint,
        timeout: Duration
    ) throws(RedisClientError) -> HiredisContext {
        let limit = timeout.asTimeval
        errno = 0
        let made: UnsafeMutablePointer<redisContext>?
        switch endpoint.base {
        case .tcp(let host, let port):
            made = redisConnectWithTimeout(host, Int32(port), limit)
        case .unix(let path):
            made = redisConnectUnixWithTimeout(path, limit)
        }
        let connectErrno = errno
        guard let made else {
            throw RedisClientError(.connectionFailed, "hiredis could not allocate a context")
        }
        if made.pointee.err != 0 {
            let error = connectError(made, errno: connectErrno, endpoint: endpoint)
            redisFree(made)
            throw error
        }
        return HiredisContext(made)
    }

    /// The socket, for `poll` and for `shutdown(2)` from another thread.
    var fileDescriptor: Int32 { context.pointee.fd }

    /// Turns on TCP keepalive with hiredis's interval.
    func enableKeepAlive() {
        _ = redisEnableKeepAlive(context)
    }

    /// Bounds every blocking read and write; `.zero` waits without bound.
    func setTimeout(_ timeout: Duration) {
        _ = redisSetTimeout(context, timeout.asTimeval)
    }

    /// Appends `command` to the output buffer; nothing is written until ``flush()`` or ``readReply()``.
    func append(_ command: RedisCommand) {
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
            // hiredis copies the words into its output buffer before returning; it fails only when out of memory.
            _ = redisAppendCommandArgv(context, Int32(count), argv, argvLengths)
        }
    }

    /// Flushes the output buffer if needed and reads the next reply.
    ///
    /// - Returns: the reply; an error reply from the server is a `failure` (the connection is still usable).
    /// - Throws: the transport failure when the read or write failed (the connection is not usable any more).
    func readReply() throws(RedisClientError) -> Result<RedisReply, RedisClientError> {
        var reply: UnsafeMutableRawPointer?
        guard redisGetReply(context, &reply) == REDIS_OK, let reply else {
            throw transportError()
        }
        defer { freeReplyObject(reply) }
        return HiredisReplyDecoder.result(of: reply.assumingMemoryBound(to: redisReply.self))
    }

    /// Writes the whole output buffer. False when writing failed; the next ``readReply()`` throws the error.
    func flush() -> Bool {
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(context, &done) != REDIS_OK { return false }
        }
        return true
    }

    /// Whether bytes already read from the socket wait in hiredis's reader, so the next reply needs no `read`.
    var hasBufferedInput: Bool {
        context.pointee.reader.pointee.len > context.pointee.reader.pointee.pos
    }

    /// The error for a failed read or write.
    private func transportError() -> RedisClientError {
        let detail = String(cString: CHiredis_errstr(context))
        switch context.pointee.err {
        case REDIS_ERR_PROTOCOL:
            return RedisClientError(.protocolError, "protocol error: \(detail)")
        case REDIS_ERR_EOF:
            return RedisClientError(.connectionLost, "server closed the connection")
        // A blocking read that hits the socket timeout fails with EAGAIN; hiredis keeps only its text.
        case REDIS_ERR_IO where detail.contains("Resource temporarily unavailable"):
            return RedisClientError(.timeout, "read timed out")
        default:
            return RedisClientError(.connectionLost, "connection lost: \(detail)")
        }
    }

    /// The error for a failed connect.
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
}
