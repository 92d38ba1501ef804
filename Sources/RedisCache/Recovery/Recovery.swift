import Logging
import Resilience
import Synchronization

/// How a call made through ``Recovery/call(_:)`` ended.
enum Guarded<T> {
    case success(T)
    /// The backend was unavailable, the call was cancelled, or the breaker did not admit the call.
    case degraded(CacheError)
    /// The backend answered and refused the request on its merits: the caller's error.
    case refused(CacheError)
}

extension Guarded: Sendable where T: Sendable {}

extension Guarded {
    /// The error of a degraded call, `nil` otherwise.
    var unavailable: CacheError? {
        if case .degraded(let error) = self { error } else { nil }
    }

    var succeeded: Bool {
        if case .success = self { true } else { false }
    }
}

/// The recovery unit of one backend: its circuit breaker, its invalidation journal, and the one loop that probes
/// the backend and replays the journal.
///
/// Every call the cache makes to the backend passes ``call(_:)``: the breaker admits it, and its error, if any, is
/// classified once (by the breaker's classifier, whose default asks ``CacheError/circuitBreakerClassification``).
/// Calls never replay anything themselves; a successful call only ``WakeSignal/signal()``s the loop.
///
/// The loop, ``run()``, is the only code that talks to the backend on the cache's own behalf, one step at a time:
/// - OPEN: it probes the backend every ``ResilientCacheConfiguration/probeInterval`` (doubling after each failed
///   probe up to ``ResilientCacheConfiguration/maximumProbeInterval``), not after the open duration. The first
///   probe that answers replays the journal, while the breaker still keeps user calls away, and then ends the
///   open period: HALF_OPEN at once.
/// - HALF_OPEN: it replays whatever was journaled meanwhile and probes through the breaker, so that a quiet
///   service closes it too.
/// - CLOSED: it replays the journal through the breaker when a call signals that something waits.
/// - Forced open: nothing.
///
/// Nothing it starts outlives ``run()``. ``finalReplay()`` is the shutdown's last attempt, straight to the backend.
/// A cache over one Redis has one; a cache over a cluster has one per shard.
final class Recovery: Sendable {
    let breaker: CircuitBreaker
    let journal: JournalKeeper
    let backend: any CacheBackend
    /// The shard this unit guards, for logs, metrics and health: `nil` over a single backend.
    let shard: String?
    /// Writes acknowledged lately, journaled on the next failed call; `nil` when
    /// ``ResilientCacheConfiguration/replicationLossWindow`` is off.
    let recentWrites: RecentWrites?
    private let configuration: ResilientCacheConfiguration
    private let healthCheck: (@Sendable () async throws -> Void)?
    private let flushPattern: String
    private let wake = WakeSignal()
    private let stopped = Atomic<Bool>(false)
    private let time: TimeSource
    private let logger: Logger
    private let instruments: UnitInstruments

    init(
        name: String,
        shard: String? = nil,
        backend: any CacheBackend,
        configuration: ResilientCacheConfiguration,
        time: TimeSource,
        logger: Logger,
        instruments: UnitInstruments,
        events: CircuitEventHub? = nil,
        replicationLossWindow: Duration? = nil
    ) {
        self.backend = backend
        self.shard = shard
        let recentWrites = replicationLossWindow.flatMap { window in
            window > .zero ? RecentWrites(window: window, capacity: configuration.journalCapacity) : nil
        }
        self.recentWrites = recentWrites
        self.configuration = configuration
        self.time = time
        var logger = logger
        if let shard { logger[metadataKey: "cache_shard"] = "\(shard)" }
        self.logger = logger
        self.instruments = instruments
        self.flushPattern = GlobPattern.escape(configuration.namespace) + "*"
        self.journal = JournalKeeper(
            configuration: configuration, clock: time, logger: self.logger, instruments: instruments)
        var breakerConfiguration = configuration.breaker
        // The loop probes; a breaker probing on its own as well would be a second owner.
        self.healthCheck = breakerConfiguration.activeProbe
        breakerConfiguration.activeProbe = nil
        let wake = self.wake
        self.breaker = CircuitBreaker(
            name: name,
            configuration: breakerConfiguration,
            time: time,
            logger: self.logger,
            randomNumberGenerator: SystemRandomNumberGenerator(),
            onTransition: { event in
                instruments.transition(event)
                events?.publish(event, shard: shard)
                wake.signal()
            }
        )
        instruments.startClosed()
        instruments.failureRateChanged(0)
    }

