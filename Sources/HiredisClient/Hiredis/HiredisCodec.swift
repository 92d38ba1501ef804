internal import CHiredis

/// The one owner of hiredis objects: it encodes commands with `redisFormatCommandArgv` and decodes replies with a
/// `redisReader`, and frees both.
///
/// hiredis is the client's RESP codec and nothing more: the bytes come and go through ``RedisTransport``, which
/// owns the socket and its buffers. Every hiredis call of the client is made here, and this is the one place that
/// turns the reader's errors into a ``RedisClientError``; replies are parsed by ``HiredisReplyDecoder`` alone.
/// Like the reader it wraps, it is not thread-safe: one I/O thread owns it.
final class HiredisCodec {
    private let reader: UnsafeMutablePointer<redisReader>
    /// The argv handed to `redisFormatCommandArgv`, grown on demand and reused for every command.
    private var argv: UnsafeMutablePointer<UnsafePointer<CChar>?>
    private var argvLengths: UnsafeMutablePointer<Int>
    private var argvCapacity: Int

    init() {
        // redisReaderCreate fails only when out of memory, which nothing here could recover from either.
        guard let reader = redisReaderCreate() else { fatalError("hiredis could not allocate a reader") }
        self.reader = reader
        self.argvCapacity = 8
        self.argv = .allocate(capacity: argvCapacity)
        self.argvLengths = .allocate(capacity: argvCapacity)
    }

    deinit {
        redisReaderFree(reader)
        argv.deallocate()
        argvLengths.deallocate()
    }

    /// Appends `command`, encoded as a RESP array of bulk strings, to `output`.
    func encode(_ command: RedisCommand, into output: inout [UInt8]) {
        let count = command.lengths.count
        if count > argvCapacity {
            argv.deallocate()
            argvLengths.deallocate()
            argvCapacity = max(count, argvCapacity * 2)
            argv = .allocate(capacity: argvCapacity)
            argvLengths = .allocate(capacity: argvCapacity)
        }
        var encoded: UnsafeMutablePointer<CChar>?
        let length = command.storage.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            var offset = 0
            for word in 0..<count {
                argv[word] = (base + offset).assumingMemoryBound(to: CChar.self)
                argvLengths[word] = command.lengths[word]
                offset += command.lengths[word]
            }
            return redisFormatCommandArgv(&encoded, Int32(count), argv, argvLengths)
        }
        // It fails only when out of memory.
        guard length >= 0, let encoded else { fatalError("hiredis could not allocate a command") }
        defer { redisFreeCommand(encoded) }
        output.append(contentsOf: UnsafeRawBufferPointer(start: encoded, count: Int(length)))
    }

    /// Hands bytes read from the server to the reader, which copies them.
    func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        // It fails only when out of memory or after a protocol error, which the next reply reports.
        _ = redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
    }

    /// The next complete reply among the bytes fed so far, or `nil` when more bytes are needed.
    ///
    /// - Returns: the reply; an error reply from the server is a `failure` (the connection is still usable).
    /// - Throws: ``RedisClientError/Code/protocolError`` when the bytes are not RESP (the connection is not usable
    ///   any more).
    func nextReply() throws(RedisClientError) -> Result<RedisReply, RedisClientError>? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else {
            throw RedisClientError(.protocolError, "protocol error: \(String(cString: CHiredis_readerErrstr(reader)))")
        }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return HiredisReplyDecoder.result(of: reply.assumingMemoryBound(to: redisReply.self))
    }

    /// Whether bytes fed to the reader wait to be parsed, so the next reply may need no `read`.
    var hasBufferedInput: Bool {
        reader.pointee.len > reader.pointee.pos
    }
}
