import ArgumentParser
import Foundation
import HiredisClient
import Histogram
import Logging
import RedisCache
import RedisTestSupport
import Synchronization
import _LoadKit

/// One shard of a Redis Cluster taken down under load through `ResilientCache(cluster:)`: GETs and SETs from N
/// callers over keys spread across every shard, in three phases (before, during, after the fault), each call
/// attributed to its shard. Reports per phase and shard the throughput, hit rate, degraded reads, escaped errors
/// (anything the cache threw) and stale reads, and when the dead shard's breaker opened and closed again.
///
/// The command starts a cluster of its own through the harness (3 primaries, 1 replica each) and shuts it down.
/// `--fault hang` SIGSTOPs shard 1's primary for the whole "during" phase (the cluster runs with a node timeout
/// longer than the phase, so no replica takes over) and SIGCONTs it for "after"; `--fault kill` SIGKILLs it and
/// lets the cluster fail the shard over to its replica (node timeout 1 s: about 2 to 3 s) without restarting it.
///
/// Stale reads are checked as the chaos soak checks them: every key has one writer (the caller that owns it), each
/// SET stores a fresh version from one counter, and once the SET has returned the key's floor is that version. A
/// read that started after the floor was raised and returns a lower version is stale.
struct ClusterOutage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-outage",
        abstract: "GET/SET through ResilientCache(cluster:) while one shard is hung or killed; per-shard figures."
    )

    @Option(help: "hang (SIGSTOP the primary, no failover during the phase) or kill (SIGKILL it, failover follows).")
    var fault: String = "hang"
    @Option(help: "Concurrent callers.") var concurrency: Int = 50
    @Option(help: "Seconds per phase (before, during, after).") var phaseSeconds: Double = 10
    @Option(help: "Keys per shard (all pre-populated).") var keysPerShard: Int = 1000
    @Option(help: "Share of calls that are GETs, in percent; the rest are SETs.") var readPercent: Int = 90
    @Option(help: "Value size in bytes.") var valueSize: Int = 100
    @Option(help: "The cluster nodes' command timeout in milliseconds (ResilientCache's default is 250).")
    var timeoutMs: Int = 250
    @Option(help: "The shard taken down.") var deadShard: Int = 1

    func run() async throws {
        guard ["hang", "kill"].contains(fault) else { throw ValidationError("--fault must be hang or kill") }
        guard valueSize >= 24 else { throw ValidationError("--value-size must leave room for the version (24)") }
        // A hung primary is failed over after about 2 to 3 node timeouts: longer than the phase keeps it down.
        let phase = Duration.milliseconds(Int(phaseSeconds * 1000))
        let nodeTimeout: Duration = fault == "hang" ? phase * 3 + .seconds(10) : .seconds(1)
        let cluster = try await RedisCluster.start(primaries: 3, replicasPerPrimary: 1, nodeTimeout: nodeTimeout)
        do {
            let result = try await measure(on: cluster, phase: phase)
            await cluster.shutdown()
            print(result)
        } catch {
            await cluster.shutdown()
            throw error
        }
    }

    private func measure(on cluster: RedisCluster, phase: Duration) async throws -> String {
        let shardCount = cluster.shardCount
        // Keys interleaved by shard (the harness's view of which primary serves each slot), so every caller owns
        // keys on every shard.
        var perShard: [[String]] = []
        for shard in 0..<shardCount {
            perShard.append(try await cluster.keys(inShard: shard, count: keysPerShard, prefix: "key:"))
        }
        let keys = (0..<keysPerShard * shardCount).map { perShard[$0 % shardCount][$0 / shardCount] }
        let keyShards = (0..<keysPerShard * shardCount).map { $0 % shardCount }

        var clusterConfiguration = try RedisClusterConfiguration(url: cluster.seedURL)
        clusterConfiguration.node.commandTimeout = .milliseconds(timeoutMs)
        // Same keys on the wire as the harness computed (empty namespace), no TTL, no jitter.
        var configuration = ResilientCacheConfiguration(namespace: "")
        configuration.defaultTTL = nil
        configuration.ttlJitter = 0
        let cache = try ResilientCache(
            cluster: clusterConfiguration,
            configuration: configuration,
            logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let running = Task { await cache.run() }

        let model = VersionModel(keys: keys.count, valueSize: valueSize)
        let concurrency = self.concurrency
        // Pre-populate every key through the cache (its owner's first write).
        _ = await CallerLoop(callers: concurrency).run(callsPerCaller: 1, state: { $0 }) { caller in
            for index in stride(from: caller, to: keys.count, by: concurrency) {
                let version = model.nextVersion()
                guard (try? await cache.set(keys[index], model.encode(version))) != nil else { return }
                model.raise(index, to: version)
            }
        }
        let populated = try await countHits(cache, keys)
        guard populated == keys.count else {
            cache.shutdown()
            await running.value
            throw ValidationError("pre-population: \(populated) of \(keys.count) keys read back")
        }

        let phaseIndex = Atomic<Int>(0)
        let readPercent = UInt64(self.readPercent)
        let clock = ContinuousClock()
        let callers = CallerLoop(callers: concurrency)
        let calling = Task {
            await callers.run(
                state: { OutageCaller(id: $0, concurrency: concurrency, keyCount: keys.count, shards: shardCount) }
            ) { caller in
                let phase = phaseIndex.load(ordering: .relaxed)
                if caller.random.next() % 100 < readPercent {
                    let index = Int(caller.random.next() % UInt64(keys.count))
                    let shard = keyShards[index]
                    let floor = model.floor(index)
                    let began = clock.now
                    do {
                        let lookup = try await cache.lookup(keys[index])
                        caller.record(phase, shard, began: began, now: clock.now)
                        switch lookup {
                        case .hit(let value):
                            caller.counts[phase][shard].hits += 1
                            if VersionModel.version(of: value).map({ $0 < floor }) ?? true {
                                caller.counts[phase][shard].stale += 1
                            }
                        case .miss:
                            caller.counts[phase][shard].misses += 1
                        case .degraded:
                            caller.counts[phase][shard].degraded += 1
                        }
                    } catch {
                        caller.escape(phase, shard, error)
                    }
                } else {
                    let index = caller.ownKeys[Int(caller.random.next() % UInt64(caller.ownKeys.count))]
                    let shard = keyShards[index]
                    let version = model.nextVersion()
                    let began = clock.now
                    do {
                        try await cache.set(keys[index], model.encode(version))
                        model.raise(index, to: version)
                        caller.record(phase, shard, began: began, now: clock.now)
                        caller.counts[phase][shard].sets += 1
                    } catch {
                        caller.escape(phase, shard, error)
                    }
                }
            }
        }

        // The phases; from the fault on, the breakers are watched every 10 ms.
        var phaseLengths: [Duration] = []
        var degradedSets: [Int] = []
        var shardStates: [[String]] = []
        var setsDegradedBefore = cache.metrics.degraded["set", default: 0]
        func endPhase(_ started: ContinuousClock.Instant) {
            phaseLengths.append(clock.now - started)
            let degraded = cache.metrics.degraded["set", default: 0]
            degradedSets.append(degraded - setsDegradedBefore)
            setsDegradedBefore = degraded
            shardStates.append((cache.health().shards ?? []).map { "\($0.shard ?? "?"):\($0.state)" })
        }
        var opened: Duration?  // since the fault: the first breaker OPEN
        var closed: Duration?  // since the fault: every breaker CLOSED again, after `opened`
        func watch(until end: ContinuousClock.Instant, since fault: ContinuousClock.Instant) async throws {
            while clock.now < end {
                let health = cache.health()
                if opened == nil, health.shards?.contains(where: { $0.state == "open" }) == true {
                    opened = clock.now - fault
                } else if opened != nil, closed == nil, health.state == "closed" {
                    closed = clock.now - fault
                }
                try await Task.sleep(for: .milliseconds(10))
            }
        }

        var started = clock.now
        try await Task.sleep(for: phase)
        endPhase(started)

        // During: the fault, applied through the harness.
        started = clock.now
        let faulted = started
        phaseIndex.store(1, ordering: .relaxed)
        let waitingForFailover: Task<Duration?, Never>?
        if fault == "hang" {
            try await cluster.hangShard(deadShard)
            waitingForFailover = nil
        } else {
            try await cluster.killShard(deadShard)
            waitingForFailover = Task {
                do {
                    try await cluster.waitForFailover(shard: deadShard, timeout: .seconds(60))
                    return clock.now - faulted
                } catch {
                    return nil
                }
            }
        }
        try await watch(until: started + phase, since: faulted)
        endPhase(started)

        // After: a hung primary continues; a killed one stays dead (its replica serves the shard).
        started = clock.now
        let cleared = started - faulted
        phaseIndex.store(2, ordering: .relaxed)
        if fault == "hang" { try cluster.resumeShard(deadShard) }
        try await watch(until: started + phase, since: faulted)
        endPhase(started)
        callers.stop()
        let states = await calling.value
        let failover = await waitingForFailover?.value
        let unfinished = callers.callsStarted - callers.callsFinished
        cache.shutdown()
        await running.value

        return report(
            states: states,
            phaseLengths: phaseLengths,
            degradedSets: degradedSets,
            shardStates: shardStates,
            opened: opened,
            closed: closed,
            cleared: fault == "hang" ? cleared : nil,
            failover: failover,
            unfinished: unfinished
        )
    }

    /// How many keys read back as hits (every key, one GET each, through the cache).
    private func countHits(_ cache: ResilientCache, _ keys: [String]) async throws -> Int {
        var hits = 0
        for key in keys where try await cache.get(key) != nil { hits += 1 }
        return hits
    }

    private func report(
        states: [OutageCaller],
        phaseLengths: [Duration],
        degradedSets: [Int],
        shardStates: [[String]],
        opened: Duration?,
        closed: Duration?,
        cleared: Duration?,
        failover: Duration?,
        unfinished: Int
    ) -> String {
        func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
        func ms(_ duration: Duration?) -> String {
            duration.map { String(format: "%.1f", seconds($0) * 1000) } ?? "null"
        }
        let names = ["before", "during", "after"]
        var phases: [String] = []
        for (phase, name) in names.enumerated() {
            var shards: [String] = []
            for shard in 0..<states[0].counts[phase].count {
                var total = ShardCounts()
                var histogram = makeHistogram()
                for state in states {
                    total.add(state.counts[phase][shard])
                    histogram.add(state.histograms[phase][shard])
                }
                let length = seconds(phaseLengths[phase])
                let gets = total.hits + total.misses + total.degraded
                shards.append(
                    """
                    {"shard": \(shard), "ops_per_sec": \(Int(Double(gets + total.sets) / length)), \
                    "gets": \(gets), "sets": \(total.sets), "hits": \(total.hits), "misses": \(total.misses), \
                    "hit_rate": \(gets == 0 ? 0 : Double(total.hits) / Double(gets)), \
                    "degraded_reads": \(total.degraded), "escaped": \(total.escaped), "stale": \(total.stale), \
                    "p50_us": \(Double(histogram.valueAtPercentile(50)) / 1000), \
                    "p99_us": \(Double(histogram.valueAtPercentile(99)) / 1000), \
                    "max_us": \(Double(histogram.max) / 1000)}
                    """
                )
            }
            let states = shardStates[phase].map { "\"\($0)\"" }.joined(separator: ", ")
            phases.append(
                """
                {"phase": "\(name)", "seconds": \(seconds(phaseLengths[phase])), \
                "degraded_sets_all_shards": \(degradedSets[phase]), "shard_states_at_end": [\(states)], \
                "shards": [\(shards.joined(separator: ", "))]}
                """
            )
        }
        let samples = states.flatMap(\.escapedSamples).prefix(5).map { "\"\($0)\"" }
        return """
            {"fault": "\(fault)", "dead_shard": \(deadShard), "callers": \(concurrency), \
            "read_percent": \(readPercent), "timeout_ms": \(timeoutMs), "keys": \(keysPerShard * 3), \
            "to_open_ms": \(ms(opened)), "to_closed_ms": \(ms(closed)), "cleared_ms": \(ms(cleared)), \
            "failover_ms": \(ms(failover)), "unfinished_calls": \(unfinished), \
            "escaped_samples": [\(samples.joined(separator: ", "))], "phases": [\(phases.joined(separator: ", "))]}
            """
    }
}

