import Glibc
import Synchronization

/// The invalidation journal's copy on disk, so that a process killed during an outage does not leave its changes
/// to be read stale for a whole TTL: the next start loads the file, fences what it lists and replays it.
///
/// An append-only file of lines — `K <hex of the key>`, `P <hex of the pattern>`, `F` (flush the namespace) —
/// written and `fsync`ed in batches by ``flush()``: whatever was appended while the previous batch was being
/// synced goes out in the next one. When the journal becomes empty the file is truncated. Entries the journal
/// forgot for other reasons (superseded by a later successful write) stay in the file until then: replaying them
/// at the next start removes a key that is still valid, a miss, never a stale read.
///
/// The file is locked (`flock`) while open: two processes must not share one directory and namespace.
final class DurableJournal: Sendable {
    /// What the file held when it was opened.
    struct Contents: Sendable {
        var keys: [String] = []
        var patterns: [String] = []
        var flushNamespace = false
        var isEmpty: Bool { keys.isEmpty && patterns.isEmpty && !flushNamespace }
    }

    private struct Pending {
        var bytes: [UInt8] = []
        var truncate = false
    }

    let path: String
    private let pending = Mutex(Pending())
    /// The open file, -1 once closed; the lock also serializes ``flush()`` callers.
    private let file: Mutex<Int32>

    /// Opens (creating it if needed) and locks the journal file of `namespace` in `directory`, and reads it.
    static func open(directory: String, namespace: String) throws(CacheError) -> (DurableJournal, Contents) {
        let name = "journal-" + hex(Array(namespace.utf8)) + ".log"
        let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CacheError(.invalidArgument, "cannot open the durable journal \(path): \(errorText(errno))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            _ = Glibc.close(descriptor)
            throw CacheError(
                .invalidArgument,
                "the durable journal \(path) is in use by another cache (\(errorText(error))): give each process "
                    + "and namespace its own directory"
            )
        }
        let contents = read(descriptor)
        return (DurableJournal(path: path, descriptor: descriptor), contents)
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.file = Mutex(descriptor)
    }

    deinit {
        close()
    }

    /// Closes the file (releasing its lock); later flushes write nothing.
    func close() {
        file.withLock { descriptor in
            if descriptor >= 0 { _ = Glibc.close(descriptor) }
            descriptor = -1
        }
    }

    // MARK: - Appending (under the journal's lock, so the file's order is the journal's)

    func append(key: String) { append(tag: "K", Array(key.utf8)) }

    func append(pattern: String) { append(tag: "P", Array(pattern.utf8)) }

    func appendFlushNamespace() {
        pending.withLock { $0.bytes.append(contentsOf: Array("F\n".utf8)) }
    }

    /// The journal is empty: the file is truncated by the next ``flush()``, and nothing pending before this
    /// matters any more.
    func markEmpty() {
        pending.withLock { pending in
            pending.bytes.removeAll(keepingCapacity: true)
            pending.truncate = true
        }
    }

    var hasPending: Bool {
        pending.withLock { !$0.bytes.isEmpty || $0.truncate }
    }

    private func append(tag: Character, _ bytes: [UInt8]) {
        var line = Array(String(tag).utf8)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: Array(Self.hex(bytes).utf8))
        line.append(UInt8(ascii: "\n"))
        pending.withLock { $0.bytes.append(contentsOf: line) }
    }

    // MARK: - Writing

    /// Writes what was appended since the last flush and syncs it to disk (truncating first if the journal
    /// became empty meanwhile). Blocks for the `fsync`.
    func flush() throws(CacheError) {
        try file.withLock { descriptor throws(CacheError) in
            guard descriptor >= 0 else { return }
            let (bytes, truncate) = pending.withLock { pending -> ([UInt8], Bool) in
                defer {
                    pending.bytes.removeAll(keepingCapacity: true)
                    pending.truncate = false
                }
                return (pending.bytes, pending.truncate)
            }
            if !truncate && bytes.isEmpty { return }
            let descriptor = descriptor
            if truncate, ftruncate(descriptor, 0) != 0 {
                throw CacheError(.unavailable, "cannot truncate the durable journal \(path): \(Self.errorText(errno))")
            }
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { buffer in
                    Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw CacheError(.unavailable, "cannot write the durable journal \(path): \(Self.errorText(errno))")
                }
                offset += written
            }
            if fsync(descriptor) != 0 {
                throw CacheError(.unavailable, "cannot sync the durable journal \(path): \(Self.errorText(errno))")
            }
        }
    }

    // MARK: - Reading

    private static func read(_ descriptor: Int32) -> Contents {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        _ = lseek(descriptor, 0, SEEK_SET)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        var contents = Contents()
        var keys = Set<String>()
        var patterns = Set<String>()
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let tag = line.first else { continue }
            // A line cut short by a crash mid-write decodes to nothing and is skipped.
            let payload = line.count > 2 ? unhex(line.dropFirst(2)) : nil
            switch tag {
            case UInt8(ascii: "K"): if let payload { keys.insert(String(decoding: payload, as: UTF8.self)) }
            case UInt8(ascii: "P"): if let payload { patterns.insert(String(decoding: payload, as: UTF8.self)) }
            case UInt8(ascii: "F"): contents.flushNamespace = true
            default: continue
            }
        }
        contents.keys = keys.sorted()
        contents.patterns = patterns.sorted()
        return contents
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func unhex(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count / 2)
        var index = text.startIndex
        while index < text.endIndex {
            guard let high = value(text[index]), let low = value(text[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
