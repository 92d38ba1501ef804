/// A reply from the server, typed as RESP2 types it.
///
/// hiredis 0.14.1 speaks RESP2 only: there are no maps, sets, doubles or booleans here.
public enum RedisReply: Sendable, Hashable {
    /// A bulk string: arbitrary bytes.
    case bulkString([UInt8])
    /// A simple string such as `OK` or `PONG`.
    case simpleString(String)
    case integer(Int64)
    case array([RedisReply])
    /// The null bulk string or null array: a missing key for `GET`.
    case null
    /// An error reply nested in an array (a top-level error reply is thrown as ``RedisClientError``).
    case error(RedisServerError)

    /// The bytes of a bulk or simple string, `nil` otherwise.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): bytes
        case .simpleString(let string): Array(string.utf8)
        default: nil
        }
    }

    /// A bulk or simple string decoded as UTF-8, `nil` otherwise.
    public var string: String? {
        switch self {
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        case .simpleString(let string): string
        default: nil
        }
    }

    /// The value of an integer reply, `nil` otherwise.
    public var integer: Int64? {
        if case .integer(let value) = self { value } else { nil }
    }

    /// The elements of an array reply, `nil` otherwise.
    public var array: [RedisReply]? {
        if case .array(let elements) = self { elements } else { nil }
    }

    public var isNull: Bool {
        if case .null = self { true } else { false }
    }
}
