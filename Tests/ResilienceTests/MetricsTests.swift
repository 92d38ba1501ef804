import ResilienceTestKit
import Testing

@testable import Resilience

/// The metrics snapshot, field by field.
struct MetricsTests {
    @Test func everyMetricsFieldAfterAScriptedSequence() async throws {
        let harness = Harness(.init(failureRateThreshold: nil, slowCallThreshold: .seconds(1)))
        let breaker = harness.breaker
        let start = harness.now
        // t = 0: three successes and one cancelled call (ignored).
        for _ in 0..<3 { try await breaker.execute {} }
        await #expect(throws: CancellationError.self) { try await breaker.execute { throw CancellationError() } }
        // A 2 s success: slow, so a failure. t = 2 s.
        try await breaker.execute { harness.clock.advance(by: .seconds(2)) }
        // Two failures, then a success resets the consecutive count.
        for id in 1...2 {
            await #expect(throws: BackendDown(id: id)) { try await breaker.execute { throw BackendDown(id: id) } }
        }
        try await breaker.execute {}
        // Five failures open the breaker; two calls are rejected.
        for id in 3...7 {
            await #expect(throws: BackendDown(id: id)) { try await breaker.execute { throw BackendDown(id: id) } }
        }
        for _ in 0..<2 { await #expect(throws: CircuitBreakerError.self) { try await breaker.execute {} } }
        // t = 62 s: HALF_OPEN. One admitted success, one throttled call.
        harness.clock.advance(by: .seconds(60))
        try await breaker.execute {}
        await #expect(throws: CircuitBreakerError.self) { try await breaker.execute {} }
        harness.clock.advance(by: .seconds(5))

        let metrics = breaker.metrics
        #expect(metrics.instant == start.advanced(by: .seconds(67)))
        #expect(metrics.state == .halfOpen)
        #expect(metrics.isForced == false)
        #expect(metrics.forcedReason == nil)
        #expect(metrics.generation == 2)
        #expect(metrics.counts.stateChanges == 2)
        #expect(metrics.callsInWindow == 13)
        #expect(metrics.failuresInWindow == 8)
        #expect(metrics.slowCallsInWindow == 1)
        #expect(metrics.failureRate == 8.0 / 13.0)
        #expect(metrics.slowCallRate == 1.0 / 13.0)
        #expect(metrics.timeInCurrentState == .seconds(5))
        #expect(metrics.consecutiveFailures == 0)
        #expect(metrics.consecutiveSuccesses == 1)
        #expect(metrics.consecutiveReopens == 0)
        #expect(metrics.openUntil == nil)
        #expect(metrics.halfOpenProbesInFlight == 0)
        #expect(metrics.counts.permitted == 14)
        #expect(metrics.counts.rejected == 2)
        #expect(metrics.counts.throttled == 1)
        #expect(metrics.counts.ignored == 1)
        #expect(metrics.counts.lateOutcomes == 0)
        #expect(metrics.counts.successes == 5)
        #expect(metrics.counts.failures == 8)
        #expect(metrics.counts.slowCalls == 1)
        #expect(metrics.recentFailures.map(\.kind) == [.slowCall] + Array(repeating: .failure, count: 7))
        #expect(metrics.recentFailures.map(\.instant) == Array(repeating: start.advanced(by: .seconds(2)), count: 8))
        #expect(metrics.recentFailures.dropFirst().map(\.message) == (1...7).map { "backend down #\($0)" })
        #expect(metrics.recentFailures.first?.duration == .seconds(2))
        #expect(metrics.recentFailures.first?.message.contains("2.0 seconds") == true)
    }

    @Test func openMetricsShowWhenTheBreakerWillProbe() {
        let harness = Harness()
        harness.trip()
        harness.clock.advance(by: .seconds(10))
        let metrics = harness.breaker.metrics
        #expect(metrics.openUntil == harness.now.advanced(by: .seconds(50)))
        #expect(metrics.timeInCurrentState == .seconds(10))
    }

    @Test func theRecentFailuresRingKeepsTheLastFifty() {
        let harness = Harness(.init(failureThreshold: 1_000, failureRateThreshold: nil))
        harness.fail(120)
        let recent = harness.breaker.metrics.recentFailures
        #expect(recent.count == 50)
        #expect(recent.first?.message == "backend down #70")
        #expect(recent.last?.message == "backend down #119")
        #expect(harness.breaker.metrics.counts.failures == 120)
    }

    @Test func theRecentFailuresCapacityIsConfigurable() {
        let harness = Harness(.init(failureThreshold: 1_000, recentFailuresCapacity: 3))
        harness.fail(10)
        #expect(
            harness.breaker.metrics.recentFailures.map(\.message) == [
                "backend down #7", "backend down #8", "backend down #9",
            ]
        )
        let none = Harness(.init(recentFailuresCapacity: 0))
        none.fail(2)
        #expect(none.breaker.metrics.recentFailures.isEmpty)
    }
}
