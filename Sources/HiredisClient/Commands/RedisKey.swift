/// A Redis key: arbitrary bytes, with string literals for the common case.
///
/// ```swift
/// let key: RedisKey = "user:42"
/// let binary = RedisKey(bytes: [0x00, 0xFF, 0x0D, 0x0A])
/// ```
public struct RedisKey: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    public init(_ string: String) {
        self.bytes = Array(string.utf8)
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// The key as text; bytes that are not UTF-8 show as U+FFFD.
    public var description: String {
        String(decoding: bytes, as: UTF8.self)
    }
}
