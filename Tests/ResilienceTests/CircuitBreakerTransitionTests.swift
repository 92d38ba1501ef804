import ResilienceTestKit
import Testing

@testable import Resilience

/// Every edge of the state diagram, driven through the public API on a manual clock.
struct CircuitBreakerTransitionTests {
    @Test func fourConsecutiveFailuresStayClosedAndTheFifthOpens() {
        let harness = Harness()
        harness.fail(4)
        #expect(harness.breaker.state == .closed)
        #expect(harness.breaker.metrics.consecutiveFailures == 4)
        harness.fail(1)
        #expect(harness.breaker.state == .open)
        #expect(harness.transitions == [Step(.closed, .open, .consecutiveFailures)])
    }

    @Test func aSuccessResetsTheConsecutiveFailureCount() {
        let harness = Harness()
        harness.fail(4)
        harness.succeed(1)
        #expect(harness.breaker.metrics.consecutiveFailures == 0)
        harness.fail(4)
        #expect(harness.breaker.state == .closed)
        #expect(harness.breaker.metrics.consecutiveFailures == 4)
        harness.fail(1)
        #expect(harness.breaker.state == .open)
    }

    @Test func openRejectsWithCircuitBreakerOpenAndARetryAfter() throws {
        let harness = Harness()
        harness.trip()
        harness.clock.advance(by: .seconds(15))
        let error = #expect(throws: CircuitBreakerError.self) { try harness.breaker.acquire() }
        #expect(error?.code == .open)
        #expect(error?.code.description == "CIRCUIT_BREAKER_OPEN")
        #expect(error?.retryAfter == .seconds(45))
        #expect(harness.breaker.metrics.counts.rejected == 1)
    }

    @Test func openTurnsHalfOpenExactlyAtTheOpenDurationNotOneNanosecondBefore() {
        let harness = Harness()
        harness.trip()
        harness.clock.advance(by: .seconds(60) - .nanoseconds(1))
        #expect(harness.breaker.state == .open)
        #expect(!harness.breaker.isCallPermitted)
        let error = #expect(throws: CircuitBreakerError.self) { try harness.breaker.acquire() }
        #expect(error?.retryAfter == .nanoseconds(1))
        harness.clock.advance(by: .nanoseconds(1))
        #expect(harness.breaker.isCallPermitted)
        #expect(harness.breaker.state == .halfOpen)
        #expect(
            harness.transitions == [
                Step(.closed, .open, .consecutiveFailures),
                Step(.open, .halfOpen, .openDurationElapsed),
            ]
        )
        #expect(harness.recorded.events.last?.instant == harness.now)
    }

    @Test func aCallArrivingAfterTheOpenDurationMovesToHalfOpenLazilyAndIsAdmitted() throws {
        let harness = Harness()
        harness.trip()
        harness.clock.advance(by: .seconds(61))
        let permit = try harness.breaker.acquire()
        #expect(permit.isProbe)
        #expect(harness.transitions.last == Step(.open, .halfOpen, .openDurationElapsed))
    }

    @Test func halfOpenClosesAfterSuccessThresholdConsecutiveSuccesses() {
        let harness = Harness()
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        // recoveryFactor 0.5: every other call is admitted; three successes close.
        var pattern = ""
        for _ in 0..<5 {
            pattern += harness.succeed(1) == 1 ? "A" : "."
        }
        #expect(pattern == "A.A.A")
        #expect(harness.breaker.state == .closed)
        #expect(harness.transitions.last == Step(.halfOpen, .closed, .successThresholdReached))
        #expect(harness.succeed(10) == 10)
    }

    @Test func twoSuccessesInHalfOpenAreNotEnough() {
        let harness = Harness()
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        #expect(harness.succeed(4) == 2)
        #expect(harness.breaker.state == .halfOpen)
        #expect(harness.breaker.metrics.consecutiveSuccesses == 2)
    }

    @Test func anyFailureInHalfOpenReopens() {
        let harness = Harness()
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        #expect(harness.succeed(3) == 2)  // admitted, throttled, admitted
        #expect(harness.fail(1) == 0)  // throttled
        #expect(harness.fail(1) == 1)
        #expect(harness.breaker.state == .open)
        #expect(harness.transitions.last == Step(.halfOpen, .open, .probeFailed))
        // The re-open doubles the open duration.
        #expect(harness.breaker.metrics.openUntil == harness.now.advanced(by: .seconds(120)))
    }

    @Test func anIgnoredProbeFreesItsSlotAndCountsNeitherWay() throws {
        let harness = Harness(.init(maxHalfOpenProbes: 1))
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        let permit = try harness.breaker.acquire()
        permit.failed(CancellationError())
        let metrics = harness.breaker.metrics
        #expect(metrics.state == .halfOpen)
        #expect(metrics.counts.ignored == 1)
        #expect(metrics.halfOpenProbesInFlight == 0)
        #expect(metrics.consecutiveSuccesses == 0)
        #expect(metrics.consecutiveFailures == 0)
    }

    @Test func closingClearsTheWindowSoOldFailuresDoNotTripAgain() {
        let harness = Harness(.init(failureRateThreshold: 0.5, minimumCalls: 4))
        harness.fail(4)
        #expect(harness.transitions == [Step(.closed, .open, .failureRate)])
        harness.clock.advance(by: .seconds(60))
        harness.succeed(5)
        #expect(harness.breaker.state == .closed)
        let metrics = harness.breaker.metrics
        #expect(metrics.callsInWindow == 0)
        #expect(metrics.failuresInWindow == 0)
        harness.fail(1)
        harness.succeed(3)
        #expect(harness.breaker.state == .closed)
    }
}
