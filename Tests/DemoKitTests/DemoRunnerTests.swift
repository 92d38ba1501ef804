import DemoKit
import RedisTestSupport
import Resilience
import Testing
import _LoadKit

/// The demo's server, started by the server harness as `resilient-cache demo` starts it.
private let startTestbed: @Sendable (Bool) async throws -> any FaultTarget = { proxy in
    try await RedisTestbed.start(.init(enableDebugCommand: true), proxy: proxy)
}

/// The demo end to end against the redis-server it starts: the workload, real faults, the breaker's reaction.
struct DemoRunnerTests {
    /// A short run: 20 callers, a 5 ms origin, the breaker open for 300 ms, a report every 500 ms.
    private func shortRun(faults: String, duration: Duration = .seconds(3)) throws -> DemoConfiguration {
        var configuration = DemoConfiguration()
        configuration.concurrency = 20
        configuration.keys = 200
        configuration.duration = duration
        configuration.originLatency = .milliseconds(5)
        configuration.commandTimeout = .milliseconds(100)
        configuration.openDuration = .milliseconds(300)
        configuration.reportInterval = .milliseconds(500)
        configuration.faults = try FaultSchedule(parsing: faults)
        return configuration
    }

    @Test func aHungRedisDegradesCallsToMissesAndTheBreakerOpensAndClosesAgain() async throws {
        let result = try await DemoRunner(
            configuration: try shortRun(faults: "0.8s:hang,1.8s:resume"), startServer: startTestbed
        ).run()

        #expect(result.totals.escapedErrors == 0, "\(result.incidents)")
        #expect(result.totals.overruns == 0, "\(result.incidents)")
        #expect(Double(result.totals.worstCacheMicroseconds) <= result.configuration.callDeadline / .microseconds(1))
        #expect(result.faults.map(\.action) == ["hang", "resume"])
        let hang = try #require(result.faults.first).at
        let resume = try #require(result.faults.last).at
        let opened = try #require(result.transitions.first { $0.to == .open }, "the breaker never opened")
        #expect(opened.at >= hang && opened.at < resume, "opened at \(opened.at), hang at \(hang)")
        let closed = try #require(
            result.transitions.first { $0.to == .closed && $0.at >= resume }, "the breaker never closed")
        #expect(closed.at - resume < .seconds(1))
        #expect(result.totals.stateAtEnd == .closed)
        #expect(result.totals.degraded > 0)
        #expect(result.totals.hits > 0)
        #expect(result.totals.journalAtEnd == 0, "invalidations from the outage were replayed")
        #expect(result.intervals.count == 6)
        let reactions = result.reactions.map(\.outcome)
        guard case .opened = reactions.first, case .closed = reactions.last else {
            Issue.record("reactions: \(result.reactions.map(\.summary))")
            return
        }
    }

    @Test func aStoppedRedisIsRestartedOnTheSamePortAndTheCacheRecoversByItself() async throws {
        let result = try await DemoRunner(
            configuration: try shortRun(faults: "0.6s:stop,1.6s:start"), startServer: startTestbed
        ).run()

        #expect(result.totals.escapedErrors == 0, "\(result.incidents)")
        #expect(result.totals.overruns == 0, "\(result.incidents)")
        #expect(result.faults.map(\.action) == ["stop", "start"])
        #expect(result.faults.allSatisfy { !$0.failed }, "\(result.faults.map(\.detail))")
        #expect(result.transitions.contains { $0.to == .open })
        #expect(result.totals.stateAtEnd == .closed)
        // Calls kept completing through the outage, served by the origin.
        #expect(result.intervals.allSatisfy { $0.calls > 0 })
        let last = try #require(result.intervals.last)
        #expect(last.hits > 0, "the restarted server is filled again")
    }

    @Test func aBlackholedNetworkThroughTheDemosProxyOpensTheBreakerAndItClosesOnceCleared() async throws {
        let configuration = try shortRun(faults: "0.8s:proxy-blackhole,1.8s:proxy-clear")
        let result = try await DemoRunner(configuration: configuration, startServer: startTestbed).run()

        #expect(result.redis.contains("behind a fault proxy"), "\(result.redis)")
        #expect(result.totals.escapedErrors == 0, "\(result.incidents)")
        #expect(result.totals.overruns == 0, "\(result.incidents)")
        #expect(result.faults.map(\.action) == ["proxy-blackhole", "proxy-clear"])
        #expect(result.faults.allSatisfy { !$0.failed }, "\(result.faults.map(\.detail))")
        #expect(result.transitions.contains { $0.to == .open })
        #expect(result.totals.stateAtEnd == .closed)
    }

    @Test func startingWithRedisDownIsNotFatal() async throws {
        // A port nothing listens on any more: the server that had it is gone.
        let server = try await RedisServer.start()
        let url = server.url
        await server.shutdown()
        var configuration = try shortRun(faults: "none", duration: .seconds(1))
        configuration.redisURL = url

        let result = try await DemoRunner(configuration: configuration, startServer: startTestbed).run()

        #expect(result.totals.escapedErrors == 0, "\(result.incidents)")
        #expect(result.totals.overruns == 0, "\(result.incidents)")
        #expect(result.totals.calls > 0)
        #expect(result.totals.hits == 0)
        #expect(result.totals.degraded > 0)
        #expect(result.totals.stateAtEnd != .closed)
    }
}
