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
    /// The breaker, journal and recovery loop of the backend.
    let recovery: Recovery
    let backend: any CacheBackend
    /// The client the cache created, closed when ``run()`` returns; `nil` over a backend the caller supplied.
    let ownedClient: RedisClient?
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

    var journal: JournalKeeper { recovery.journal }

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
        if redis.reconnect.maximumDelay > configuration.maximumProbeInterval {
            redis.reconnect.maximumDelay = max(redis.reconnect.initialDelay, configuration.maximumProbeInterval)
        }
        let client = try RedisClient(configuration: redis, logger: logger, metricsFactory: metricsFactory)
        self.init(
            backend: RedisCacheBackend(client: client),
            configuration: configuration,
            time: .continuous,
            logger: logger,
            metricsFactory: metricsFactory,
            ownedClient: client
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

    init(
        backend: any CacheBackend,
        configuration: ResilientCacheConfiguration,
        time: TimeSource,
        logger: Logger,
        metricsFactory: any MetricsFactory,
        ownedClient: RedisClient?
    ) {
        self.backend = backend
        self.configuration = configuration
        self.time = time
        self.logger = logger
        self.ownedClient = ownedClient
        self.escapedNamespace = GlobPattern.escape(configuration.namespace)
        self.tracer = activeTracer(configuration.tracer)
        let instruments = CacheInstruments(name: configuration.name, factory: metricsFactory)
        self.instruments = instruments
        if configuration.namespace.isEmpty && configuration.journalOverflowPolicy == .flushNamespace {
            logger.warning(
                """
                the cache has no namespace: if its invalidation journal overflows, recovery removes every key of the \
                Redis database (journalOverflowPolicy flushNamespace); give it a namespace or use dropOldest
                """
            )
        }
        self.recovery = Recovery(
            name: "cache:\(configuration.name)",
            backend: backend,
            configuration: configuration,
            time: time,
            logger: logger,
            instruments: instruments
        )
    }

    /// The circuit breaker guarding the backend: its state, metrics and events, and manual control.
    public var circuit: CacheCircuit { CacheCircuit(breaker: recovery.breaker) }

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
        if journal.fences(name) {
            counters.recordFencedRead()
            traceFencedRead()
            return .miss
        }
        switch await call(.get, { () async throws(CacheError) -> [UInt8]? in try await backend.get(name) }) {
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
        let fenced = names.map { journal.fences($0) }
        switch await call(.getMany, { () async throws(CacheError) -> [[UInt8]?] in try await backend.get(many: names) })
        {
        case .success(let values):
            var result: [[UInt8]?] = []
            result.reserveCapacity(values.count)
            for (value, isFenced) in zip(values, fenced) {
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
            degraded(.getMany, error)
            if configuration.degradeOnFailure { return Array(repeating: nil, count: keys.count) }
            throw error
        case .refused(let error):
            throw error
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
        let started = writeStart()
        defer { instruments.record(.set, since: started, time: time) }
        journal.noteTTL(expiry)
        epochs.advance(name)
        switch await call(.set, { () async throws(CacheError) in try await backend.set(name, value, ttl: expiry) }) {
        case .success:
            if let started { journal.clear(key: name, recordedBefore: started) }
            await forgetNotFound([name])
            return true
        case .degraded(let error):
            degraded(.set, error)
            journal.record(key: name)
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
        let started = writeStart()
        defer { instruments.record(.delete, since: started, time: time) }
        for name in names { epochs.advance(name) }
        switch await call(.delete, { () async throws(CacheError) -> Int in try await backend.delete(names) }) {
        case .success(let removed):
            if let started { for name in names { journal.clear(key: name, recordedBefore: started) } }
            await forgetNotFound(names)
            return removed
        case .degraded(let error):
            degraded(.delete, error)
            for name in names + notFoundNames(names) { journal.record(key: name) }
            if configuration.degradeOnFailure { return 0 }
            throw error
        case .refused(let error):
            throw error
        }
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
        switch await call(
            .invalidate,
            { () async throws(CacheError) -> Int in
                try await backend.invalidate(pattern: qualifiedPattern)
            })
        {
        case .success(let removed):
            await forgetNotFound(matching: qualifiedPattern)
            return removed
        case .degraded(let error):
            degraded(.invalidate, error)
            journal.record(pattern: qualifiedPattern)
            if let notFound = notFoundPattern(qualifiedPattern) { journal.record(pattern: notFound) }
            if configuration.degradeOnFailure { return 0 }
            throw error
        case .refused(let error):
            throw error
        }
    }

    /// Removes the "not found" entries of deleted keys (negative caching on), so that an item created since is
    /// found at once; journals them when the backend is unavailable, to be removed when it answers.
    private func forgetNotFound(_ names: [String]) async {
        let notFound = notFoundNames(names)
        if notFound.isEmpty { return }
        if case .degraded = await recovery.call({ () async throws(CacheError) -> Int in
            try await backend.delete(notFound)
        }) {
            for name in notFound { journal.record(key: name) }
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
        if case .degraded = await recovery.call({ () async throws(CacheError) -> Int in
            try await backend.invalidate(pattern: notFound)
        }) {
            journal.record(pattern: notFound)
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
        let started = writeStart()
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
        journal.noteTTL(expiry)
        switch await call(
            .fetchStore, { () async throws(CacheError) in try await backend.set(name, value, ttl: expiry) })
        {
        case .success:
            if let started { journal.clear(key: name, recordedBefore: started) }
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
        if journal.fences(name) {
            counters.recordFencedRead()
            return .miss
        }
        let names = [name, notFoundName]
        switch await recovery.call({ () async throws(CacheError) -> [[UInt8]?] in try await backend.get(many: names) })
        {
        case .success(let values):
            if let value = values.first ?? nil {
                countHit()
                return .hit(value)
            }
            if values.count > 1, values[1] != nil {
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

    /// A snapshot for a health endpoint.
    public func health() -> CacheHealth {
        let metrics = recovery.breaker.metrics
        let journalStatus = journal.status
        let state = metrics.state
        let last = metrics.recentFailures.last
        let degraded = state != .closed || journalStatus.overflowed
        return CacheHealth(
            status: degraded || journalStatus.size > 0 ? "degraded" : "ok",
            state: state.name,
            degraded: degraded,
            failureRate: metrics.failureRate,
            journalSize: journalStatus.size,
            journalOverflowed: journalStatus.overflowed,
            lastFailure: last.map { "\($0.kind): \($0.message)" },
            lastFailureAgeSeconds: last.map { $0.instant.duration(to: time.now).seconds },
            secondsInState: metrics.timeInCurrentState.seconds
        )
    }

    /// Hits, misses, degraded operations, journal figures and the breaker's own snapshot.
    public var metrics: CacheMetricsSnapshot {
        counters.snapshot(journal: journal.status, breaker: recovery.breaker.metrics)
    }

    // MARK: - Helpers

    /// When the call started, if anything needs it: the duration metric.
    private func timingStart() -> ContinuousClock.Instant? {
        instruments.timesOperations ? time.now : nil
    }

    /// When a write started, if anything needs it: the duration metric, or a journal entry this write may
    /// supersede. With the journal empty at the start, an entry recorded meanwhile is newer than the write and
    /// must stay, so no instant is needed (and a clock read is not free).
    private func writeStart() -> ContinuousClock.Instant? {
        instruments.timesOperations || journal.mayHoldEntries ? time.now : nil
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
