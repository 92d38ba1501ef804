import HiredisClient
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import Synchronization
import Testing
import _LoadKit

#if canImport(Glibc)
    import Glibc
#endif

/// The product's promise under load: 50 callers run `get`, `set`, `delete`, `invalidate` and `fetch` through a
/// `ResilientCache` while Redis is stopped, killed, hung, put to sleep, paused, cut off, slowed, blackholed and
/// reset, one fault after another. For every fault: nothing escapes, every call returns within its bound, the
/// breaker opens while the fault lasts and closes after it clears, hits resume, no stale value is read, and
/// memory stays bounded. Bounded to about a minute.
struct ChaosSoakTests {
    static let commandTimeout = Duration.milliseconds(100)
    static let openDuration = Duration.milliseconds(500)
    /// Scheduling slack on a loaded 2-core machine, on top of the deadlines.
    static let margin = Duration.milliseconds(250)
    static let callers = 50
    static let groups = 200
    static let keysPerGroup = 10
    static let fetchKeys = 1_000
    /// Callers of the second instance, which only reads.
    static let readers = 10

    /// How long each fault lasts.
    static let lasts = Duration.milliseconds(1500)

    struct Row: Sendable {
        var name: String
        var fault: PhaseStats.Snapshot
        var recovery: PhaseStats.Snapshot
        var opened: Duration?
        var closedAfterClear: Duration?
    }

    /// Every fault over plain TCP, and again over TLS: the proxy then sits in front of the server's TLS port, so
    /// its faults cut, stall and reset TLS streams, and every reconnect is a new handshake.
    @Test(.timeLimit(.minutes(3)), arguments: [false, true])
    func everyFaultDegradesAndHealsWithoutStaleReads(tls: Bool) async throws {
        try await TestCertificates.withCertificates { certificates in
            try await Self.soak(certificates: tls ? certificates : nil)
        }
    }

