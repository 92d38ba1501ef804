#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `Codable` values, stored as JSON (`JSONEncoder` with sorted keys, default date and data strategies).
extension ResilientCache {
    /// The value at `key` decoded from JSON, or `nil` on a miss.
    ///
    /// A value that does not decode as `T` throws ``CacheError/Code/encoding`` (it was written by something else,
    /// or the type changed); it does not count against the backend.
    public func get<T: Decodable>(_ key: String, as type: T.Type) async throws(CacheError) -> T? {
        guard let bytes = try await get(key) else { return nil }
        return try decode(type, from: bytes, key: key)
    }

    /// Stores `value` encoded as JSON. See ``set(_:_:ttl:)``; the label keeps a byte array from being taken for a
    /// `Codable` value (`set(key, [1, 2, 3])` stores three bytes, `set(key, encoding: [1, 2, 3])` the text `[1,2,3]`).
    @discardableResult
    public func set<T: Encodable>(_ key: String, encoding value: T, ttl: Duration? = nil) async throws(CacheError)
        -> Bool
    {
        try await set(key, try encode(value, key: key), ttl: ttl)
    }

    /// Cache-aside for `Codable` values. See ``fetch(_:ttl:compute:)``.
    ///
    /// ```swift
    /// let user: User = try await cache.fetch("user:42", as: User.self, ttl: .seconds(60)) {
    ///     try await database.user(42)
    /// }
    /// ```
    public func fetch<T: Codable & Sendable>(
        _ key: String,
        as type: T.Type,
        ttl: Duration? = nil,
        compute: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await fetchWithSource(key, as: type, ttl: ttl, compute: compute).value
    }

    /// ``fetch(_:as:ttl:compute:)`` that also says where the value came from; see ``fetchWithSource(_:ttl:compute:)``.
    public func fetchWithSource<T: Codable & Sendable>(
        _ key: String,
        as type: T.Type,
        ttl: Duration? = nil,
        compute: @escaping @Sendable () async throws -> T
    ) async throws -> FetchResult<T> {
        let result = try await fetchWithSource(key, ttl: ttl) {
            let value = try await compute()
            return try self.encode(value, key: key)
        }
        return FetchResult(value: try decode(type, from: result.value, key: key), source: result.source)
    }

    /// Cache-aside for `Codable` items that may not exist; see ``fetchOptional(_:ttl:compute:)``.
    ///
    /// ```swift
    /// let user: User? = try await cache.fetchOptional("user:42", as: User.self) { try await database.user(42) }
    /// ```
    public func fetchOptional<T: Codable & Sendable>(
        _ key: String,
        as type: T.Type,
        ttl: Duration? = nil,
        compute: @escaping @Sendable () async throws -> T?
    ) async throws -> T? {
        let bytes = try await fetchOptional(key, ttl: ttl) {
            guard let value = try await compute() else { return nil }
            return try self.encode(value, key: key)
        }
        return try bytes.map { bytes throws(CacheError) in try decode(type, from: bytes, key: key) }
    }

    private func encode<T: Encodable>(_ value: T, key: String) throws(CacheError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw CacheError(.encoding, "could not encode \(T.self) for '\(key)': \(error)", underlying: error)
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], key: String) throws(CacheError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw CacheError(.encoding, "could not decode \(T.self) from '\(key)': \(error)", underlying: error)
        }
    }
}
