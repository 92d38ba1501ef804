import Logging
import CoreMetrics
import Resilience
import Synchronization

/// A cache in front of a ``CacheBackend`` (Redis) that keeps answering when the backend does not.
///
/// Every backend call — reads, writes, deletes, pattern invalidation, the journal replay and the health probe —
/// goes through a ``Resilience/CircuitBreaker``. While the backend is stopped, hung, slow or refusing, calls
/// degrade instead of failing: `get` is a miss, `set` reports success, `delete` and `invalidate` remove 0, and
/// `fetch` computes the value. Each call returns within the backend's deadline, and once the circuit is open,
/// at once, without touching the network.
///
/// **No stale reads after an outage.** A `set`, `delete` or `invalidate` that could not reach the backend is
/// recorded in a bounded invalidation journal, and reads of the keys it covers are misses until the journal has
/// been replayed (`UNLINK`, or `SCAN` + `UNLINK` for patterns) against the recovered backend. The backend may
/// have been only hung or cut off and still hold the old values: without the journal they would be served for
/// the rest of their TTL.
///
/// ```swift
/// let client = RedisClient(configuration: try RedisClientConfiguration(url: "redis://127.0.0.1:6380"))
/// let cache = ResilientCache(backend: RedisCacheBackend(client: client))
/// let profile = try await cache.fetch("profile:42", ttl: .seconds(60)) {
///     try await database.loadProfile(42)  // runs once per miss, also while Redis is down
/// }
/// ```
///
/// Run ``run()`` (or add the cache to a swift-service-lifecycle `ServiceGroup`) so the breaker probes the
/// backend by itself and a quiet service still notices when Redis is back.
public final class ResilientCache<C: Clock>: Sendable where C.Duration == Duration {
    /// The breaker guarding every backend call.
    public let breaker: CircuitBreaker<C>
    public let configuration: ResilientCacheConfiguration
    let backend: any CacheBackend
    let clock: C
    let logger: Logger
    let journal: JournalKeeper<C>
    let flights = SingleFlight()
    let counters = CacheCounters()
    let instruments: CacheInstruments
    private let escapedNamespace: String

    /// Creates a cache; it does not contact the backend, so it starts even while the backend is down.
    ///
    /// - Parameters:
    ///   - backend: where values live, usually a ``RedisCacheBackend``.
    ///   - configuration: namespace, TTLs, degradation, journal and breaker settings.
    ///   - clock: the source of time for the breaker and the journal.
    ///   - logger: receives one line per breaker transition and per journal overflow or replay, never one per
    ///     call.
    ///   - metricsFactory: where the `cache_*` metrics go; `MetricsSystem.factory` by default.
    public init(
        backend: any CacheBackend,
        configuration: ResilientCacheConfiguration = ResilientCacheConfiguration(),
        clock: C,
        logger: Logger = Logger(label: "RedisCache"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.backend = backend
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.escapedNamespace = GlobPattern.escape(configuration.namespace)
        let instruments = CacheInstruments(factory: metricsFactory)
        self.instruments = instruments
        let journal = JournalKeeper<C>(configuration: configuration, backend: backend, clock: clock, logger: logger)
        self.journal = journal

        var breakerConfiguration = configuration.breaker
        if breakerConfiguration.activeProbe == nil {
            // The probe proves the backend answers and then replays the journal, so the breaker only counts
            // the backend as recovered once no stale value can be read from it.
            breakerConfiguration.activeProbe = { [backend, journal] in
                try await backend.ping()
                try await journal.replay(through: nil)
            }
        }
        let userClassifier = breakerConfiguration.classifier
        breakerConfiguration.classifier = { error in
            if let error = error as? CacheError {
                return error.code == .cancelled ? .ignored : .failure
            }
            return userClassifier(error)
        }
        self.breaker = CircuitBreaker(
            name: "cache:\(configuration.namespace)",
            configuration: breakerConfiguration,
            clock: clock,
            logger: logger,
            onTransition: { event in
                instruments.transition(to: event.to)
                instruments.countTransition()
            }
        )
        journal.attach(breaker: breaker)
        instruments.transition(to: .closed)
    }

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
        defer { instruments.record(.get, since: started, clock: clock) }
        if journal.fences(name) {
            counters.recordFencedRead()
            return .miss
        }
        switch await guarded({ () async throws(CacheError) -> [UInt8]? in try await backend.get(name) }) {
        case .success(let value?):
            counters.recordHit()
            instruments.hits.increment()
            return .hit(value)
        case .success(nil):
            counters.recordMiss()
            instruments.misses.increment()
            return .miss
        case .degraded(let error):
            degraded(.get, error)
            return .degraded(error)
        case .rejected(let error):
            throw error
        }
    }