    static func soak(certificates: TestCertificates?) async throws {
        var options = RedisServer.Options(enableDebugCommand: true)
        options.tls = certificates.map { RedisServer.Options.TLS(certificates: $0) }
        try await RedisTestbed.withTestbed(options, proxy: true) { testbed in
            let quiet = Logger(label: "chaos", factory: { _ in SwiftLogNoOpLogHandler() })

            var clientConfiguration = try RedisClientConfiguration(
                endpoint: .tcp(host: testbed.host, port: testbed.port))
            clientConfiguration.tls = certificates.map { .init(caFile: $0.caFile) }
            clientConfiguration.commandTimeout = Self.commandTimeout
            clientConfiguration.connectTimeout = Self.commandTimeout
            clientConfiguration.reconnect = try .init(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(100))
            let client = try RedisClient(configuration: clientConfiguration, logger: quiet)
            var configuration = ResilientCacheConfiguration(
                namespace: "chaos:",
                breaker: CircuitBreakerConfiguration(
                    failureThreshold: 5,
                    successThreshold: 2,
                    openDuration: Self.openDuration,
                    failureRateThreshold: nil,
                    openBackoff: .init(multiplier: 1, maxOpenDuration: Self.openDuration),
                    activeProbeInterval: .milliseconds(100),
                    activeProbeTimeout: .milliseconds(300)
                )
            )
            configuration.defaultTTL = .seconds(120)
            configuration.journalCapacity = 50_000
            let cache = ResilientCache(
                backend: RedisCacheBackend(client: client), configuration: configuration, logger: quiet)
            let running = Task { await cache.run() }
            // A second instance of the service over the same Redis: it only reads, and the stale values it reads
            // are counted against the cross-instance bound the README states.
            let readerClient = try RedisClient(configuration: clientConfiguration, logger: quiet)
            let reader = ResilientCache(
                backend: RedisCacheBackend(client: readerClient), configuration: configuration, logger: quiet)
            let readerRunning = Task { await reader.run() }
            let readerStats = ReaderStats()

            let model = ChaosModel()
            let phases = (0..<64).map { _ in PhaseStats() }
            let control = SoakControl()
            let callers = CallerLoop(callers: Self.callers)
            let readers = CallerLoop(callers: Self.readers)

            let rssBefore = residentMegabytes()
            var rssSamples: [Double] = []

            var rows: [Row] = []
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    _ = await callers.run(state: { CallerState(id: $0) }) { state in
                        await Self.call(&state, cache: cache, model: model, phases: phases, control: control)
                    }
                }
                group.addTask {
                    // When the first instance's journal last held anything: a stale read by the second instance is
                    // allowed only while the first one's journal still has to remove the value it read.
                    while !control.isStopped {
                        if cache.metrics.journalSize > 0 || cache.metrics.journalOverflowed { control.journalHeld() }
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                }
                group.addTask {
                    _ = await readers.run(state: { SplitMix64(seed: UInt64($0) &+ 104_729) }) { random in
                        await Self.read(&random, cache: reader, model: model, control: control, stats: readerStats)
                    }
                }
                // Warm up healthy, then each fault and the recovery after it.
                try await Task.sleep(for: .seconds(2))
                for (index, fault) in Self.faults.enumerated() {
                    // Recovery: CLOSED again within a bound, then traffic runs healthy for a while.
                    let timing = try await FaultTiming.measure(
                        fault,
                        on: testbed,
                        lasting: Self.lasts,
                        recoveryTimeout: Self.openDuration + .seconds(3),
                        reacted: { cache.circuit.state == .open },
                        recovered: { cache.circuit.state == .closed },
                        onPhase: { phase in
                            switch phase {
                            case .injecting:
                                control.phase.store(2 * index + 1, ordering: .relaxed)
                                control.faultBegan()
                            case .clearing: break
                            case .recovering:
                                control.phase.store(2 * index + 2, ordering: .relaxed)
                                control.faultCleared()
                            }
                        }
                    )
                    try await Task.sleep(for: .seconds(1.5))
                    rssSamples.append(residentMegabytes())
                    rows.append(
                        Row(
                            name: "\(fault) (\(fault.explanation))",
                            fault: phases[2 * index + 1].snapshot,
                            recovery: phases[2 * index + 2].snapshot,
                            opened: timing.toReaction,
                            closedAfterClear: timing.toRecovery
                        )
                    )
                }
                callers.stop()
                readers.stop()
                control.stop()
                try await group.waitForAll()
            }
            // Final numbers after every caller returned: started == finished everywhere.
            for index in rows.indices {
                rows[index].fault = phases[2 * index + 1].snapshot
                rows[index].recovery = phases[2 * index + 2].snapshot
            }
            Self.printTable(
                rows, over: certificates == nil ? "TCP" : "TLS", warmUp: phases[0].snapshot, rssBefore: rssBefore,
                rssSamples: rssSamples)
            let readerTotals = readerStats.snapshot
            print(
                "Second instance: \(readerTotals.reads) reads, \(readerTotals.escaped) escaped, "
                    + "\(readerTotals.staleDuringFaults) stale while a fault lasted, \(readerTotals.staleAfterClear) stale "
                    + "after a fault cleared (the latest \(readerTotals.latestStaleAfterClear.map { "\($0)" } ?? "never") "
                    + "after the clear), \(readerTotals.staleWithoutJournal) stale while the first instance's journal held "
                    + "nothing (worst \(readerTotals.worstBeyondJournal.map { "\($0)" } ?? "none") after it emptied)"
            )
            #expect(readerTotals.escaped == 0, "the second instance: \(readerTotals.escaped) errors escaped")
            #expect(readerTotals.reads > 0)
            // The guarantee across instances: another instance reads a stale value only while the writer's journal
            // still holds it (how long that lasts after Redis answers again is measured by
            // CrossInstanceStalenessTests on a quiet process; here 60 callers share 2 cores).
            #expect(
                readerTotals.staleWithoutJournal == 0,
                "the second instance read \(readerTotals.staleWithoutJournal) stale values the first instance's journal no longer held"
            )

