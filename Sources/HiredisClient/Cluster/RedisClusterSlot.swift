/// The hash slot of a key in a Redis Cluster: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16,384.
///
/// A hash tag is the part between the first `{` and the first `}` after it, when that part is not empty: keys
/// that share a tag share a slot, so multi-key commands on them go to one node.
///
/// ```swift
/// RedisClusterSlot.of("123456789")  // 12739
/// RedisClusterSlot.of("{user1000}.following") == RedisClusterSlot.of("{user1000}.followers")  // true
/// RedisClusterSlot.of(pattern: "session:{42}:*")  // the slot of "42": a SCAN for it visits one node
/// ```
public enum RedisClusterSlot {
    /// The number of hash slots.
    public static let count = 16384

    /// The slot of `key`'s bytes (or of its hash tag).
    public static func of(_ key: some Collection<UInt8>) -> Int {
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            let afterOpen = key.index(after: open)
            if let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen {
                return Int(crc16(key[afterOpen..<close]) & 0x3FFF)
            }
        }
        return Int(crc16(key) & 0x3FFF)
    }

    /// The slot of `key` (or of its hash tag).
    public static func of(_ key: RedisKey) -> Int {
        of(key.bytes)
    }

    /// The slot of `key`'s UTF-8 bytes (or of its hash tag).
    public static func of(_ key: String) -> Int {
        var key = key
        return key.withUTF8 { of($0) }
    }

    /// The one slot every key matching the glob `pattern` hashes to, or `nil` when keys matching it may hash
    /// anywhere.
    ///
    /// Only the literal prefix of the pattern counts: the text up to its first unescaped `*`, `?` or `[`, with
    /// `\x` read as `x`. When that prefix holds a `{` followed by a `}` with at least one character between,
    /// every matching key has that hash tag; otherwise a wildcard could change the tag, and the answer is `nil`.
    public static func of(pattern: String) -> Int? {
        var prefix: [UInt8] = []
        var iterator = pattern.utf8.makeIterator()
        scan: while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "*"), UInt8(ascii: "?"), UInt8(ascii: "["):
                break scan
            case UInt8(ascii: "\\"):
                guard let escaped = iterator.next() else { break scan }
                prefix.append(escaped)
            default:
                prefix.append(byte)
            }
        }
        guard let open = prefix.firstIndex(of: UInt8(ascii: "{")),
            let close = prefix[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        else { return nil }
        return Int(crc16(prefix[(open + 1)..<close]) & 0x3FFF)
    }

    /// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
    static func crc16(_ bytes: some Collection<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
