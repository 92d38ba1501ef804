// What request handlers do with the cache: cache-aside reads, writes, invalidations and the health snapshot.
// Every call returns within the Redis client's deadline, also while Redis is down, and none of them throws
// because Redis is unavailable (with the default `degradeOnFailure`).

// snippet.hide
import RedisCache

struct Database: Sendable {
    func product(_ id: Int) async throws -> Product { Product(id: id, name: "lamp", price: 42) }
    func update(_ product: Product) async throws {}
    func renderPage(_ id: Int) async throws -> [UInt8] { Array("<h1>product \(id)</h1>".utf8) }
}

// snippet.show
struct Product: Codable, Sendable {
    var id: Int
    var name: String
    var price: Int
}

/// Cache-aside with bytes: `compute` runs once per miss (concurrent misses of one key share one computation),
/// also while Redis is down, and never waits on a Redis that is known to be down.
func productPage(_ id: Int, cache: ResilientCache, database: Database) async throws -> [UInt8] {
    try await cache.fetch("page:product:\(id)", ttl: .seconds(60)) {
        try await database.renderPage(id)
    }
}

/// Cache-aside with a `Codable` value, stored as JSON.
func product(_ id: Int, cache: ResilientCache, database: Database) async throws -> Product {
    try await cache.fetch("product:\(id)", as: Product.self, ttl: .seconds(300)) {
        try await database.product(id)
    }
}

/// A write: the database first, then the cache. While Redis is unreachable `set` still returns true and
/// `delete` 0, and both keys are journaled: no older value is read back once Redis answers again.
func update(_ product: Product, cache: ResilientCache, database: Database) async throws {
    try await database.update(product)
    try await cache.set("product:\(product.id)", encoding: product)
    try await cache.delete("page:product:\(product.id)")
}

/// A family of keys at once: `SCAN` + `UNLINK` inside the namespace, never `KEYS`.
func repriceEverything(cache: ResilientCache) async throws {
    try await cache.invalidate(pattern: "product:*")
    try await cache.invalidate(pattern: "page:product:*")
}

/// Bytes in, bytes out; a `Codable` value read back.
func greet(cache: ResilientCache) async throws -> String? {
    try await cache.set("greeting", Array("hello".utf8), ttl: .seconds(30))
    let lamp = try await cache.get("product:42", as: Product.self)  // Product?, nil on a miss
    guard let bytes = try await cache.get("greeting") else { return lamp?.name }
    return String(decoding: bytes, as: UTF8.self)
}

/// A read that says why a miss is a miss.
func explain(_ key: String, cache: ResilientCache) async throws -> String {
    switch try await cache.lookup(key) {
    case .hit(let bytes): "hit, \(bytes.count) bytes"
    case .miss: "miss (absent, or fenced by the journal)"
    case .degraded(let error): "degraded: \(error.code)"  // CIRCUIT_BREAKER_OPEN, BACKEND_UNAVAILABLE…
    }
}

/// The health endpoint: `CacheHealth` is `Codable`, serve it as JSON.
func health(cache: ResilientCache) -> CacheHealth {
    cache.health()  // status "ok" or "degraded", the circuit state, the journal size, the last failure
}
