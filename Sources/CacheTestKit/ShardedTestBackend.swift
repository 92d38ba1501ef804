import RedisCache
import Synchronization

/// A ``RedisCache/ShardedCacheBackend`` in memory: `count` shards, each a ``FailingCacheBackend`` over its own
/// ``RedisCache/InMemoryCacheBackend``, so a test can take one shard down and watch the others.
///
/// A key belongs to the shard its `{hash tag}` names (`"{2}user"` is on shard 2) or, without a tag, to the shard
/// of a stable hash of the key. Until ``discover()`` the layout is unknown (every key's shard is `nil`), as for a
/// cluster that was never reached; ``move(tag:to:)`` moves a tag's keys to another shard, as a resharding does.
///
/// ```swift
/// let backend = ShardedTestBackend(count: 3)
/// let cache = ResilientCache(sharded: backend, logger: logger)
/// backend.shard(1).faults = .down  // keys of shard 1 degrade; shards 0 and 2 keep hitting
/// ```
public final class ShardedTestBackend: ShardedCacheBackend {
    private let backends: [FailingCacheBackend]
    private let stores: [InMemoryCacheBackend]
    private let layout: Mutex<Layout>

    private struct Layout {
        var known: Bool
        var moved: [String: Int] = [:]
    }

    /// - Parameters:
    ///   - count: how many shards.
    ///   - discovered: whether the layout is known from the start.
    public init(count: Int, discovered: Bool = true) {
        precondition(count >= 1, "at least one shard")
        stores = (0..<count).map { _ in InMemoryCacheBackend() }
        backends = stores.map { FailingCacheBackend(wrapping: $0) }
        layout = Mutex(Layout(known: discovered))
    }

    /// The failing backend of shard `index`: set its faults to take the shard down.
    public func shard(_ index: Int) -> FailingCacheBackend { backends[index] }

    /// What shard `index` holds, whatever its faults.
    public func store(_ index: Int) -> InMemoryCacheBackend { stores[index] }

    /// Makes the layout known.
    public func discover() { layout.withLock { $0.known = true } }

    /// Moves the keys with hash tag `tag` (and their values) to shard `target`.
    public func move(tag: String, to target: Int) async throws(CacheError) {
        let source = owner(of: "{\(tag)}")
        layout.withLock { $0.moved[tag] = target }
        guard source != target else { return }
        let pattern = "*{\(tag)}*"
        _ = try await stores[target].invalidate(pattern: pattern)
        for key in stores[source].keys(matching: pattern) {
            if let value = try await stores[source].get(key) { try await stores[target].set(key, value, ttl: nil) }
        }
        _ = try await stores[source].invalidate(pattern: pattern)
    }

    /// The shard a key lives on, known layout or not.
    public func owner(of key: String) -> Int {
        let tag = Self.tag(of: key)
        if let tag, let moved = layout.withLock({ $0.moved[tag] }) { return moved }
        if let tag, let index = Int(tag), backends.indices.contains(index) { return index }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in (tag ?? key).utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01b3
        }
        return Int(hash % UInt64(backends.count))
    }

    private static func tag(of key: String) -> String? {
        guard let open = key.firstIndex(of: "{") else { return nil }
        let rest = key[key.index(after: open)...]
        guard let close = rest.firstIndex(of: "}"), close != rest.startIndex else { return nil }
        return String(rest[..<close])
    }

    public func shard(forKey key: String) -> Int? {
        layout.withLock { $0.known } ? owner(of: key) : nil
    }

    public func shard(forPattern pattern: String) -> Int? {
        guard layout.withLock({ $0.known }), let open = pattern.firstIndex(of: "{") else { return nil }
        let prefix = pattern[..<open]
        guard !prefix.contains(where: { "*?[\\".contains($0) }), let tag = Self.tag(of: pattern),
            !tag.contains(where: { "*?[\\".contains($0) })
        else { return nil }
        return owner(of: "{\(tag)}")
    }

    public var shards: [Int] { layout.withLock { $0.known } ? Array(backends.indices) : [] }

    public func describe(shard: Int) -> String { "in-memory shard \(shard)" }

    public func backend(forShard shard: Int) -> any CacheBackend { ShardView(owner: self, shard: shard) }

    public var unsharded: any CacheBackend { ShardView(owner: self, shard: nil) }

    /// Key operations routed by key, `ping` and pattern walks confined to one shard (or all, for `nil`).
    struct ShardView: CacheBackend {
        let owner: ShardedTestBackend
        let shard: Int?

        func get(_ key: String) async throws(CacheError) -> [UInt8]? {
            try await owner.backends[owner.owner(of: key)].get(key)
        }

        func get(many keys: [String]) async throws(CacheError) -> [[UInt8]?] {
            var values: [[UInt8]?] = []
            for key in keys { values.append(try await get(key)) }
            return values
        }

        func set(_ key: String, _ value: [UInt8], ttl: Duration?) async throws(CacheError) {
            try await owner.backends[owner.owner(of: key)].set(key, value, ttl: ttl)
        }

        func delete(_ keys: [String]) async throws(CacheError) -> Int {
            var removed = 0
            for key in keys { removed += try await owner.backends[owner.owner(of: key)].delete([key]) }
            return removed
        }

        func invalidate(pattern: String) async throws(CacheError) -> Int {
            var removed = 0
            for index in shard.map({ [$0] }) ?? Array(owner.backends.indices) {
                removed += try await owner.backends[index].invalidate(pattern: pattern)
            }
            return removed
        }

        func ping() async throws(CacheError) {
            guard let shard else {
                guard owner.layout.withLock({ $0.known }) else {
                    throw CacheError(.unavailable, "the layout is not known yet")
                }
                for backend in owner.backends { try await backend.ping() }
                return
            }
            try await owner.backends[shard].ping()
        }
    }
}
