import ResilienceTestKit
import Testing

@testable import Resilience

/// Outcomes carry the state period they were admitted in.
struct GenerationTests {
    @Test func aLateFailureFromBeforeTheTripDoesNotMoveTheOpenState() throws {
        let harness = Harness()
        let slow = try harness.breaker.acquire()
        #expect(slow.generation == 0)
        harness.trip()
        slow.failed(BackendDown())
        let metrics = harness.breaker.metrics
        #expect(metrics.state == .open)
        #expect(metrics.counts.lateOutcomes == 1)
        #expect(metrics.counts.failures == 5)
        #expect(metrics.generation == 1)
    }

    @Test func aLateSuccessFromClosedDoesNotCountTowardsHalfOpenRecovery() throws {
        let harness = Harness(.init(successThreshold: 1))
        let old = try harness.breaker.acquire()
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        #expect(harness.breaker.state == .halfOpen)
        old.succeeded()
        let metrics = harness.breaker.metrics
        #expect(metrics.state == .halfOpen)
        #expect(metrics.consecutiveSuccesses == 0)
        #expect(metrics.counts.lateOutcomes == 1)
    }

    @Test func aLateProbeFailureFromAnEarlierHalfOpenPeriodDoesNotReopen() throws {
        let harness = Harness(.init(successThreshold: 1, recoveryFactor: 1, maxHalfOpenProbes: 2))
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        let first = try harness.breaker.acquire()
        let second = try harness.breaker.acquire()
        first.succeeded()  // successThreshold 1: CLOSED, a new generation
        #expect(harness.breaker.state == .closed)
        second.failed(BackendDown())
        let metrics = harness.breaker.metrics
        #expect(metrics.state == .closed)
        #expect(metrics.consecutiveFailures == 0)
        #expect(metrics.counts.lateOutcomes == 1)
    }

    @Test func aDuplicateProbeReportIsIgnored() throws {
        let harness = Harness(.init(successThreshold: 2, maxHalfOpenProbes: 1))
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        let probe = try harness.breaker.acquire()
        probe.succeeded()
        probe.succeeded()
        let metrics = harness.breaker.metrics
        #expect(metrics.state == .halfOpen)
        #expect(metrics.consecutiveSuccesses == 1)
        #expect(metrics.counts.lateOutcomes == 1)
    }
}
