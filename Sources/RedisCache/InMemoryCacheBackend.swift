import Synchronization

/// A ``CacheBackend`` in process memory, for tests and for running without Redis.
///
/// Expiry uses `ContinuousClock`. It never fails; the failing backend in `RedisTestSupport` wraps it to
/// inject failures.
public final class InMemoryCacheBackend: CacheBackend {
    private struct Entry {
        var value: [UInt8]
        var expires: ContinuousClock.Instant?
    }

    private let storage = Mutex<[String: Entry]>([:])
    private let clock = ContinuousClock()

    public init() {}

    /// Keys currently held (expired ones excluded).
    public var count: Int {
        let now = clock.now
        return storage.withLock { entries in entries.values.filter { $0.expires.map { $0 > now } ?? true }.count }
    }

    public func get(_ key: String) async throws(CacheError) -> [UInt8]? {
        let now = clock.now
        return storage.withLock { entries in
            guard let entry = entries[key] else { return nil }
            if let expires = entry.expires, expires <= now {
                entries[key] = nil
                return nil
            }
            return entry.value
        }
    }

    public func get(many keys: [String]) async throws(CacheError) -> [[UInt8]?] {
        var values: [[UInt8]?] = []
        for key in keys { values.append(try await get(key)) }
        return values
    }

    public func set(_ key: String, _ value: [UInt8], ttl: Duration?) async throws(CacheError) {
        let expires = ttl.map { clock.now + $0 }
        storage.withLock { $0[key] = Entry(value: value, expires: expires) }
    }

    public func delete(_ keys: [String]) async throws(CacheError) -> Int {
        storage.withLock { entries in
            keys.reduce(0) { removed, key in removed + (entries.removeValue(forKey: key) == nil ? 0 : 1) }
        }
    }

    public func invalidate(pattern: String) async throws(CacheError) -> Int {
        let glob = GlobPattern(pattern)
        return storage.withLock { entries in
            let doomed = entries.keys.filter { glob.matches($0) }
            for key in doomed { entries[key] = nil }
            return doomed.count
        }
    }

    public func ping() async throws(CacheError) {}

    /// The keys held now that match a Redis glob `pattern`.
    public func keys(matching pattern: String) -> [String] {
        let glob = GlobPattern(pattern)
        let now = clock.now
        return storage.withLock { entries in
            entries.filter { glob.matches($0.key) && ($0.value.expires.map { $0 > now } ?? true) }.map(\.key)
        }
    }
}