    /// Journals the writes acknowledged just before a failure: the node that acknowledged them may be gone, and
    /// the replica that replaces it may never have received them. On the first failure, not when the circuit
    /// opens: a failover can complete before enough calls fail to open it.
    private func doubtRecentWrites() {
        guard let recentWrites else { return }
        let recent = recentWrites.take(before: time.now)
        if recent.keys.isEmpty { return }
        if recent.overflowed {
            journal.recordNamespaceInDoubt()
        } else {
            for key in recent.keys { journal.record(key: key) }
        }
        logger.notice(
            "writes acknowledged just before the outage are journaled: a replica promoted meanwhile may lack them",
            metadata: ["keys": "\(recent.keys.count)", "namespace_in_doubt": "\(recent.overflowed)"]
        )
    }

    /// A write the backend acknowledged (see ``recentWrites``).
    @inline(__always)
    func acknowledged(_ key: String) {
        recentWrites?.note(key, at: time.now)
    }

    // MARK: - Calls

    /// Runs one backend call under the breaker and classifies how it ended.
    func call<T>(_ body: () async throws(CacheError) -> T) async -> Guarded<T> {
        let permit: CircuitBreaker.Permit
        do {
            permit = try breaker.acquire()
        } catch {
            return .degraded(CacheError(error))
        }
        do {
            let value = try await body()
            permit.succeeded()
            if journal.mayHoldEntries { wake.signal() }
            return .success(value)
        } catch {
            let classification = breaker.configuration.classifier(error)
            permit.failed(error, classifiedAs: classification)
            if classification == .success { return .refused(error) }
            // Only failures record it here, so the success path takes no extra lock; the loop catches up with
            // successes, and with the window sliding by, on each pass.
            instruments.failureRateChanged(breaker.failureRate)
            // Replayed like any journaled write: through the probes while open, after the next success otherwise.
            if classification == .failure { doubtRecentWrites() }
            return .degraded(error)
        }
    }

    // MARK: - The loop

    /// Probes and replays until the task is cancelled or ``stop()`` is called.
    func run() async {
        var probeInterval = configuration.probeInterval
        var nextProbe: ContinuousClock.Instant?
        var nextReplay: ContinuousClock.Instant?
        var replayBackoff = configuration.probeInterval
        var nextMaintenance = time.now.advanced(by: .seconds(1))
        while !Task.isCancelled && !isStopped {
            var now = time.now
            if now >= nextMaintenance {
                journal.expireOldEntries()
                nextMaintenance = now.advanced(by: .seconds(1))
            }
            // Every pass, at least once a second: after a transition (a reset empties the window), a probe, or
            // the maintenance above.
            instruments.failureRateChanged(breaker.failureRate)
            let (state, isForced) = breaker.stateAndForcing
            switch state {
            case .closed:
                probeInterval = configuration.probeInterval
                nextProbe = nil
                if journal.mayHoldEntries, nextReplay.map({ now >= $0 }) ?? true {
                    if await replay(guarded: true) {
                        nextReplay = nil
                        replayBackoff = configuration.probeInterval
                    } else {
                        nextReplay = time.now.advanced(by: replayBackoff)
                        replayBackoff = min(replayBackoff * 2, longestProbeInterval)
                    }
                }
            case .open where isForced:
                nextProbe = nil
            case .open:
                guard let due = nextProbe else {
                    nextProbe = now.advanced(by: probeInterval)
                    break
                }
                if now < due { break }
                if await probeAndReplay() {
                    breaker.endOpenPeriod()
                    probeInterval = configuration.probeInterval
                    nextProbe = nil
                    continue
                }
                probeInterval = min(probeInterval * 2, longestProbeInterval)
                nextProbe = time.now.advanced(by: probeInterval)
            case .halfOpen:
                if journal.mayHoldEntries { _ = await replay(guarded: false) }
                now = time.now
                guard let due = nextProbe else {
                    nextProbe = now.advanced(by: configuration.probeInterval)
                    break
                }
                if now >= due {
                    await probeThroughBreaker()
                    nextProbe = time.now.advanced(by: configuration.probeInterval)
                }
            }
            let deadline = [nextProbe, nextReplay, nextMaintenance].compactMap { $0 }.min()
            await wake.wait(until: deadline, time: time)
        }
    }

    /// Ends ``run()``.
    func stop() {
        stopped.store(true, ordering: .relaxed)
        wake.signal()
    }

    private var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// The backoff's cap; never below the first interval.
    private var longestProbeInterval: Duration {
        max(configuration.maximumProbeInterval, configuration.probeInterval)
    }