            let warmUp = phases[0].snapshot
            #expect(callers.callsStarted == callers.callsFinished, "a call never returned")
            #expect(warmUp.escaped == 0 && warmUp.stale == 0 && warmUp.started == warmUp.finished)
            #expect(warmUp.hits > 0)
            for row in rows {
                for (label, stats) in [("during", row.fault), ("after", row.recovery)] {
                    #expect(
                        stats.escaped == 0,
                        "\(row.name) \(label): \(stats.escaped) errors escaped, e.g. \(stats.escapedSamples)")
                    #expect(stats.started == stats.finished, "\(row.name) \(label): a call never returned")
                    #expect(stats.overruns == 0, "\(row.name) \(label): calls overran their bound: \(stats.slowest)")
                    #expect(stats.stale == 0, "\(row.name) \(label): \(stats.stale) stale reads")
                    #expect(stats.finished > 0, "\(row.name) \(label): no traffic ran")
                }
                #expect(row.opened != nil, "\(row.name): the breaker never opened while the fault lasted")
                #expect(
                    row.closedAfterClear.map { $0 <= Self.openDuration + .seconds(2) } == true,
                    "\(row.name): not closed within openDuration + 2 s of the fault clearing"
                )
                #expect(row.recovery.hits > 0, "\(row.name): hits did not resume")
            }
            // Memory stays bounded: no climb across the faults beyond a generous allowance.
            #expect((rssSamples.max() ?? 0) - rssBefore < 150, "RSS went from \(rssBefore) MB to \(rssSamples) MB")
            if rssSamples.count >= 6 {
                let firstHalf = rssSamples.prefix(rssSamples.count / 2).reduce(0, +) / Double(rssSamples.count / 2)
                let lastTwo = rssSamples.suffix(2).reduce(0, +) / 2
                #expect(lastTwo - firstHalf < 64, "RSS keeps climbing: \(rssSamples)")
            }

            cache.shutdown()
            reader.shutdown()
            await running.value
            await readerRunning.value
            await client.close()
            await readerClient.close()
        }
    }

    /// One caller's own state: its seeded generator and the key groups it alone writes.
    struct CallerState: Sendable {
        var random: SplitMix64
        let ownGroups: [Int]

        init(id: Int) {
            random = SplitMix64(seed: UInt64(id) &* 7919 &+ 1)
            ownGroups = stride(from: id, to: groups, by: callers).map { $0 }
        }
    }

    /// One call of a caller: a random operation, checked and timed.
    static func call(
        _ state: inout CallerState,
        cache: ResilientCache,
        model: ChaosModel,
        phases: [PhaseStats],
        control: SoakControl
    ) async {
        let ownGroups = state.ownGroups
        let clock = ContinuousClock()
        let single = commandTimeout + margin
        let stats = phases[control.phase.load(ordering: .relaxed)]
        let draw = state.random.next() % 100
        stats.start()
        let started = clock.now
        do {
            switch draw {
            case 0..<40:
                // Immutable origin values: fetch must always return exactly the origin's value.
                let key = "f:\(state.random.next() % UInt64(fetchKeys))"
                let expected = Array("origin-\(key)".utf8)
                let value = try await cache.fetch(key) { expected }
                if value != expected { stats.stale() }
                stats.finish("fetch", took: clock.now - started, bound: commandTimeout * 2 + margin)
            case 40..<70:
                let group = state.random.next() % UInt64(groups)
                let key = "s:g\(group):\(state.random.next() % UInt64(keysPerGroup))"
                let floor = model.floor(key)
                let value = try await cache.get(key)
                if let value, let version = ChaosModel.version(of: value), version < floor { stats.stale() }
                stats.finish("get", took: clock.now - started, bound: single, hit: value != nil)
            case 70..<85:
                let key = ownKey(ownGroups, &state.random)
                let version = model.nextVersion()
                _ = try await cache.set(key, ChaosModel.encode(version))
                model.raise([key], to: version)
                stats.finish("set", took: clock.now - started, bound: single)
            case 85..<95:
                let key = ownKey(ownGroups, &state.random)
                let version = model.nextVersion()
                _ = try await cache.delete(key)
                model.raise([key], to: version)
                stats.finish("delete", took: clock.now - started, bound: single)
            default:
                let group = ownGroups[Int(state.random.next() % UInt64(ownGroups.count))]
                let version = model.nextVersion()
                _ = try await cache.invalidate(pattern: "s:g\(group):*")
                model.raise((0..<keysPerGroup).map { "s:g\(group):\($0)" }, to: version)
                // SCAN walks the whole key space in steps of 500, each with its own deadline.
                stats.finish("invalidate", took: clock.now - started, bound: .seconds(2))
            }
        } catch {
            stats.escaped(error)
            stats.finish("escaped", took: clock.now - started, bound: .seconds(3600))
        }
    }

    /// One read of the second instance: stale when older than what the first instance had written (or removed)
    /// before the read began.
    static func read(
        _ random: inout SplitMix64,
        cache: ResilientCache,
        model: ChaosModel,
        control: SoakControl,
        stats: ReaderStats
    ) async {
        let key = "s:g\(random.next() % UInt64(groups)):\(random.next() % UInt64(keysPerGroup))"
        let floor = model.floor(key)
        let (inFault, clearedAt) = control.faultState
        let started = ContinuousClock.now
        do {
            let value = try await cache.get(key)
            if let value, let version = ChaosModel.version(of: value), version < floor {
                stats.stale(
                    duringFault: inFault,
                    sinceClear: clearedAt.map { started - $0 },
                    beyondJournal: control.journalLastHeld.map { started - $0 } ?? .seconds(3600)
                )
            }
            stats.read()
        } catch {
            stats.escaped()
        }
        try? await Task.sleep(for: .milliseconds(1))
    }

    static func ownKey(_ groups: [Int], _ random: inout SplitMix64) -> String {
        "s:g\(groups[Int(random.next() % UInt64(groups.count))]):\(random.next() % UInt64(keysPerGroup))"
    }

    /// Every fault of the shared vocabulary that takes Redis away, each for ``lasts``.
    static let faults: [RedisFault] = [
        .stop, .kill, .hang, .sleep(lasts), .pause(lasts), .clientKill(lasts), .maxClients(lasts),
        .proxyLatency(.milliseconds(300)), .proxyBlackhole, .proxyReset,
    ]

    static func printTable(
        _ rows: [Row], over transport: String, warmUp: PhaseStats.Snapshot, rssBefore: Double, rssSamples: [Double]
    ) {
        func ms(_ duration: Duration?) -> String {
            guard let duration else { return "never" }
            let (seconds, attoseconds) = duration.components
            return String(Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)) + " ms"
        }
        func worst(_ stats: PhaseStats.Snapshot) -> String {
            ms(stats.slowest.filter { $0.key != "invalidate" }.values.max())
        }
        var lines = [
            "",
            "Chaos soak over \(transport): \(callers) callers, command timeout \(ms(commandTimeout)), open \(ms(openDuration))",
            "",
        ]
        lines.append(
            "| fault | calls during | calls after | escaped | stale | overruns | slowest call | to OPEN | to CLOSED after clear | hits after |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        lines.append(
            "| (warm-up) | \(warmUp.finished) | - | \(warmUp.escaped) | \(warmUp.stale) | \(warmUp.overruns) | \(worst(warmUp)) | - | - | \(warmUp.hits) |"
        )
        for row in rows {
            let escaped = row.fault.escaped + row.recovery.escaped
            let stale = row.fault.stale + row.recovery.stale
            let overruns = row.fault.overruns + row.recovery.overruns
            let slowest = max(
                row.fault.slowest.filter { $0.key != "invalidate" }.values.max() ?? .zero,
                row.recovery.slowest.filter { $0.key != "invalidate" }.values.max() ?? .zero)
            lines.append(
                "| \(row.name) | \(row.fault.finished) | \(row.recovery.finished) | \(escaped) | \(stale) | \(overruns) | "
                    + "\(ms(slowest)) | \(ms(row.opened)) | \(ms(row.closedAfterClear)) | \(row.recovery.hits) |"
            )
        }
        lines.append("")
        lines.append(
            "RSS: \(Int(rssBefore)) MB before, after each fault: \(rssSamples.map { String(Int($0)) }.joined(separator: ", ")) MB"
        )
        print(lines.joined(separator: "\n"))
    }
}

