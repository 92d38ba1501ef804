import CoreMetrics
import HiredisClient
import Logging
import Resilience
import Synchronization
import Tracing

/// A cache in front of Redis (or any ``CacheBackend``) that keeps answering when the backend does not.
///
/// Every backend call goes through a circuit breaker. While the backend is stopped, hung, slow or refusing,
/// calls degrade instead of failing: `get` is a miss, `set` reports success, `delete` and `invalidate` remove 0,
/// and `fetch` computes the value. Each call returns within the backend's deadline, and once the circuit is open,
/// at once, without touching the network.
///
/// **No stale reads after an outage.** A `set`, `delete` or `invalidate` that could not reach the backend is
/// recorded in a bounded invalidation journal, and reads of the keys it covers are misses until the journal has
/// been replayed (`UNLINK`, or `SCAN` + `UNLINK` for patterns) against the recovered backend. The backend may
/// have been only hung or cut off and still hold the old values: without the journal they would be served for
/// the rest of their TTL.
///
/// One object and one lifecycle: the cache creates and owns its Redis client, and ``run()`` (or a
/// swift-service-lifecycle `ServiceGroup`) runs everything in the background — the breaker's timers, the
/// recovery loop that probes Redis and replays the journal — and closes the client when it returns.
///
/// ```swift
/// let cache = ResilientCache(
///     redis: try RedisClientConfiguration(url: "redis://127.0.0.1:6380"),
///     configuration: ResilientCacheConfiguration(namespace: "catalog:"),
///     logger: logger
/// )
/// let group = ServiceGroup(services: [cache, httpServer], logger: logger)
/// try await group.run()
///
/// // in a request handler:
/// let profile = try await cache.fetch("profile:42", ttl: .seconds(60)) {
///     try await database.loadProfile(42)  // runs once per miss, also while Redis is down
/// }
/// ```
public final class ResilientCache: Sendable {
    public let configuration: ResilientCacheConfiguration
    /// The breakers, journals and recovery loops: one over a single backend, one per shard over a cluster.
    let units: RecoveryUnits
    /// The client the cache created, run by ``run()`` and closed when it returns; `nil` over a backend the caller
    /// supplied.
    let ownedClient: OwnedClient?
    let time: TimeSource
    let logger: Logger
    let flights = SingleFlight<FetchResult<[UInt8]?>>()
    /// The computations of `fetchOptional`, apart from `fetch`'s: no key can make one join the other.
    let optionalFlights = SingleFlight<FetchResult<[UInt8]?>>()
    let epochs = WriteEpochs()
    /// Set by the first ``run()``.
    let runStarted = Atomic<Bool>(false)
    let counters = CacheCounters()
    let instruments: CacheInstruments
    /// The configured tracer, or `nil` when tracing is off (see ResilientCache+Tracing.swift).
    let tracer: (any Tracer)?
    private let escapedNamespace: String

