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
        // Checked on every call: GET, SET and the like leave at the length test, the rest after comparing bytes.
        guard (4...12).contains(lengths[0]) else { return nil }
        for refusal in Self.poolRefusals where word(0, is: refusal.name) {
            if let subcommand = refusal.subcommand, !(lengths.count > 1 && word(1, is: subcommand)) { continue }
            let name = String(decoding: storage.prefix(lengths[0]), as: UTF8.self).uppercased()
            return RedisClientError(
                .unsupportedCommand, "\(name) is not sent through the client's pool: \(refusal.why)")
        }
        return nil
    }

    private static let poolRefusals: [(name: [UInt8], subcommand: [UInt8]?, why: String)] = {
        let subscriber = "it puts the connection in subscriber mode, whose pushed messages would reach other callers"
        let stream = "it turns the connection into a stream that answers no other command"
        let identity = "it changes the database or the user of one shared connection; set them in the configuration"
        let named: [(String, String?, String)] = [
            ("SUBSCRIBE", nil, subscriber), ("PSUBSCRIBE", nil, subscriber), ("SSUBSCRIBE", nil, subscriber),
            ("UNSUBSCRIBE", nil, subscriber), ("PUNSUBSCRIBE", nil, subscriber), ("SUNSUBSCRIBE", nil, subscriber),
            ("MONITOR", nil, stream), ("SYNC", nil, stream), ("PSYNC", nil, stream),
            ("HELLO", nil, "it may switch the connection to another protocol"),
            ("RESET", nil, identity), ("SELECT", nil, identity), ("AUTH", nil, identity),
            ("CLIENT", "REPLY", "it stops the connection's replies, which the commands queued behind it wait for"),
        ]
        return named.map { (Array($0.0.utf8), $0.1.map { Array($0.utf8) }, $0.2) }
    }()

    /// Whether word `index` is `name` (upper-case ASCII letters), in any case.
    private func word(_ index: Int, is name: [UInt8]) -> Bool {
        guard lengths[index] == name.count else { return false }
        let start = lengths[..<index].reduce(0, +)
        for offset in 0..<name.count where storage[start + offset] & 0xDF != name[offset] { return false }
        return true
    }

    /// The command name only: arguments may be secrets (`AUTH`) or large values.
    public var description: String {
        String(decoding: storage.prefix(lengths[0]), as: UTF8.self)
    }
}