/// The soak's shared switches: which phase the callers record into, and whether a fault lasts or when the last
/// one cleared.
final class SoakControl: Sendable {
    let phase = Atomic<Int>(0)
    private let fault = Mutex<(inFault: Bool, clearedAt: ContinuousClock.Instant?)>((false, nil))

    func faultBegan() { fault.withLock { $0.inFault = true } }

    func faultCleared() { fault.withLock { $0 = (false, ContinuousClock.now) } }

    private let lastHeld = Mutex<ContinuousClock.Instant?>(nil)
    private let stopped = Atomic<Bool>(false)

    /// The first instance's journal holds entries now.
    func journalHeld() { lastHeld.withLock { $0 = ContinuousClock.now } }

    var journalLastHeld: ContinuousClock.Instant? { lastHeld.withLock { $0 } }

    func stop() { stopped.store(true, ordering: .relaxed) }

    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    var faultState: (inFault: Bool, clearedAt: ContinuousClock.Instant?) { fault.withLock { $0 } }
}

/// What the second instance read.
final class ReaderStats: Sendable {
    struct Snapshot: Sendable {
        var reads = 0
        var escaped = 0
        var staleDuringFaults = 0
        var staleAfterClear = 0
        var latestStaleAfterClear: Duration?
        var staleWithoutJournal = 0
        var worstBeyondJournal: Duration?
    }

    /// How long after the first instance's journal last held anything a read may still start and be stale: the
    /// sampler's period, the read's own path and scheduling on a loaded 2-core machine.
    static let journalSlack: Duration = .milliseconds(250)

    private let state = Mutex(Snapshot())

    func read() { state.withLock { $0.reads += 1 } }

    func escaped() { state.withLock { $0.escaped += 1 } }

    func stale(duringFault: Bool, sinceClear: Duration?, beyondJournal: Duration) {
        state.withLock { state in
            if duringFault {
                state.staleDuringFaults += 1
            } else if let sinceClear {
                state.staleAfterClear += 1
                state.latestStaleAfterClear = max(state.latestStaleAfterClear ?? .zero, sinceClear)
            }
            if beyondJournal > Self.journalSlack {
                state.staleWithoutJournal += 1
                state.worstBeyondJournal = max(state.worstBeyondJournal ?? .zero, beyondJournal)
            }
        }
    }

    var snapshot: Snapshot { state.withLock { $0 } }
}

/// This process's resident set size, from /proc/self/status.
func residentMegabytes() -> Double {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if text.hasPrefix("VmRSS:") {
            let kilobytes = text.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kilobytes / 1024
        }
    }
    return 0
}
