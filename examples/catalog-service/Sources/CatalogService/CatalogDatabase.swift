import Metrics

/// A catalog item, as the database stores it and the HTTP API returns it.
struct Item: Codable, Sendable, Equatable {
    var id: Int
    var name: String
    var price: Double
    /// Bumped on every write, so a client can tell a cached read from a fresh one.
    var version: Int
}

/// The slow origin behind the cache: items in memory, and a sleep per query standing in for a real database's
/// round trip. Every query is counted (`catalog_database_queries_total`), so the cache's effect is visible in
/// `/metrics`: a hit does not query, a miss does, and while Redis is down every read does.
actor CatalogDatabase {
    private var items: [Int: Item]
    private let latency: Duration
    private let queries = Counter(label: "catalog_database_queries_total")

    /// - Parameters:
    ///   - latency: how long each query takes.
    ///   - items: the catalog to start with; ten sample items by default.
    init(latency: Duration, items: [Item] = CatalogDatabase.sampleItems) {
        self.latency = latency
        self.items = Dictionary(uniqueKeysWithValues: items.map { ($0.id, $0) })
    }

    /// The item with `id`, or `nil`.
    func item(_ id: Int) async throws -> Item? {
        try await query()
        return items[id]
    }

    /// Creates or replaces the item with `id`; returns it with its new version.
    func upsert(id: Int, name: String, price: Double) async throws -> Item {
        try await query()
        let item = Item(id: id, name: name, price: price, version: (items[id]?.version ?? 0) + 1)
        items[id] = item
        return item
    }

    private func query() async throws {
        queries.increment()
        if latency > .zero { try await Task.sleep(for: latency) }
    }

    static let sampleItems: [Item] = (1...10).map {
        Item(id: $0, name: "Item \($0)", price: Double($0) * 2.5, version: 1)
    }
}