    /// The last replay, on the way out: straight to the backend (an OPEN breaker does not stop it), bounded by
    /// ``ResilientCacheConfiguration/shutdownReplayTimeout``. What could not be replayed is logged (how many, and
    /// the first keys) and counted in `cache_journal_unreplayed_total`.
    func finalReplay() async {
        guard journal.mayHoldEntries else { return }
        let outcome = await withDeadline(configuration.shutdownReplayTimeout) { () async throws(CacheError) in
            try await self.replayOrThrow(guarded: false)
        }
        guard let remaining = journal.takeReplay() else { return }
        let count = remaining.keys.count + remaining.patterns.count + (remaining.flushNamespace ? 1 : 0)
        instruments.countUnreplayed(count)
        var reason = "timed out"
        if case .failure(let error) = outcome { reason = error.description }
        logger.error(
            "invalidation journal not replayed at shutdown: other readers may see stale values until they expire",
            metadata: [
                "entries": "\(count)",
                "first_keys":
                    "\((remaining.keys.sorted().prefix(5) + remaining.patterns.sorted().prefix(5)).joined(separator: " "))",
                "namespace_flush": "\(remaining.flushNamespace)",
                "reason": "\(reason)",
            ]
        )
    }

    // MARK: - Probing

    /// One health check straight to the backend, then the replay; true when both went through.
    private func probeAndReplay() async -> Bool {
        let probe = await withDeadline(configuration.probeTimeout) { () async throws(CacheError) in
            try await self.probeBackend()
        }
        if case .failure(let error) = probe {
            logger.debug("recovery probe failed", metadata: ["error": "\(error)"])
            return false
        }
        return await replay(guarded: false)
    }

    /// A health check admitted by the breaker as a HALF_OPEN probe, so that successes close it without traffic.
    private func probeThroughBreaker() async {
        guard let permit = try? breaker.acquire() else { return }
        let probe = await withDeadline(configuration.probeTimeout) { () async throws(CacheError) in
            try await self.probeBackend()
        }
        switch probe {
        case .success:
            permit.succeeded()
        case .failure(let error):
            permit.failed(error, classifiedAs: breaker.configuration.classifier(error))
        }
    }

    private func probeBackend() async throws(CacheError) {
        try await backend.ping()
        guard let healthCheck else { return }
        do {
            try await healthCheck()
        } catch {
            throw CacheError(.unavailable, "health check failed: \(error)", underlying: error)
        }
    }

    /// Runs `body`, giving up at `timeout`: the body is cancelled and the result is a timeout.
    private func withDeadline(
        _ timeout: Duration,
        _ body: @escaping @Sendable () async throws(CacheError) -> Void
    ) async -> Result<Void, CacheError> {
        let time = self.time
        return await withTaskGroup(of: Result<Void, CacheError>?.self) { group in
            group.addTask {
                do throws(CacheError) {
                    try await body()
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                try? await time.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(CacheError(.unavailable, "no answer within \(timeout)"))
        }
    }

    // MARK: - Replay

    /// Replays the journal; true when it went through (or was empty).
    private func replay(guarded: Bool) async -> Bool {
        do {
            try await replayOrThrow(guarded: guarded)
            return true
        } catch {
            logger.debug("journal replay failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Sends every journaled invalidation to the backend, and forgets each part as soon as it went through.
    ///
    /// - Parameter guarded: whether each call must pass the breaker (CLOSED), or goes straight to the backend
    ///   (after a probe answered, while the breaker still keeps user calls away; at shutdown).
    private func replayOrThrow(guarded: Bool) async throws(CacheError) {
        guard let replay = journal.takeReplay() else { return }
        if replay.flushNamespace {
            try await send(guarded) { [backend, flushPattern] () async throws(CacheError) in
                _ = try await backend.invalidate(pattern: flushPattern)
            }
            journal.acknowledge(.init(keys: [], patterns: [], flushNamespace: true, taken: replay.taken))
        }
        // Keys in batches, each batch unfenced as soon as it went through, so reads recover progressively.
        let batchSize = configuration.replayBatchSize
        var start = 0
        while start < replay.keys.count {
            let batch = Array(replay.keys[start..<min(start + batchSize, replay.keys.count)])
            try await send(guarded) { [backend] () async throws(CacheError) in _ = try await backend.delete(batch) }
            journal.acknowledge(.init(keys: batch, patterns: [], flushNamespace: false, taken: replay.taken))
            start += batchSize
        }
        // All patterns in one walk of the namespace.
        if !replay.patterns.isEmpty {
            try await send(guarded) { [backend, flushPattern] () async throws(CacheError) in
                _ = try await backend.invalidate(matchingAnyOf: replay.patterns, within: flushPattern)
            }
        }
        journal.acknowledge(replay)
        journal.countReplay()
        logger.notice(
            "invalidation journal replayed",
            metadata: [
                "keys": "\(replay.keys.count)", "patterns": "\(replay.patterns.count)",
                "namespace_flushed": "\(replay.flushNamespace)",
            ]
        )
    }

    private func send(_ guarded: Bool, _ body: () async throws(CacheError) -> Void) async throws(CacheError) {
        guard guarded else { return try await body() }
        switch await call(body) {
        case .success: return
        case .degraded(let error), .refused(let error): throw error
        }
    }
}