/// Each key's floor (the version of its last acknowledged write) and the version counter.
final class VersionModel: Sendable {
    private final class Floor: Sendable {
        let value = Atomic<UInt64>(0)
    }

    private let floors: [Floor]
    private let versions = Atomic<UInt64>(0)
    private let valueSize: Int

    init(keys: Int, valueSize: Int) {
        self.floors = (0..<keys).map { _ in Floor() }
        self.valueSize = valueSize
    }

    func nextVersion() -> UInt64 { versions.add(1, ordering: .relaxed).newValue }

    func floor(_ key: Int) -> UInt64 { floors[key].value.load(ordering: .acquiring) }

    /// Raises the key's floor; each key has one writer, so its versions only grow.
    func raise(_ key: Int, to version: UInt64) {
        floors[key].value.store(version, ordering: .releasing)
    }

    /// `v<version>` padded with `.` to the value size.
    func encode(_ version: UInt64) -> [UInt8] {
        var bytes = Array("v\(version) ".utf8)
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "."), count: max(0, valueSize - bytes.count)))
        return bytes
    }

    static func version(of value: [UInt8]) -> UInt64? {
        guard value.first == UInt8(ascii: "v"), let end = value.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        return UInt64(String(decoding: value[1..<end], as: UTF8.self))
    }
}

