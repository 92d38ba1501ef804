/// Where a ``ResilientCache`` keeps its values: Redis in production, memory in tests.
///
/// A backend reports every transport problem as a thrown ``CacheError`` with code
/// ``CacheError/Code/unavailable`` — distinct from a miss, which is `nil`. That distinction is what lets the
/// circuit breaker see an outage: a backend that turned read errors into misses would keep the circuit closed
/// while every call pays a timeout. Requests the backend refuses on their merits (`WRONGTYPE`) throw
/// ``CacheError/Code/refused`` and count as the backend answering.
///
/// Keys arrive fully qualified (namespace included).
public protocol CacheBackend: Sendable {
    /// The value at `key`, or `nil` when there is none.
    func get(_ key: String) async throws(CacheError) -> [UInt8]?
    /// One entry per key, `nil` where there is none.
    func get(many keys: [String]) async throws(CacheError) -> [[UInt8]?]
    /// Stores `value` at `key`, expiring after `ttl` (never when `nil`).
    func set(_ key: String, _ value: [UInt8], ttl: Duration?) async throws(CacheError)
    /// Removes the keys; returns how many existed.
    func delete(_ keys: [String]) async throws(CacheError) -> Int
    /// Removes every key matching a Redis glob `pattern` (`*`, `?`, `[…]`, `\`); returns how many.
    func invalidate(pattern: String) async throws(CacheError) -> Int
    /// Removes every key under `scope` (a glob such as `app:*`) that matches any of `patterns`; returns how many.
    ///
    /// The journal replays many pattern invalidations at once after an outage; a backend that can walk its key
    /// space once for all of them should (the default calls ``invalidate(pattern:)`` once per pattern).
    func invalidate(matchingAnyOf patterns: [String], within scope: String) async throws(CacheError) -> Int
    /// Succeeds when the backend answers; the circuit's active probe.
    func ping() async throws(CacheError)
}

extension CacheBackend {
    public func invalidate(matchingAnyOf patterns: [String], within scope: String) async throws(CacheError) -> Int {
        var removed = 0
        for pattern in patterns { removed += try await invalidate(pattern: pattern) }
        return removed
    }
}
