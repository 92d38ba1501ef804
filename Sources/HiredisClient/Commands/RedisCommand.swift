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

    /// Why the command cannot go through a shared, pooled connection, or `nil` when it can: it would make the
    /// connection reply out of step with its callers (pushed messages, several replies or none for one command,
    /// another protocol) or change what the connection is for every caller after it (another database or user).
    var poolRefusal: RedisClientError? {
        let name = String(decoding: storage.prefix(lengths[0]), as: UTF8.self).uppercased()
        let why: String
        switch name {
        case "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE":
            why = "it puts the connection in subscriber mode, whose pushed messages would reach other callers"
        case "MONITOR", "SYNC", "PSYNC":
            why = "it turns the connection into a stream that answers no other command"
        case "HELLO":
            why = "it may switch the connection to another protocol"
        case "RESET", "SELECT", "AUTH":
            why = "it changes the database or the user of one shared connection; set them in the configuration"
        case "CLIENT" where lengths.count > 1:
            let word = String(decoding: storage.dropFirst(lengths[0]).prefix(lengths[1]), as: UTF8.self)
            guard word.uppercased() == "REPLY" else { return nil }
            why = "it stops the connection's replies, which the commands queued behind it wait for"
        default:
            return nil
        }
        return RedisClientError(.unsupportedCommand, "\(name) is not sent through the client's pool: \(why)")
    }

    /// The command name only: arguments may be secrets (`AUTH`) or large values.
    public var description: String {
        String(decoding: storage.prefix(lengths[0]), as: UTF8.self)
    }
}
