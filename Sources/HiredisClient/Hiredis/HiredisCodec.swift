internal import CHiredis

/// The one owner of hiredis objects: it encodes commands with `redisFormatCommandArgv` and decodes replies with a
/// `redisReader`, and frees both.
///
/// hiredis is the client's RESP codec and nothing more: the bytes come and go through ``RedisTransport``, which
/// owns the socket and its buffers. Every hiredis call of the client is made here, and this is the one place that
/// turns the reader's errors into a ``RedisClientError``. Replies are parsed by the reader alone, into objects
/// ``HiredisReplyBuilder`` makes.
/// Like the reader it wraps, it is not thread-safe: one I/O thread owns it.
final class HiredisCodec {
    private let reader: UnsafeMutablePointer<redisReader>
    /// The argv handed to `redisFormatCommandArgv`, grown on demand and reused for every command.
    private var argv: UnsafeMutablePointer<UnsafePointer<CChar>?>
    private var argvLengths: UnsafeMutablePointer<Int>
    private var argvCapacity: Int

    init() {
        // redisReaderCreate fails only when out of memory, which nothing here could recover from either.
        guard let reader = redisReaderCreateWithFunctions(HiredisReplyBuilder.functions) else {
            fatalError("hiredis could not allocate a reader")
        }
        // Up to this much unused buffer is kept between replies instead of being freed and grown again.
        reader.pointee.maxbuf = Self.retainedInputCapacity
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

    /// How much room a read into the reader's buffer gets at least, and how much unused room is kept.
    static let readSize = 16 * 1024
    static let retainedInputCapacity = 256 * 1024

    /// Reads from the server straight into the reader's buffer: `read` gets the free room at its end and returns
    /// how many bytes it wrote there (0 when none were available), which the reader then parses. No copy is made
    /// on the way.
    ///
    /// - Throws: what `read` throws; ``RedisClientError/Code/protocolError`` after a protocol error (or when out of
    ///   memory), as the next reply would.
    func read(
        _ read: (UnsafeMutableRawBufferPointer) throws(RedisClientError) -> Int
    ) throws(RedisClientError) {
        var available = 0
        guard let space = CHiredis_readerSpace(reader, Self.readSize, &available) else {
            throw RedisClientError(.protocolError, "protocol error: \(String(cString: CHiredis_readerErrstr(reader)))")
        }
        let count = try read(UnsafeMutableRawBufferPointer(start: space, count: available))
        CHiredis_readerCommit(reader, count)
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
        return HiredisReplyBuilder.result(ofRoot: reply)
    }

    /// Whether bytes fed to the reader wait to be parsed, so the next reply may need no `read`.
    var hasBufferedInput: Bool {
        reader.pointee.len > reader.pointee.pos
    }
}
