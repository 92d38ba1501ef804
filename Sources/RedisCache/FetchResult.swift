/// Where the value of a `fetch` came from, so that a handler can say so in a header or a metric.
///
/// A struct with static members rather than an enum, so that sources can be added without breaking a `switch`.
///
/// ```swift
/// let result = try await cache.fetchWithSource("product:42", ttl: .seconds(60)) { try await render(42) }
/// response.headers["X-Cache"] = result.source.description  // "hit", "computed_and_stored", …
/// ```
public struct FetchSource: Hashable, Sendable, CustomStringConvertible {
    enum Base: String, Hashable, Sendable {
        case hit
        case computedAndStored = "computed_and_stored"
        case computedWhileDegraded = "computed_while_degraded"
        case computedNotStored = "computed_not_stored"
    }

    let base: Base

    /// The cache had the entry: a value, or (for ``ResilientCache/fetchOptional(_:ttl:compute:)``) the
    /// remembered "not found". `compute` did not run.
    public static let hit = FetchSource(base: .hit)
    /// `compute` ran (in this call or in a concurrent one for the same key) and its result was stored.
    public static let computedAndStored = FetchSource(base: .computedAndStored)
    /// `compute` ran because the backend was unavailable — the circuit open, or the lookup or the store failed —
    /// and nothing was stored. Many of these mean the database is taking the cache's load.
    public static let computedWhileDegraded = FetchSource(base: .computedWhileDegraded)
    /// `compute` ran and its result was not stored although the backend is available: the value exceeds
    /// ``ResilientCacheConfiguration/maximumValueSize``, the backend refused it, or `compute` found nothing and
    /// ``ResilientCacheConfiguration/negativeTTL`` is off.
    public static let computedNotStored = FetchSource(base: .computedNotStored)

    /// Whether `compute` ran for this result.
    public var computed: Bool { base != .hit }

    /// `hit`, `computed_and_stored`, `computed_while_degraded` or `computed_not_stored`: stable, fit for a header
    /// or a metric label.
    public var description: String { base.rawValue }
}

/// A value from `fetch` and where it came from.
public struct FetchResult<Value: Sendable>: Sendable {
    /// The cached or computed value; `nil` from the optional variants when the item does not exist.
    public var value: Value
    /// Where ``value`` came from.
    public var source: FetchSource

    public init(value: Value, source: FetchSource) {
        self.value = value
        self.source = source
    }
}

extension FetchResult: Equatable where Value: Equatable {}
