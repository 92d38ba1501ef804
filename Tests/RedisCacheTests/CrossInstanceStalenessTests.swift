import HiredisClient
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import Synchronization
import Testing

/// Several instances of a service over one Redis: the guarantee is per process, and across instances a stale value
/// can be read only until the writer's recovery loop has replayed its journal.
@Suite(.serialized)
struct CrossInstanceStalenessTests {
    /// The bound the README states for default settings, with the writer alive.
    static let statedBound: Duration = .seconds(1)

    @Test func withDefaultSettingsNoInstanceReadsAStaleValueLaterThanASecondAfterRedisAnswersAgain() async throws {
        try await RedisServer.withServer { server in
            // The writer reaches Redis through a proxy, so that its writes during the hang are dropped for sure
            // (through a plain socket Redis would run them from its buffer when it resumes, and nothing would
            // be stale). The readers talk to Redis directly. Everything else is the default configuration.
            let proxy = try FaultProxy.start(upstreamPort: server.port)
            defer { proxy.stop() }
            let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            let configuration = ResilientCacheConfiguration(namespace: "svc:")
            let writer = try ResilientCache(
                url: "redis://127.0.0.1:\(proxy.port)", configuration: configuration, logger: quiet)
            let readers = try (0..<2).map { _ in
                try ResilientCache(url: "redis://127.0.0.1:\(server.port)", configuration: configuration, logger: quiet)
            }
            let caches = [writer] + readers
            let running = caches.map { cache in Task { await cache.run() } }

            let keys = (0..<50).map { "item:\($0)" }
            for key in keys { try await writer.set(key, bytes("old")) }
            for reader in readers { for key in keys { #expect(try await reader.get(key) == bytes("old")) } }

            // The hang: every instance's calls time out and their circuits open; the writer's updates are
            // journaled (and dropped on the way).
            server.hang()
            try await proxy.setMode(.blackhole)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for key in keys { group.addTask { _ = try await writer.set(key, bytes("new")) } }
                for reader in readers { group.addTask { for _ in 0..<10 { _ = try await reader.get(keys[0]) } } }
                try await group.waitForAll()
            }
            #expect(writer.circuit.state == .open)
            #expect(writer.metrics.journalSize == keys.count)
            try await Task.sleep(for: .seconds(1))

            // Redis answers again. The readers read every key continuously for 3 s; a read that returns "old"
            // is stale (the writer's update returned before the hang ended).
            try await proxy.setMode(.passThrough)
            server.resume()
            let answered = ContinuousClock.now
            let tally = ReadTally()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for reader in readers {
                    for worker in 0..<4 {
                        group.addTask {
                            var index = worker
                            while ContinuousClock.now - answered < .seconds(3) {
                                let started = ContinuousClock.now - answered
                                let lookup = try await reader.lookup(keys[index % keys.count])
                                switch lookup {
                                case .hit(let value) where value == bytes("old"): tally.stale(startedAt: started)
                                case .hit, .miss: tally.answered()
                                case .degraded: try await Task.sleep(for: .milliseconds(1))
                                }
                                index += 1
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            for cache in caches { cache.shutdown() }
            for task in running { await task.value }

            let (staleReads, window, answeredReads) = tally.totals
            print(
                "cross-instance staleness: \(staleReads) stale reads, the latest starting "
                    + "\(window.map { "\($0)" } ?? "never") after Redis answered again; \(answeredReads) other reads answered by Redis"
            )
            #expect(answeredReads > 0, "the readers recovered")
            if let window {
                #expect(window < Self.statedBound, "stale reads until \(window) after Redis answered again")
            }
            for key in keys { #expect(try server.cli("GET", "svc:\(key)") != "old") }
        }
    }
}

/// Reads counted by several tasks.
private final class ReadTally: Sendable {
    private struct Counts {
        var stale = 0
        var latestStale: Duration?
        var answered = 0
    }

    private let counts = Mutex(Counts())

    func stale(startedAt started: Duration) {
        counts.withLock {
            $0.stale += 1
            $0.latestStale = max($0.latestStale ?? .zero, started)
        }
    }

    func answered() { counts.withLock { $0.answered += 1 } }

    var totals: (stale: Int, latestStale: Duration?, answered: Int) {
        counts.withLock { ($0.stale, $0.latestStale, $0.answered) }
    }
}
