/// A command and its arguments, encoded once into one byte buffer so the I/O thread can hand hiredis an argv
/// without copying each argument again.
///
/// Arguments are bytes, never interpolated into a format string: a key or value may hold CR, LF, NUL or any
/// other byte.
public struct RedisCommand: Sendable, CustomStringConvertible {
    @usableFromInline var storage: [UInt8]
    @usableFromInline var lengths: [Int]

    /// Starts a command with its name, e.g. `RedisCommand("SET")`.
    public init(_ name: String) {
        self.storage = Array(name.utf8)
        self.lengths = [self.storage.count]
    }

    /// Starts a command with its name and arguments.
    public init(_ name: String, _ arguments: [[UInt8]]) {
        self.init(name)
        for argument in arguments { append(argument) }
    }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        storage.append(contentsOf: bytes)
        lengths.append(bytes.count)
    }

    public mutating func append(_ string: String) {
        append(string.utf8)
    }

    public mutating func append(_ key: RedisKey) {
        append(key.bytes)
    }

    public mutating func append(_ integer: Int) {
        append(String(integer).utf8)
    }

    /// The number of words, command name included.
    public var count: Int { lengths.count }

    /// The command name only: arguments may be secrets (`AUTH`) or large values.
    public var description: String {
        String(decoding: storage.prefix(lengths[0]), as: UTF8.self)
    }
}
