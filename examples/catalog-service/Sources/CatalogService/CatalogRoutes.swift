import Foundation
import Hummingbird
import Prometheus
import RedisCache

/// The HTTP API: items through the cache, health and metrics.
struct CatalogRoutes: Sendable {
    let cache: ResilientCache
    let database: CatalogDatabase
    let registry: PrometheusCollectorRegistry
    /// How long an item stays cached.
    let itemTTL: Duration
    /// Whether `/health` answers 503 while the cache is degraded (see ``health(_:context:)``).
    let unavailableWhenDegraded: Bool

    /// The body of `PUT /items/{id}`.
    struct ItemUpdate: Decodable {
        var name: String
        var price: Double
    }

    func add(to router: Router<some RequestContext>) {
        router.get("/items/{id}") { request, context in try await getItem(request, context: context) }
        router.put("/items/{id}") { request, context in try await putItem(request, context: context) }
        router.get("/health") { request, context in try health(request, context: context) }
        router.get("/metrics") { _, _ in metrics() }
    }

    /// Cache-aside: the database is queried once per miss (concurrent misses of one item share the query), and
    /// on every read while Redis is down, without waiting on Redis.
    func getItem(_ request: Request, context: some RequestContext) async throws -> Response {
        let id = try context.parameters.require("id", as: Int.self)
        let body = try await cache.fetch(Self.key(id), ttl: itemTTL) { [database] in
            guard let item = try await database.item(id) else { throw HTTPError(.notFound, message: "no item \(id)") }
            return Array(try Self.encoder.encode(item))
        }
        return Self.json(.ok, body)
    }

    /// Writes the database, then invalidates the cached item. While Redis is down the delete is journaled by the
    /// cache: reads of the item miss (and so see this write) until the delete has been replayed on recovery.
    func putItem(_ request: Request, context: some RequestContext) async throws -> Response {
        let id = try context.parameters.require("id", as: Int.self)
        let update = try await request.decode(as: ItemUpdate.self, context: context)
        let item = try await database.upsert(id: id, name: update.name, price: update.price)
        try await cache.delete(Self.key(id))
        return Self.json(.ok, Array(try Self.encoder.encode(item)))
    }

    /// The cache's health snapshot as JSON.
    ///
    /// 200 by default, also while the cache is degraded: the service still answers every request from the
    /// database then, so a load balancer or orchestrator that acted on a 503 would take every instance out of
    /// rotation (or restart them) during a Redis outage — making Redis's outage the service's, which is what the
    /// cache exists to prevent. The body says `"degraded": true` for dashboards and alerts. With
    /// `--health-503-when-degraded` it answers 503 while degraded, for a deployment whose health check alerts
    /// rather than routes.
    func health(_ request: Request, context: some RequestContext) throws -> Response {
        let health = cache.health()
        let status: HTTPResponse.Status = unavailableWhenDegraded && health.degraded ? .serviceUnavailable : .ok
        return Self.json(status, Array(try Self.encoder.encode(health)))
    }

    /// Every metric of the process in Prometheus's text format: the cache's, the database's and the HTTP
    /// server's.
    func metrics() -> Response {
        var body: [UInt8] = []
        body.reserveCapacity(16_384)
        registry.emit(into: &body)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }

    static func key(_ id: Int) -> String { "item:\(id)" }

    /// Sorted keys: the same item is the same bytes, whether it comes from the cache or the database.
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    static func json(_ status: HTTPResponse.Status, _ body: [UInt8]) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}