    /// Creates a cache over Redis that owns its client: ``run()`` drives it and closes it on the way out.
    ///
    /// Nothing is contacted here, so the cache starts even while Redis is down (it starts degraded and recovers
    /// by itself). The client reconnects no slower than ``ResilientCacheConfiguration/maximumProbeInterval``, so
    /// that the recovery loop's probes see Redis as soon as it answers.
    ///
    /// - Parameters:
    ///   - redis: where Redis is and how to talk to it.
    ///   - configuration: namespace, TTLs, degradation, journal, recovery and breaker settings.
    ///   - logger: receives one line per breaker transition, per journal overflow or replay, and per client
    ///     connection change — never one per call.
    ///   - metricsFactory: where the `cache_*` metrics, and the `redis_*` metrics of the client the cache creates,
    ///     go; `MetricsSystem.factory` by default.
    /// - Throws: ``HiredisClient/RedisClientError`` with code `INVALID_CONFIGURATION` for settings the client
    ///   cannot use.
    public convenience init(
        redis: RedisClientConfiguration,
        configuration: ResilientCacheConfiguration = ResilientCacheConfiguration(),
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws(RedisClientError) {
        var redis = redis
        redis.reconnect.capMaximumDelay(at: configuration.maximumProbeInterval)
        let client = try RedisClient(configuration: redis, logger: logger, metricsFactory: metricsFactory)
        self.init(
            backend: RedisCacheBackend(client: client),
            configuration: configuration,
            time: .continuous,
            logger: logger,
            metricsFactory: metricsFactory,
            ownedClient: OwnedClient(close: { await client.close() })
        )
    }

    /// Creates a cache over the Redis at `url` (`redis://[user:password@]host:port/db` or
    /// `unix:///path?db=N`) that owns its client, with the client's default settings otherwise, except the
    /// command timeout: ``defaultCommandTimeout`` (250 ms) instead of the client's 1 s, because every call that
    /// arrives in the first moments of a hang waits that long before the circuit opens.
    ///
    /// ```swift
    /// let cache = try ResilientCache(url: "redis://127.0.0.1:6379", logger: logger)
    /// ```
    ///
    /// - Throws: ``HiredisClient/RedisClientError`` with code `INVALID_URL` for a URL it cannot use,
    ///   `INVALID_CONFIGURATION` for settings the client cannot use.
    public convenience init(
        url: String,
        configuration: ResilientCacheConfiguration = ResilientCacheConfiguration(),
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws(RedisClientError) {
        var redis = try RedisClientConfiguration(url: url)
        redis.commandTimeout = Self.defaultCommandTimeout
        redis.tracer = configuration.tracer
        try self.init(
            redis: redis,
            configuration: configuration,
            logger: logger,
            metricsFactory: metricsFactory
        )
    }

    /// Creates a cache over a backend the caller supplied (and closes, if it needs closing).
    ///
    /// - Parameters:
    ///   - backend: where values live, e.g. a ``RedisCacheBackend`` over a client shared with other code.
    ///   - configuration: namespace, TTLs, degradation, journal, recovery and breaker settings.
    ///   - logger: receives one line per breaker transition and per journal overflow or replay.
    ///   - metricsFactory: where the `cache_*` metrics go; `MetricsSystem.factory` by default.
    public convenience init(
        backend: any CacheBackend,
        configuration: ResilientCacheConfiguration = ResilientCacheConfiguration(),
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.init(
            backend: backend,
            configuration: configuration,
            time: .continuous,
            logger: logger,
            metricsFactory: metricsFactory,
            ownedClient: nil
        )
    }

    /// Creates a cache on an injected clock (a manual one in tests).
    package convenience init<C: Clock>(
        backend: any CacheBackend,
        configuration: ResilientCacheConfiguration = ResilientCacheConfiguration(),
        clock: C,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) where C.Instant == ContinuousClock.Instant {
        self.init(
            backend: backend,
            configuration: configuration,
            time: TimeSource(clock),
            logger: logger,
            metricsFactory: metricsFactory,
            ownedClient: nil
        )
    }

    convenience init(
        backend: any CacheBackend,
        configuration: ResilientCacheConfiguration,
        time: TimeSource,
        logger: Logger,
        metricsFactory: any MetricsFactory,
        ownedClient: OwnedClient?
    ) {
        let instruments = CacheInstruments(name: configuration.name, factory: metricsFactory)
        let events = CircuitEventHub()
        let recovery = Recovery(
            name: "cache:\(configuration.name)",
            backend: backend,
            configuration: configuration,
            time: time,
            logger: logger,
            instruments: instruments.unit(shard: nil),
            events: events,
            replicationLossWindow: configuration.replicationLossWindow
        )
        self.init(
            units: RecoveryUnits(single: recovery, events: events),
            configuration: configuration,
            time: time,
            logger: logger,
            instruments: instruments,
            ownedClient: ownedClient
        )
    }

    init(
        units: RecoveryUnits,
        configuration: ResilientCacheConfiguration,
        time: TimeSource,
        logger: Logger,
        instruments: CacheInstruments,
        ownedClient: OwnedClient?
    ) {
        self.units = units
        self.configuration = configuration
        self.time = time
        self.logger = logger
        self.ownedClient = ownedClient
        self.escapedNamespace = GlobPattern.escape(configuration.namespace)
        self.tracer = activeTracer(configuration.tracer)
        self.instruments = instruments
        if configuration.namespace.isEmpty && configuration.journalOverflowPolicy == .flushNamespace {
            logger.warning(
                """
                the cache has no namespace: if its invalidation journal overflows, recovery removes every key of the \
                Redis database (journalOverflowPolicy flushNamespace); give it a namespace or use dropOldest
                """
            )
        }
    }

    /// The circuit breaker guarding the backend (over a cluster, every shard's at once): its state, metrics and
    /// events, and manual control.
    public var circuit: CacheCircuit { CacheCircuit(units: units) }

    // MARK: - Reads

    /// The value at `key`, or `nil` on a miss.
    ///
    /// With ``ResilientCacheConfiguration/degradeOnFailure`` (the default) an unavailable backend is a miss; see
    /// ``lookup(_:)`` for the reason.
    ///
    /// - Throws: ``CacheError`` for caller errors (`WRONGTYPE`), and with degradation off for availability.
    public func get(_ key: String) async throws(CacheError) -> [UInt8]? {
        switch try await lookup(key) {
        case .hit(let value): return value
        case .miss: return nil
        case .degraded(let error):
            if configuration.degradeOnFailure { return nil }
            throw error
        }
    }

    /// Looks `key` up and says why a miss is a miss: ``CacheLookup/hit(_:)``, ``CacheLookup/miss`` or
    /// ``CacheLookup/degraded(_:)`` with the reason. Never throws for availability, whatever the configuration.
    public func lookup(_ key: String) async throws(CacheError) -> CacheLookup {
        let name = qualified(key)
        let started = timingStart()
        defer { instruments.record(.get, since: started, time: time) }
        let unit = units.unit(forKey: name)
        if units.fences(name, in: unit) {
            counters.recordFencedRead()
            traceFencedRead(unit)
            return .miss
        }
        switch await call(.get, unit, { () async throws(CacheError) -> [UInt8]? in try await unit.backend.get(name) }) {
        case .success(let value?):
            countHit()
            return .hit(value)
        case .success(nil):
            countMiss()
            return .miss
        case .degraded(let error):
            degraded(.get, error)
            return .degraded(error)
        case .refused(let error):
            throw error
        }
    }

    /// Values for several keys at once (one `MGET`); `nil` where a key misses, is fenced, or the backend is
    /// unavailable (with degradation on).
    public func get(many keys: [String]) async throws(CacheError) -> [[UInt8]?] {
        if keys.isEmpty { return [] }
        let names = keys.map(qualified)
        let started = timingStart()
        defer { instruments.record(.getMany, since: started, time: time) }
        let groups = units.group(names)
        if groups.count == 1 { return try read(names, from: groups[0].unit, await readGroup(names, groups[0].unit)) }
        // Keys on several shards: one MGET per shard, all at once; a shard that is down degrades its keys only.
        let parts = await perUnit(groups) { unit, positions in
            let part = positions.map { names[$0] }
            return await self.readGroup(part, unit)
        }
        // One degraded operation, however many shards it could not reach.
        if let failure = parts.lazy.compactMap({ $0.outcome.unavailable }).first { degraded(.getMany, failure) }
        var result = [[UInt8]?](repeating: nil, count: names.count)
        for (group, outcome) in zip(groups, parts) {
            let part = group.positions.map { names[$0] }
            for (position, value) in zip(
                group.positions, try read(part, from: group.unit, outcome, countsDegraded: false))
            {
                result[position] = value
            }
        }
        return result
    }

    /// One `MGET` through `unit`, with the fence of each key taken before it.
    private func readGroup(_ names: [String], _ unit: Recovery) async -> (fenced: [Bool], outcome: Guarded<[[UInt8]?]>)
    {
        let fenced = names.map { units.fences($0, in: unit) }
        let outcome = await call(.getMany, unit) { () async throws(CacheError) -> [[UInt8]?] in
            try await unit.backend.get(many: names)
        }
        return (fenced, outcome)
    }

    /// The values a `get(many:)` returns for the keys read through one unit.
    private func read(
        _ names: [String],
        from unit: Recovery,
        _ group: (fenced: [Bool], outcome: Guarded<[[UInt8]?]>),
        countsDegraded: Bool = true
    ) throws(CacheError) -> [[UInt8]?] {
        switch group.outcome {
        case .success(let values):
            var result: [[UInt8]?] = []
            result.reserveCapacity(values.count)
            for (value, isFenced) in zip(values, group.fenced) {
                if isFenced {
                    counters.recordFencedRead()
                    result.append(nil)
                } else if let value {
                    countHit()
                    result.append(value)
                } else {
                    countMiss()
                    result.append(nil)
                }
            }
            return result
        case .degraded(let error):
            if countsDegraded { degraded(.getMany, error) }
            if configuration.degradeOnFailure { return Array(repeating: nil, count: names.count) }
            throw error
        case .refused(let error):
            throw error
        }
    }

    /// Runs `body` for each unit's group at once; inline when there is one.
    func perUnit<T: Sendable>(
        _ groups: [(unit: Recovery, positions: [Int])],
        _ body: @escaping @Sendable (Recovery, [Int]) async -> T
    ) async -> [T] {
        if groups.count == 1 { return [await body(groups[0].unit, groups[0].positions)] }
        return await withTaskGroup(of: (Int, T).self) { taskGroup in
            for (index, group) in groups.enumerated() {
                taskGroup.addTask { (index, await body(group.unit, group.positions)) }
            }
            var results = [T?](repeating: nil, count: groups.count)
            for await (index, value) in taskGroup { results[index] = value }
            return results.map { $0! }
        }
    }

    // MARK: - Writes

    /// Stores `value` at `key` for `ttl` (the configured default when `nil`), with TTL jitter.
    ///
    /// - Returns: true — also when the backend is unavailable and degradation is on; the key is then journaled, so
    ///   no older value is read back after recovery.
    /// - Throws: ``CacheError/Code/valueTooLarge`` above ``ResilientCacheConfiguration/maximumValueSize`` and
    ///   ``CacheError/Code/invalidArgument`` for a TTL of zero or less (the backend is not called and the breaker
    ///   does not count either), caller errors, and availability errors with degradation off. A TTL longer than
    ///   100 years is stored as 100 years.
    @discardableResult
    public func set(_ key: String, _ value: [UInt8], ttl: Duration? = nil) async throws(CacheError) -> Bool {
        guard value.count <= configuration.maximumValueSize else {
            throw CacheError(
                .valueTooLarge,
                "value of \(value.count) bytes exceeds maximumValueSize \(configuration.maximumValueSize)"
            )
        }
        let expiry = try storedTTL(ttl)
        let name = qualified(key)
        let unit = units.unit(forKey: name)
        let started = writeStart(unit)
        defer { instruments.record(.set, since: started, time: time) }
        unit.journal.noteTTL(expiry)
        epochs.advance(name)
        switch await call(
            .set, unit, { () async throws(CacheError) in try await unit.backend.set(name, value, ttl: expiry) })
        {
        case .success:
            unit.acknowledged(name)
            if let started { units.clear(key: name, recordedBefore: started, in: unit) }
            await forgetNotFound([name])
            return true
        case .degraded(let error):
            degraded(.set, error)
            unit.journal.record(key: name)
            if configuration.degradeOnFailure { return true }
            throw error
        case .refused(let error):
            throw error
        }
    }

    /// Removes `key`; returns how many keys were removed (0 or 1).
    ///
    /// When the backend is unavailable, returns 0 (degradation on) and journals the key: reads of it are misses
    /// until the delete has been replayed.
    @discardableResult
    public func delete(_ key: String) async throws(CacheError) -> Int {
        try await delete([key])
    }

    /// Removes several keys in one call; returns how many existed.
    @discardableResult
    public func delete(_ keys: [String]) async throws(CacheError) -> Int {
        if keys.isEmpty { return 0 }
        let names = keys.map(qualified)
        let groups = units.group(names)
        let started = writeStart(groups.map(\.unit))
        defer { instruments.record(.delete, since: started, time: time) }
        for name in names { epochs.advance(name) }
        let outcomes = await perUnit(groups) { unit, positions in
            await self.delete(positions.map { names[$0] }, through: unit, started: started)
        }
        return try removed(.delete, outcomes)
    }

    /// What a write split over units returns: the sum removed; the first refusal thrown; one degraded operation
    /// counted, and thrown with degradation off, when any unit could not be reached.
    private func removed(_ operation: CacheOperation, _ outcomes: [Guarded<Int>]) throws(CacheError) -> Int {
        var removed = 0
        for case .success(let count) in outcomes { removed += count }
        for case .refused(let error) in outcomes { throw error }
        if let unavailable = outcomes.lazy.compactMap(\.unavailable).first {
            degraded(operation, unavailable)
            if !configuration.degradeOnFailure { throw unavailable }
        }
        return removed
    }

    /// Deletes keys of one unit; journals them there when the backend is unavailable.
    private func delete(_ names: [String], through unit: Recovery, started: ContinuousClock.Instant?) async -> Guarded<
        Int
    > {
        let outcome = await call(.delete, unit) { () async throws(CacheError) -> Int in
            try await unit.backend.delete(names)
        }
        switch outcome {
        case .success:
            for name in names { unit.acknowledged(name) }
            if let started { for name in names { units.clear(key: name, recordedBefore: started, in: unit) } }
            await forgetNotFound(names)
        case .degraded:
            for name in names { unit.journal.record(key: name) }
            // The "not found" entries may live on other shards: each is journaled with its own.
            for name in notFoundNames(names) { units.unit(forKey: name).journal.record(key: name) }
        case .refused:
            break
        }
        return outcome
    }

    /// Removes every key of the namespace matching a Redis glob `pattern` (`*`, `?`, `[…]`), with `SCAN` +
    /// `UNLINK` in batches — never `KEYS`. The pattern is matched inside the namespace only: `"user:*"` in
    /// namespace `"app:"` removes `app:user:*`.
    ///
    /// When the backend is unavailable, returns 0 (degradation on) and journals the pattern: reads of matching
    /// keys are misses until it has been replayed.
    @discardableResult
    public func invalidate(pattern: String) async throws(CacheError) -> Int {
        let qualifiedPattern = escapedNamespace + pattern
        let started = timingStart()
        defer { instruments.record(.invalidate, since: started, time: time) }
        epochs.advancePatterns()
        // Over a cluster every shard walks its own keys, and a shard that is down journals the pattern for itself.
        let targets = units.units(forPattern: qualifiedPattern).map { (unit: $0, positions: [Int]()) }
        let notFound = notFoundPattern(qualifiedPattern)
        let outcomes = await perUnit(targets) { unit, _ in
            let outcome = await self.call(.invalidate, unit) { () async throws(CacheError) -> Int in
                try await unit.backend.invalidate(pattern: qualifiedPattern)
            }
            if case .degraded = outcome {
                unit.journal.record(pattern: qualifiedPattern)
                if let notFound { unit.journal.record(pattern: notFound) }
            }
            return outcome
        }
        if outcomes.contains(where: { $0.succeeded }) { await forgetNotFound(matching: qualifiedPattern) }
        return try removed(.invalidate, outcomes)
    }

    /// Removes the "not found" entries of deleted keys (negative caching on), so that an item created since is
    /// found at once; journals them when the backend is unavailable, to be removed when it answers.
    private func forgetNotFound(_ names: [String]) async {
        let notFound = notFoundNames(names)
        if notFound.isEmpty { return }
        for (unit, positions) in units.group(notFound) {
            let part = positions.map { notFound[$0] }
            if case .degraded = await unit.call({ () async throws(CacheError) -> Int in
                try await unit.backend.delete(part)
            }) {
                for name in part { unit.journal.record(key: name) }
            }
        }
    }

    /// The pattern of the "not found" entries of the keys `pattern` matches, when negative caching is on and
    /// `pattern` does not already match them (one ending in `*` does).
    private func notFoundPattern(_ pattern: String) -> String? {
        guard configuration.negativeTTL != nil else { return nil }
        if pattern.hasSuffix("*") && !pattern.hasSuffix("\\*") { return nil }
        return pattern + GlobPattern.escape(Self.notFoundSuffix)
    }

    private func forgetNotFound(matching pattern: String) async {
        guard let notFound = notFoundPattern(pattern) else { return }
        for unit in units.units(forPattern: notFound) {
            if case .degraded = await unit.call({ () async throws(CacheError) -> Int in
                try await unit.backend.invalidate(pattern: notFound)
            }) {
                unit.journal.record(pattern: notFound)
            }
        }
    }

    // MARK: - Cache-aside

    /// The cached value at `key`, or `compute`'s value, stored for next time.
    ///
    /// Concurrent fetches of the same missing key in this process run `compute` once and share its result
    /// (also while the circuit is open, when every read misses: the origin does not take the whole load at
    /// once). When the backend is degraded, the computed value is returned without waiting on the backend to
    /// store it. `compute`'s own errors propagate and never count against the backend.
    ///
    /// A store that fails is not journaled: a computed value is not a change of the data, and what the backend
    /// still holds was valid when it was written.
    ///
    /// ``fetchWithSource(_:ttl:compute:)`` also says whether the value was a hit or computed.
    ///
    /// - Parameters:
    ///   - ttl: how long the computed value is kept; the configured default when `nil`. Jitter applies.
    ///   - compute: produces the value on a miss, e.g. a database query.
    /// - Throws: what `compute` throws; ``CacheError`` with ``CacheError/Code/invalidArgument`` for a TTL of zero
    ///   or less (before anything else happens), and caller errors of the lookup.
    public func fetch(
        _ key: String,
        ttl: Duration? = nil,
        compute: @escaping @Sendable () async throws -> [UInt8]
    ) async throws -> [UInt8] {
        try await fetchWithSource(key, ttl: ttl, compute: compute).value
    }

    /// ``fetch(_:ttl:compute:)`` that also says where the value came from: ``FetchSource/hit``,
    /// ``FetchSource/computedAndStored``, ``FetchSource/computedWhileDegraded`` or
    /// ``FetchSource/computedNotStored``.
    ///
    /// A caller that joined a concurrent computation of the same key gets that computation's source.
    ///
    /// ```swift
    /// let result = try await cache.fetchWithSource("product:42", ttl: .seconds(60)) { try await render(42) }
    /// response.headers["X-Cache"] = result.source == .hit ? "HIT" : "MISS"
    /// ```
    public func fetchWithSource(
        _ key: String,
        ttl: Duration? = nil,
        compute: @escaping @Sendable () async throws -> [UInt8]
    ) async throws -> FetchResult<[UInt8]> {
        let result = try await fetch(key, ttl: ttl, remembersNotFound: false) { try await compute() }
        // compute never returns nil here, and a remembered "not found" is read only with remembersNotFound.
        guard let value = result.value else {
            throw CacheError(.invalidArgument, "fetch of '\(key)' produced no value")
        }
        return FetchResult(value: value, source: result.source)
    }

    /// Cache-aside for items that may not exist: `compute` returns `nil` for "not found".
    ///
    /// With ``ResilientCacheConfiguration/negativeTTL`` set, a `nil` is remembered for that long (in a separate
    /// entry beside the key, so no stored value can be mistaken for it), and fetches of the key return `nil`
    /// without running `compute`: a missing item does not reach the database on every request. Concurrent
    /// fetches share one computation, as in ``fetch(_:ttl:compute:)``. A value stored at the key (`set`, or a
    /// fetch that finds it) wins over the remembered "not found"; `delete` and `invalidate` remove both; a key
    /// fenced by the invalidation journal is never answered from a remembered "not found".
    ///
    /// Without `negativeTTL` (the default) nothing is remembered and every fetch of a missing item computes.
    ///
    /// ```swift
    /// let page = try await cache.fetchOptional("product:\(id)", ttl: .seconds(60)) {
    ///     try await database.product(id).map(render)  // nil when there is no such product
    /// }
    /// ```
    ///
    /// - Returns: the cached or computed value, or `nil` when the item does not exist.
    public func fetchOptional(
        _ key: String,
        ttl: Duration? = nil,
        compute: @escaping @Sendable () async throws -> [UInt8]?
    ) async throws -> [UInt8]? {
        try await fetchOptionalWithSource(key, ttl: ttl, compute: compute).value
    }

    /// ``fetchOptional(_:ttl:compute:)`` that also says where the answer came from; a remembered "not found" is a
    /// ``FetchSource/hit`` with a `nil` value.
    public func fetchOptionalWithSource(
        _ key: String,
        ttl: Duration? = nil,
        compute: @escaping @Sendable () async throws -> [UInt8]?
    ) async throws -> FetchResult<[UInt8]?> {
        try await fetch(key, ttl: ttl, remembersNotFound: true, compute: compute)
    }

    /// The one implementation of every `fetch`.
    private func fetch(
        _ key: String,
        ttl: Duration?,
        remembersNotFound: Bool,
        compute: @escaping @Sendable () async throws -> [UInt8]?
    ) async throws -> FetchResult<[UInt8]?> {
        if let tracer {
            return try await traceFetch(tracer) {
                try await untracedFetch(key, ttl: ttl, remembersNotFound: remembersNotFound, compute: compute)
            }
        }
        return try await untracedFetch(key, ttl: ttl, remembersNotFound: remembersNotFound, compute: compute)
    }

    private func untracedFetch(
        _ key: String,
        ttl: Duration?,
        remembersNotFound: Bool,
        compute: @escaping @Sendable () async throws -> [UInt8]?
    ) async throws -> FetchResult<[UInt8]?> {
        let expiry = try storedTTL(ttl)
        let name = qualified(key)
        // Taken before the lookup: a value computed after this reflects the data as of now, so a write or
        // invalidation that goes out from here on makes it too old to store, and a journal entry recorded from
        // here on is newer than it.
        let started = writeStart(units.unit(forKey: name))
        let mark = epochs.mark(name)
        let notFoundName = remembersNotFound && configuration.negativeTTL != nil ? name + Self.notFoundSuffix : nil
        let storeAfterwards: Bool
        if let notFoundName {
            switch try await lookup(name, orNotFoundAt: notFoundName) {
            case .hit(let value): return FetchResult(value: value, source: .hit)
            case .notFound: return FetchResult(value: nil, source: .hit)
            case .miss: storeAfterwards = true
            case .degraded: storeAfterwards = false
            }
        } else {
            switch try await lookup(key) {
            case .hit(let value): return FetchResult(value: value, source: .hit)
            case .miss: storeAfterwards = true
            case .degraded: storeAfterwards = false
            }
        }
        // A plain fetch must never receive the nil of an optional one: they compute in separate flights.
        let (result, _) = try await (remembersNotFound ? optionalFlights : flights).run(name) { [self] in
            let value = try await compute()
            counters.recordOriginCall()
            guard storeAfterwards else { return FetchResult(value: value, source: .computedWhileDegraded) }
            if let value {
                guard value.count <= configuration.maximumValueSize else {
                    return FetchResult(value: value, source: .computedNotStored)
                }
                let source = await store(computed: value, name: name, expiry: expiry, started: started, mark: mark)
                return FetchResult(value: value, source: source)
            }
            guard let notFoundName, let negativeTTL = configuration.negativeTTL else {
                return FetchResult(value: nil, source: .computedNotStored)
            }
            let source = await store(
                computed: Self.notFoundMarker,
                name: notFoundName,
                expiry: jittered(negativeTTL),
                started: started,
                mark: mark,
                epochKey: name
            )
            return FetchResult(value: nil, source: source)
        }
        return result
    }

    /// Stores what a fetch computed, unless a write or invalidation of the key went out since the fetch began
    /// (`mark`): the computed value may predate it.
    private func store(
        computed value: [UInt8],
        name: String,
        expiry: Duration?,
        started: ContinuousClock.Instant?,
        mark: WriteEpochs.Mark,
        epochKey: String? = nil
    ) async -> FetchSource {
        guard epochs.unchanged(epochKey ?? name, since: mark) else { return .computedNotStored }
        let storeStarted = timingStart()
        defer { instruments.record(.fetchStore, since: storeStarted, time: time) }
        let unit = units.unit(forKey: name)
        unit.journal.noteTTL(expiry)
        switch await call(
            .fetchStore, unit, { () async throws(CacheError) in try await unit.backend.set(name, value, ttl: expiry) })
        {
        case .success:
            unit.acknowledged(name)
            if let started { units.clear(key: name, recordedBefore: started, in: unit) }
            return .computedAndStored
        case .degraded(let error):
            degraded(.fetchStore, error)
            return .computedWhileDegraded
        case .refused:
            return .computedNotStored
        }
    }

    /// What a lookup that also reads the remembered "not found" found.
    private enum NotFoundLookup {
        case hit([UInt8])
        case notFound
        case miss
        case degraded
    }

    /// Reads `name` and its "not found" entry in one `MGET`. A value wins over a "not found" (a `set` since);
    /// a fenced key is a miss, whatever is remembered.
    private func lookup(_ name: String, orNotFoundAt notFoundName: String) async throws(CacheError) -> NotFoundLookup {
        let started = timingStart()
        defer { instruments.record(.get, since: started, time: time) }
        let unit = units.unit(forKey: name)
        if units.fences(name, in: unit) {
            counters.recordFencedRead()
            return .miss
        }
        // Over a cluster the entry usually lives on another shard: each read goes through its own shard's breaker,
        // so a dead shard never counts against a healthy one. A fenced entry (its removal journaled) is absent.
        let markerUnit = units.unit(forKey: notFoundName)
        let markerFenced = units.fences(notFoundName, in: markerUnit)
        let value: Guarded<[UInt8]?>
        let marker: Guarded<[UInt8]?>
        if markerUnit === unit {
            let names = [name, notFoundName]
            switch await unit.call({ () async throws(CacheError) -> [[UInt8]?] in
                try await unit.backend.get(many: names)
            }) {
            case .success(let values):
                value = .success(values.first ?? nil)
                marker = .success(values.count > 1 ? values[1] : nil)
            case .degraded(let error): (value, marker) = (.degraded(error), .degraded(error))
            case .refused(let error): throw error
            }
        } else {
            async let markerRead = markerUnit.call { () async throws(CacheError) -> [UInt8]? in
                try await markerUnit.backend.get(notFoundName)
            }
            value = await unit.call { () async throws(CacheError) -> [UInt8]? in try await unit.backend.get(name) }
            marker = await markerRead
        }
        switch value {
        case .success(let found?):
            countHit()
            return .hit(found)
        case .success(nil):
            if case .success(_?) = marker, !markerFenced {
                countHit()
                return .notFound
            }
            countMiss()
            return .miss
        case .degraded(let error):
            degraded(.get, error)
            return .degraded
        case .refused(let error):
            throw error
        }
    }

    /// Appended to a key's name for the entry that remembers "not found". A NUL and a word: keys that end so are
    /// not written by people, and the entry is read only beside its key, so no value is ever taken for it.
    static let notFoundSuffix = "\u{0}not-found"
    /// What the "not found" entry holds; only its presence is read.
    static let notFoundMarker: [UInt8] = [0]

    /// The "not found" entries of `names`, when negative caching is on.
    private func notFoundNames(_ names: [String]) -> [String] {
        configuration.negativeTTL == nil ? [] : names.map { $0 + Self.notFoundSuffix }
    }

    // MARK: - Health, metrics, lifecycle

    /// A snapshot for a health endpoint. Over a cluster, ``CacheHealth/shards`` lists each shard and the rest sums
    /// them up: the state is the worst shard's, the journal size the sum.
    public func health() -> CacheHealth {
        let all = units.all
        let reports = all.map { unit in (unit, unit.breaker.metrics, unit.journal.status) }
        var health = Self.health(of: reports, now: time.now)
        if units.isSharded {
            health.shards = reports.compactMap { unit, metrics, journal in
                // The unit of keys whose shard is unknown shows only while it has something to say.
                if unit.shard == RecoveryUnits.unassignedLabel && metrics.state == .closed && journal.isEmpty {
                    return nil
                }
                var shard = Self.health(of: [(unit, metrics, journal)], now: time.now)
                shard.shard = unit.shard
                shard.shardDescription = units.describe(unit)
                return shard
            }
        }
        return health
    }

    private static func health(
        of reports: [(unit: Recovery, metrics: CircuitBreakerMetrics, journal: JournalKeeper.Status)],
        now: ContinuousClock.Instant
    ) -> CacheHealth {
        let worst = reports.max { $0.metrics.state.gaugeValue < $1.metrics.state.gaugeValue }!
        let state = worst.metrics.state
        let size = reports.map(\.journal.size).reduce(0, +)
        let overflowed = reports.contains { $0.journal.overflowed }
        let last = reports.compactMap { $0.metrics.recentFailures.last }.max { $0.instant < $1.instant }
        let degraded = state != .closed || overflowed
        return CacheHealth(
            status: degraded || size > 0 ? "degraded" : "ok",
            state: state.name,
            degraded: degraded,
            failureRate: reports.map(\.metrics.failureRate).max() ?? 0,
            journalSize: size,
            journalOverflowed: overflowed,
            lastFailure: last.map { "\($0.kind): \($0.message)" },
            lastFailureAgeSeconds: last.map { $0.instant.duration(to: now).seconds },
            secondsInState: worst.metrics.timeInCurrentState.seconds
        )
    }

    /// Hits, misses, degraded operations, journal figures (summed over the shards of a cluster) and the breaker's
    /// own snapshot (over a cluster, the snapshot of the shard in the worst state).
    public var metrics: CacheMetricsSnapshot {
        let all = units.all
        let statuses = all.map(\.journal.status)
        let journal = JournalKeeper.Status(
            size: statuses.map(\.size).reduce(0, +),
            overflowed: statuses.contains { $0.overflowed },
            overflows: statuses.map(\.overflows).reduce(0, +),
            dropped: statuses.map(\.dropped).reduce(0, +),
            replays: statuses.map(\.replays).reduce(0, +)
        )
        let breakers = all.map(\.breaker.metrics)
        let worst = breakers.max { $0.state.gaugeValue < $1.state.gaugeValue }!
        return counters.snapshot(journal: journal, breaker: worst)
    }

    // MARK: - Helpers

    /// When the call started, if anything needs it: the duration metric.
    private func timingStart() -> ContinuousClock.Instant? {
        instruments.timesOperations ? time.now : nil
    }

    /// When a write started, if anything needs it: the duration metric, or a journal entry this write may
    /// supersede. With the journal empty at the start, an entry recorded meanwhile is newer than the write and
    /// must stay, so no instant is needed (and a clock read is not free).
    private func writeStart(_ unit: Recovery) -> ContinuousClock.Instant? {
        instruments.timesOperations || units.mayHoldEntries(unit) ? time.now : nil
    }

    private func writeStart(_ units: [Recovery]) -> ContinuousClock.Instant? {
        instruments.timesOperations || units.contains(where: self.units.mayHoldEntries) ? time.now : nil
    }

    /// A hit, in the snapshot's counters and the exported `cache_hits_total`.
    private func countHit() {
        counters.recordHit()
        instruments.hits.increment()
    }

    /// A miss, in the snapshot's counters and the exported `cache_misses_total`.
    private func countMiss() {
        counters.recordMiss()
        instruments.misses.increment()
    }

    private func degraded(_ operation: CacheOperation, _ error: CacheError) {
        counters.recordDegraded(operation)
        instruments.degraded(operation)
    }

    func qualified(_ key: String) -> String {
        configuration.namespace + key
    }

    /// The longest TTL the cache sends: longer ones (up to `.seconds(Int64.max)`) are stored with this one, as
    /// Redis refuses an expiry that overflows its clock.
    static let maximumTTL: Duration = .seconds(100 * 365 * 86_400)

    /// The expiry to store with: `ttl` or the default, capped at ``maximumTTL``, with jitter.
    ///
    /// - Throws: ``CacheError/Code/invalidArgument`` for a TTL of zero or less (it would silently become the
    ///   shortest expiry Redis has, or none at all).
    private func storedTTL(_ ttl: Duration?) throws(CacheError) -> Duration? {
        guard let ttl = ttl ?? configuration.defaultTTL else { return nil }
        guard ttl > .zero else { throw CacheError(.invalidArgument, "ttl must be positive, got \(ttl)") }
        return jittered(min(ttl, Self.maximumTTL))
    }

    /// `ttl` (at most ``maximumTTL``) spread by the configured jitter.
    private func jittered(_ ttl: Duration) -> Duration {
        guard configuration.ttlJitter > 0 else { return ttl }
        let factor = Double.random(in: (1 - configuration.ttlJitter)...(1 + configuration.ttlJitter))
        return min(max(.milliseconds(1), ttl * factor), Self.maximumTTL)
    }
}

extension RedisClientConfiguration.Reconnect {
    /// A client the cache creates reconnects no slower than the recovery loop probes (`limit`, its
    /// ``ResilientCacheConfiguration/maximumProbeInterval``), so that the probes see Redis as soon as it answers.
    mutating func capMaximumDelay(at limit: Duration) {
        if maximumDelay > limit { maximumDelay = max(initialDelay, limit) }
    }
}

/// What the cache does with a client it created: runs its background work inside ``ResilientCache/run()`` (a
/// cluster client's topology refresh) and closes it last.
struct OwnedClient: Sendable {
    var run: (@Sendable () async -> Void)? = nil
    let close: @Sendable () async -> Void
}

extension GlobPattern {
    /// `text` with the glob's special characters escaped, so a namespace matches only itself.
    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if "*?[]\\".contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}