/// One shard's counts in one phase.
struct ShardCounts: Sendable {
    var hits = 0
    var misses = 0
    var degraded = 0
    var sets = 0
    var escaped = 0
    var stale = 0

    mutating func add(_ other: ShardCounts) {
        hits += other.hits
        misses += other.misses
        degraded += other.degraded
        sets += other.sets
        escaped += other.escaped
        stale += other.stale
    }
}

/// One outage caller: its generator, the keys it alone writes, and its counts and latencies by phase and shard.
struct OutageCaller: Sendable {
    var random: SplitMix64
    let ownKeys: [Int]
    var counts: [[ShardCounts]]
    var histograms: [[Histogram<UInt64>]]
    var escapedSamples: [String] = []

    init(id: Int, concurrency: Int, keyCount: Int, shards: Int) {
        random = SplitMix64(seed: UInt64(id + 1) &* 0x9E37_79B9_7F4A_7C15)
        ownKeys = Array(stride(from: id, to: keyCount, by: concurrency))
        counts = Array(repeating: Array(repeating: ShardCounts(), count: shards), count: 3)
        histograms = (0..<3).map { _ in (0..<shards).map { _ in makeHistogram() } }
    }

    mutating func record(_ phase: Int, _ shard: Int, began: ContinuousClock.Instant, now: ContinuousClock.Instant) {
        _ = histograms[phase][shard].record(nanoseconds(now - began))
    }

    mutating func escape(_ phase: Int, _ shard: Int, _ error: any Error) {
        counts[phase][shard].escaped += 1
        if escapedSamples.count < 3 { escapedSamples.append("\(error)".replacingOccurrences(of: "\"", with: "'")) }
    }
}
