internal import CHiredis

/// The reply objects hiredis's reader builds while it parses: ``RedisReply`` values made straight from the
/// reader's buffer, through `redisReaderCreateWithFunctions`.
///
/// hiredis's own objects (`redisReply`) would copy every string out of the reader's buffer, and turning them into
/// ``RedisReply`` would copy it again; with these functions each bulk string is copied once, from the bytes the
/// socket was read into to the `[UInt8]` the caller gets. hiredis still does all the parsing.
///
/// Each object is a ``Node``: the reader keeps the root and hands it back complete from `redisReaderGetReply`
/// (retained once, for ``HiredisCodec``); an element is held by its array's node, where it is stored as it is
/// made. hiredis frees only roots, through `freeObject` (a reply left half-read when the reader is freed or
/// fails).
enum HiredisReplyBuilder {
    final class Node {
        var value: RedisReply
        /// The elements of an array reply, stored as the reader makes them; `nil` for other replies.
        var elements: [Node?]?

        init(_ value: RedisReply) {
            self.value = value
        }

        init(arrayOf count: Int) {
            self.value = .null
            self.elements = Array(repeating: nil, count: count)
        }

        /// The reply with its elements, once the reader has made all of them.
        var reply: RedisReply {
            guard let elements else { return value }
            return .array(elements.map { $0?.reply ?? .null })
        }
    }

    /// The table the readers point to; made once, never freed, never changed.
    nonisolated(unsafe) static let functions: UnsafeMutablePointer<redisReplyObjectFunctions> = {
        let table = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
        table.initialize(
            to: redisReplyObjectFunctions(
                createString: { task, bytes, length in
                    HiredisReplyBuilder.store(HiredisReplyBuilder.string(task!, bytes, length), task!)
                },
                createArray: { task, count in
                    HiredisReplyBuilder.store(Node(arrayOf: Int(max(count, 0))), task!)
                },
                createInteger: { task, integer in
                    HiredisReplyBuilder.store(Node(.integer(Int64(integer))), task!)
                },
                createNil: { task in
                    HiredisReplyBuilder.store(Node(.null), task!)
                },
                freeObject: { object in
                    guard let object else { return }
                    Unmanaged<Node>.fromOpaque(object).release()
                }
            )
        )
        return table
    }()

    /// A string, status or error reply, copied out of the reader's buffer.
    private static func string(
        _ task: UnsafePointer<redisReadTask>,
        _ bytes: UnsafeMutablePointer<CChar>?,
        _ length: Int
    ) -> Node {
        let buffer = UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : length)
        switch task.pointee.type {
        case REDIS_REPLY_STATUS:
            return Node(.simpleString(String(decoding: buffer, as: UTF8.self)))
        case REDIS_REPLY_ERROR:
            return Node(.error(RedisServerError(message: String(decoding: buffer, as: UTF8.self))))
        default:
            return Node(.bulkString(Array(buffer)))
        }
    }

    /// Hands `node` to the reader: an element goes into its array's node, which keeps it; the root is retained
    /// for whoever takes it from the reader.
    private static func store(_ node: Node, _ task: UnsafePointer<redisReadTask>) -> UnsafeMutableRawPointer {
        guard let parentTask = task.pointee.parent, let parentObject = parentTask.pointee.obj else {
            return Unmanaged.passRetained(node).toOpaque()
        }
        let parent = Unmanaged<Node>.fromOpaque(parentObject).takeUnretainedValue()
        parent.elements?[Int(task.pointee.idx)] = node
        return Unmanaged.passUnretained(node).toOpaque()
    }

    /// Takes a complete reply from the reader: a top-level error reply becomes a
    /// ``RedisClientError/Code/serverError`` failure.
    static func result(ofRoot object: UnsafeMutableRawPointer) -> Result<RedisReply, RedisClientError> {
        let reply = Unmanaged<Node>.fromOpaque(object).takeRetainedValue().reply
        if case .error(let serverError) = reply {
            return .failure(RedisClientError(.serverError, serverError.message, underlying: serverError))
        }
        return .success(reply)
    }
}
