internal import CHiredis

/// Turns hiredis's `redisReply` trees into ``RedisReply`` values.
///
/// The reply is copied out: hiredis frees its reply object as soon as ``HiredisCodec/nextReply()`` returns.
enum HiredisReplyDecoder {
    /// The reply as a result: a top-level error reply becomes a ``RedisClientError/Code/serverError`` failure.
    static func result(of reply: UnsafePointer<redisReply>) -> Result<RedisReply, RedisClientError> {
        if reply.pointee.type == REDIS_REPLY_ERROR {
            let serverError = RedisServerError(message: string(reply))
            return .failure(RedisClientError(.serverError, serverError.message, underlying: serverError))
        }
        return .success(value(reply))
    }

    private static func value(_ reply: UnsafePointer<redisReply>) -> RedisReply {
        switch reply.pointee.type {
        case REDIS_REPLY_STRING:
            let length = reply.pointee.len
            guard length > 0, let bytes = reply.pointee.str else { return .bulkString([]) }
            return .bulkString(
                Array(UnsafeRawBufferPointer(start: bytes, count: length).bindMemory(to: UInt8.self))
            )
        case REDIS_REPLY_STATUS:
            return .simpleString(string(reply))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.pointee.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ERROR:
            return .error(RedisServerError(message: string(reply)))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(reply.pointee.elements)
            for index in 0..<reply.pointee.elements {
                elements.append(value(CHiredis_element(reply, index)))
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func string(_ reply: UnsafePointer<redisReply>) -> String {
        guard let bytes = reply.pointee.str else { return "" }
        return String(
            decoding: UnsafeRawBufferPointer(start: bytes, count: reply.pointee.len).bindMemory(to: UInt8.self),
            as: UTF8.self
        )
    }
}
