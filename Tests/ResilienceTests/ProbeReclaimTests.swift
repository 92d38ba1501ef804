import ResilienceTestKit
import Testing

@testable import Resilience

/// A half-open permit that never reports is reclaimed and counted as a failure.
struct ProbeReclaimTests {
    @Test func aNeverReportingProbeIsReclaimedAfterTheBoundAndReopens() throws {
        let harness = Harness(.init(maxHalfOpenProbes: 1, probeReclaimAfter: .seconds(5)))
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        let lost = try harness.breaker.acquire()
        #expect(harness.succeed(4) == 0)  // the only slot is taken
        harness.clock.advance(by: .seconds(5) - .nanoseconds(1))
        #expect(harness.breaker.state == .halfOpen)
        #expect(harness.breaker.metrics.halfOpenProbesInFlight == 1)
        harness.clock.advance(by: .nanoseconds(1))
        let metrics = harness.breaker.metrics
        #expect(metrics.state == .open)
        #expect(metrics.halfOpenProbesInFlight == 0)
        #expect(metrics.recentFailures.last?.kind == .probeReclaimed)
        #expect(harness.transitions.last == Step(.halfOpen, .open, .probeReclaimed))
        // Its report, if it ever comes, is late and moves nothing.
        lost.succeeded()
        #expect(harness.breaker.metrics.counts.lateOutcomes == 1)
        #expect(harness.breaker.state == .open)
    }

    @Test func isCallPermittedIsFalseWhenAProbeIsDueForReclaim() throws {
        let harness = Harness(.init(maxHalfOpenProbes: 2, probeReclaimAfter: .seconds(5)))
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        _ = try harness.breaker.acquire()
        harness.clock.advance(by: .seconds(5))
        #expect(!harness.breaker.isCallPermitted)
    }
}
