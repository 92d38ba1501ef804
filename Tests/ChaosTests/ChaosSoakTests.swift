#if canImport(Glibc)
import Glibc
#endif
import HiredisClient
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import Synchronization
import Testing
import _LoadKit

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

    struct Fault: Sendable {
        let name: String
        let inject: @Sendable () async throws -> Void
        let clear: @Sendable () async throws -> Void
        var lasts: Duration = .milliseconds(1500)
    }

    struct Row: Sendable {
        var name: String
        var fault: PhaseStats.Snapshot
        var recovery: PhaseStats.Snapshot
        var opened: Duration?
        var closedAfterClear: Duration?
    }

    @Test(.timeLimit(.minutes(3)))
    func everyFaultDegradesAndHealsWithoutStaleReads() async throws {
        try await RedisServer.withServer(.init(enableDebugCommand: true)) { server in
            let proxy = try FaultProxy.start(upstreamPort: server.port)
            defer { proxy.stop() }
            let quiet = Logger(label: "chaos", factory: { _ in SwiftLogNoOpLogHandler() })

            var clientConfiguration = RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: proxy.port))
            clientConfiguration.commandTimeout = Self.commandTimeout
            clientConfiguration.connectTimeout = Self.commandTimeout
            clientConfiguration.reconnect = .init(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(100))
            let client = RedisClient(configuration: clientConfiguration, logger: quiet)
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
            let cache = ResilientCache(backend: RedisCacheBackend(client: client), configuration: configuration, logger: quiet)
            let running = Task { await cache.run() }
            let transitions = TransitionLog(cache.breaker.makeEventStream())

            let model = ChaosModel()
            let phases = (0..<64).map { _ in PhaseStats() }
            let control = SoakControl()
            let clock = ContinuousClock()

            let faults = Self.faults(server: server, proxy: proxy)
            let rssBefore = residentMegabytes()
            var rssSamples: [Double] = []

            var rows: [Row] = []
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<Self.callers {
                    group.addTask {
                        await Self.caller(caller, cache: cache, model: model, phases: phases, control: control)
                    }
                }
                // Warm up healthy, then each fault and the recovery after it.
                try await Task.sleep(for: .seconds(2))
                for (index, fault) in faults.enumerated() {
                    control.phase.store(2 * index + 1, ordering: .relaxed)
                    let injected = clock.now
                    try await fault.inject()
                    try await Task.sleep(for: fault.lasts)
                    let opened = transitions.firstOpen(after: injected).map { $0 - injected }
                    try await fault.clear()
                    let cleared = clock.now
                    control.phase.store(2 * index + 2, ordering: .relaxed)
                    // Recovery: wait for CLOSED (bounded), then let traffic run healthy for a while.
                    let recoveryDeadline = cleared + Self.openDuration + .seconds(3)
                    while cache.breaker.state != .closed && clock.now < recoveryDeadline {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    let closedAt = cache.breaker.state == .closed ? clock.now : nil
                    try await Task.sleep(for: .seconds(1.5))
                    rssSamples.append(residentMegabytes())
                    rows.append(
                        Row(
                            name: fault.name,
                            fault: phases[2 * index + 1].snapshot,
                            recovery: phases[2 * index + 2].snapshot,
                            opened: opened,
                            closedAfterClear: closedAt.map { $0 - cleared }
                        )
                    )
                }
                control.stop.store(true, ordering: .relaxed)
                try await group.waitForAll()
            }
            // Final numbers after every caller returned: started == finished everywhere.
            for index in rows.indices {
                rows[index].fault = phases[2 * index + 1].snapshot
                rows[index].recovery = phases[2 * index + 2].snapshot
            }
            Self.printTable(rows, warmUp: phases[0].snapshot, rssBefore: rssBefore, rssSamples: rssSamples)

            let warmUp = phases[0].snapshot
            #expect(warmUp.escaped == 0 && warmUp.stale == 0 && warmUp.started == warmUp.finished)
            #expect(warmUp.hits > 0)
            for row in rows {
                for (label, stats) in [("during", row.fault), ("after", row.recovery)] {
                    #expect(stats.escaped == 0, "\(row.name) \(label): \(stats.escaped) errors escaped, e.g. \(stats.escapedSamples)")
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
            running.cancel()
            await client.close()
        }
    }

    /// One caller: a random mix of operations until told to stop, each checked and timed.
    static func caller(
        _ id: Int,
        cache: ResilientCache<ContinuousClock>,
        model: ChaosModel,
        phases: [PhaseStats],
        control: SoakControl
    ) async {
        var random = SplitMix64(seed: UInt64(id) &* 7919 &+ 1)
        let ownGroups = stride(from: id, to: groups, by: callers).map { $0 }
        let clock = ContinuousClock()
        let single = commandTimeout + margin
        while !control.stop.load(ordering: .relaxed) {
            let stats = phases[control.phase.load(ordering: .relaxed)]
            let draw = random.next() % 100
            stats.start()
            let started = clock.now
            do {
                switch draw {
                case 0..<40:
                    // Immutable origin values: fetch must always return exactly the origin's value.
                    let key = "f:\(random.next() % UInt64(fetchKeys))"
                    let expected = Array("origin-\(key)".utf8)
                    let value = try await cache.fetch(key) { expected }
                    if value != expected { stats.stale() }
                    stats.finish("fetch", took: clock.now - started, bound: commandTimeout * 2 + margin)
                case 40..<70:
                    let group = random.next() % UInt64(groups)
                    let key = "s:g\(group):\(random.next() % UInt64(keysPerGroup))"
                    let floor = model.floor(key)
                    let value = try await cache.get(key)
                    if let value, let version = ChaosModel.version(of: value), version < floor { stats.stale() }
                    stats.finish("get", took: clock.now - started, bound: single, hit: value != nil)
                case 70..<85:
                    let key = ownKey(ownGroups, &random)
                    let version = model.nextVersion()
                    _ = try await cache.set(key, ChaosModel.encode(version))
                    model.raise([key], to: version)
                    stats.finish("set", took: clock.now - started, bound: single)
                case 85..<95:
                    let key = ownKey(ownGroups, &random)
                    let version = model.nextVersion()
                    _ = try await cache.delete(key)
                    model.raise([key], to: version)
                    stats.finish("delete", took: clock.now - started, bound: single)
                default:
                    let group = ownGroups[Int(random.next() % UInt64(ownGroups.count))]
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
    }

    static func ownKey(_ groups: [Int], _ random: inout SplitMix64) -> String {
        "s:g\(groups[Int(random.next() % UInt64(groups.count))]):\(random.next() % UInt64(keysPerGroup))"
    }

    static func faults(server: RedisServer, proxy: FaultProxy) -> [Fault] {
        let killer = Repeater()
        return [
            Fault(name: "SIGTERM + restart", inject: { await server.stop() }, clear: { try await server.restart() }),
            Fault(name: "SIGKILL + restart", inject: { await server.kill() }, clear: { try await server.restart() }),
            Fault(name: "SIGSTOP / SIGCONT", inject: { server.hang() }, clear: { server.resume() }),
            Fault(
                name: "DEBUG SLEEP 1.5",
                inject: { Task { _ = try? await server.cliAsync("DEBUG", "SLEEP", "1.5") } },
                clear: { _ = try await server.cliAsync("PING", timeout: .seconds(5)) }
            ),
            Fault(
                name: "CLIENT PAUSE 1500",
                inject: { _ = try await server.cliAsync("CLIENT", "PAUSE", "1500", "ALL") },
                clear: { _ = try await server.cliAsync("CLIENT", "UNPAUSE") }
            ),
            Fault(
                name: "CLIENT KILL TYPE normal",
                inject: {
                    killer.start(every: .milliseconds(30)) { _ = try? await server.cliAsync("CLIENT", "KILL", "TYPE", "normal") }
                },
                clear: { await killer.stop() }
            ),
            Fault(
                name: "proxy latency 300 ms",
                inject: { try await proxy.setMode(.latency(.milliseconds(300))) },
                clear: { try await proxy.setMode(.passThrough) }
            ),
            Fault(
                name: "proxy blackhole",
                inject: { try await proxy.setMode(.blackhole) },
                clear: { try await proxy.setMode(.passThrough) }
            ),
            Fault(
                name: "proxy reset",
                inject: { try await proxy.setMode(.resetAll) },
                clear: { try await proxy.setMode(.passThrough) }
            ),
        ]
    }

    static func printTable(_ rows: [Row], warmUp: PhaseStats.Snapshot, rssBefore: Double, rssSamples: [Double]) {
        func ms(_ duration: Duration?) -> String {
            guard let duration else { return "never" }
            let (seconds, attoseconds) = duration.components
            return String(Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)) + " ms"
        }
        func worst(_ stats: PhaseStats.Snapshot) -> String {
            ms(stats.slowest.filter { $0.key != "invalidate" }.values.max())
        }
        var lines = ["", "Chaos soak: \(callers) callers, command timeout \(ms(commandTimeout)), open \(ms(openDuration))", ""]
        lines.append("| fault | calls during | calls after | escaped | stale | overruns | slowest call | to OPEN | to CLOSED after clear | hits after |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        lines.append("| (warm-up) | \(warmUp.finished) | - | \(warmUp.escaped) | \(warmUp.stale) | \(warmUp.overruns) | \(worst(warmUp)) | - | - | \(warmUp.hits) |")
        for row in rows {
            let escaped = row.fault.escaped + row.recovery.escaped
            let stale = row.fault.stale + row.recovery.stale
            let overruns = row.fault.overruns + row.recovery.overruns
            let slowest = max(row.fault.slowest.filter { $0.key != "invalidate" }.values.max() ?? .zero,
                              row.recovery.slowest.filter { $0.key != "invalidate" }.values.max() ?? .zero)
            lines.append(
                "| \(row.name) | \(row.fault.finished) | \(row.recovery.finished) | \(escaped) | \(stale) | \(overruns) | "
                    + "\(ms(slowest)) | \(ms(row.opened)) | \(ms(row.closedAfterClear)) | \(row.recovery.hits) |"
            )
        }
        lines.append("")
        lines.append("RSS: \(Int(rssBefore)) MB before, after each fault: \(rssSamples.map { String(Int($0)) }.joined(separator: ", ")) MB")
        print(lines.joined(separator: "\n"))
    }
}

/// Collects the instants at which the breaker opened.
final class TransitionLog: Sendable {
    private let opens = Mutex<[ContinuousClock.Instant]>([])
    private let collector = Mutex<Task<Void, Never>?>(nil)

    init(_ events: AsyncStream<CircuitBreaker<ContinuousClock>.Event>) {
        let task = Task { [weak self] in
            for await event in events where event.to == .open {
                self?.opens.withLock { $0.append(event.instant) }
            }
        }
        collector.withLock { $0 = task }
    }

    deinit {
        collector.withLock { $0?.cancel() }
    }

    func firstOpen(after instant: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        opens.withLock { $0.first { $0 >= instant } }
    }
}

/// The soak's shared switches: which phase the callers record into, and when they stop.
final class SoakControl: Sendable {
    let phase = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
}

/// Runs an action over and over until stopped (CLIENT KILL as a fault that lasts, not a single event).
final class Repeater: Sendable {
    private let task = Mutex<Task<Void, Never>?>(nil)

    func start(every interval: Duration, _ action: @escaping @Sendable () async -> Void) {
        task.withLock {
            $0 = Task {
                while !Task.isCancelled {
                    await action()
                    try? await Task.sleep(for: interval)
                }
            }
        }
    }

    func stop() async {
        let running = task.withLock { task in
            defer { task = nil }
            return task
        }
        running?.cancel()
        await running?.value
    }
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