    /// Values for several keys at once (one `MGET`); `nil` where a key misses, is fenced, or the backend is
    /// unavailable (with degradation on).
    public func get(many keys: [String]) async throws(CacheError) -> [[UInt8]?] {
        if keys.isEmpty { return [] }
        let names = keys.map(qualified)
        let started = timingStart()
        defer { instruments.record(.getMany, since: started, clock: clock) }
        let fenced = names.map { journal.fences($0) }
        switch await guarded({ () async throws(CacheError) -> [[UInt8]?] in try await backend.get(many: names) }) {
        case .success(let values):
            var result: [[UInt8]?] = []
            result.reserveCapacity(values.count)
            for (value, isFenced) in zip(values, fenced) {
                if isFenced {
                    counters.recordFencedRead()
                    result.append(nil)
                } else if let value {
                    counters.recordHit()
                    instruments.hits.increment()
                    result.append(value)
                } else {
                    counters.recordMiss()
                    instruments.misses.increment()
                    result.append(nil)
                }
            }
            return result
        case .degraded(let error):
            degraded(.getMany, error)
            if configuration.degradeOnFailure { return Array(repeating: nil, count: keys.count) }
            throw error
        case .rejected(let error):
            throw error
        }
    }

    // MARK: - Writes

    /// Stores `value` at `key` for `ttl` (the configured default when `nil`), with TTL jitter.
    ///
    /// - Returns: true — also when the backend is unavailable and degradation is on, as the guide's contract
    ///   says; the key is then journaled, so no older value is read back after recovery.
    /// - Throws: ``CacheError/Code/valueTooLarge`` above ``ResilientCacheConfiguration/maximumValueSize`` (the
    ///   backend is not called and the breaker does not count it), caller errors, and availability errors with
    ///   degradation off.
    @discardableResult
    public func set(_ key: String, _ value: [UInt8], ttl: Duration? = nil) async throws(CacheError) -> Bool {
        guard value.count <= configuration.maximumValueSize else {
            throw CacheError(
                .valueTooLarge,
                "value of \(value.count) bytes exceeds maximumValueSize \(configuration.maximumValueSize)"
            )
        }
        let name = qualified(key)
        let started = writeStart()
        defer { instruments.record(.set, since: started, clock: clock) }
        let expiry = jittered(ttl ?? configuration.defaultTTL)
        journal.noteTTL(expiry)
        switch await guarded({ () async throws(CacheError) in try await backend.set(name, value, ttl: expiry) }) {
        case .success:
            if let started { journal.clear(key: name, recordedBefore: started) }
            return true
        case .degraded(let error):
            degraded(.set, error)
            journal.record(key: name)
            if configuration.degradeOnFailure { return true }
            throw error
        case .rejected(let error):
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
        defer { instruments.record(.delete, since: started, clock: clock) }
        switch await guarded({ () async throws(CacheError) -> Int in try await backend.delete(names) }) {
        case .success(let removed):
            if let started { for name in names { journal.clear(key: name, recordedBefore: started) } }
            return removed
        case .degraded(let error):
            degraded(.delete, error)
            for name in names { journal.record(key: name) }
            if configuration.degradeOnFailure { return 0 }
            throw error
        case .rejected(let error):
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
        defer { instruments.record(.invalidate, since: started, clock: clock) }
        switch await guarded({ () async throws(CacheError) -> Int in try await backend.invalidate(pattern: qualifiedPattern) }) {
        case .success(let removed):
            return removed
        case .degraded(let error):
            degraded(.invalidate, error)
            journal.record(pattern: qualifiedPattern)
            if configuration.degradeOnFailure { return 0 }
            throw error
        case .rejected(let error):
            throw error
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
    /// - Parameters:
    ///   - ttl: how long the computed value is kept; the configured default when `nil`. Jitter applies.
    ///   - compute: produces the value on a miss, e.g. a database query.
    public func fetch(
        _ key: String,
        ttl: Duration? = nil,
        compute: @escaping @Sendable () async throws -> [UInt8]
    ) async throws -> [UInt8] {
        let lookup = try await lookup(key)
        if case .hit(let value) = lookup { return value }
        let storeAfterwards: Bool
        if case .degraded = lookup { storeAfterwards = false } else { storeAfterwards = true }
        let name = qualified(key)
        let (value, _) = try await flights.run(name) { [self] in
            let value = try await compute()
            counters.recordOriginCall()
            if storeAfterwards, value.count <= configuration.maximumValueSize {
                await store(computed: value, name: name, ttl: ttl)
            }
            return value
        }
        return value
    }

    private func store(computed value: [UInt8], name: String, ttl: Duration?) async {
        let started = writeStart()
        let expiry = jittered(ttl ?? configuration.defaultTTL)
        journal.noteTTL(expiry)
        switch await guarded({ () async throws(CacheError) in try await backend.set(name, value, ttl: expiry) }) {
        case .success:
            if let started { journal.clear(key: name, recordedBefore: started) }
        case .degraded(let error):
            degraded(.fetchStore, error)
        case .rejected:
            break
        }
    }

    // MARK: - Health, metrics, lifecycle

    /// A snapshot for a health endpoint.
    public func health() -> CacheHealth {
        let metrics = breaker.metrics
        let journalStatus = journal.status
        let state = metrics.state
        let last = metrics.recentFailures.last
        let stateName: String =
            switch state {
            case .closed: "closed"
            case .open: "open"
            case .halfOpen: "half_open"
            }
        let degraded = state != .closed || journalStatus.overflowed
        return CacheHealth(
            status: degraded || journalStatus.size > 0 ? "degraded" : "ok",
            state: stateName,
            degraded: degraded,
            failureRate: metrics.failureRate,
            journalSize: journalStatus.size,
            journalOverflowed: journalStatus.overflowed,
            lastFailure: last.map { "\($0.kind): \($0.message)" },
            lastFailureAgeSeconds: last.map { $0.instant.duration(to: clock.now).seconds },
            secondsInState: metrics.timeInCurrentState.seconds
        )
    }

    /// Hits, misses, degraded operations, journal figures and the breaker's own snapshot.
    public var metrics: CacheMetricsSnapshot<C.Instant> {
        let breakerMetrics = breaker.metrics
        instruments.update(failureRate: breakerMetrics.failureRate, journalSize: journal.status.size)
        return counters.snapshot(journal: journal.status, breaker: breakerMetrics)
    }

    /// Stops ``run()``.
    public func shutdown() {
        breaker.shutdown()
        journal.stop()
    }

    func maintain() async {
        while !Task.isCancelled && !journal.isStopped {
            journal.expireOldEntries()
            let breakerMetrics = breaker.metrics
            instruments.update(failureRate: breakerMetrics.failureRate, journalSize: journal.status.size)
            if breakerMetrics.state == .closed, !journal.status.isEmpty {
                try? await journal.replay(through: breaker)
            }
            try? await clock.sleep(for: .seconds(1))
        }
    }

    // MARK: - The guard

    /// Runs one backend call under the breaker; a success also lets a waiting journal replay start.
    func guarded<T>(_ call: () async throws(CacheError) -> T) async -> Guarded<T> {
        let outcome = await guardedCall(breaker, call)
        if case .success = outcome { journal.replaySoonIfNeeded() }
        return outcome
    }

    /// When the call started, if anything needs it: the duration metric.
    private func timingStart() -> C.Instant? {
        instruments.timesOperations ? clock.now : nil
    }

    /// When a write started, if anything needs it: the duration metric, or a journal entry this write may
    /// supersede. With the journal empty at the start, an entry recorded meanwhile is newer than the write and
    /// must stay, so no instant is needed (the clock is not free: ~90 ns a read on the VMs measured).
    private func writeStart() -> C.Instant? {
        instruments.timesOperations || journal.mayHoldEntries ? clock.now : nil
    }

    private func degraded(_ operation: CacheOperation, _ error: CacheError) {
        counters.recordDegraded(operation)
        instruments.degraded(operation)
    }

    func qualified(_ key: String) -> String {
        configuration.namespace + key
    }

    private func jittered(_ ttl: Duration?) -> Duration? {
        guard let ttl, configuration.ttlJitter > 0 else { return ttl }
        let factor = Double.random(in: (1 - configuration.ttlJitter)...(1 + configuration.ttlJitter))
        return max(.milliseconds(1), ttl * factor)
    }
}

extension ResilientCache where C == ContinuousClock {
    /// Creates a cache on the continuous clock.
    public convenience init(
        backend: any CacheBackend,
        configuration: ResilientCacheConfiguration = ResilientCacheConfiguration(),
        logger: Logger = Logger(label: "RedisCache"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.init(
            backend: backend,
            configuration: configuration,
            clock: ContinuousClock(),
            logger: logger,
            metricsFactory: metricsFactory
        )
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
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
