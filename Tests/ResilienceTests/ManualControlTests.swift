import ResilienceTestKit
import Testing

@testable import Resilience

/// forceOpen, forceClosed and reset.
struct ManualControlTests {
    @Test func forceOpenRejectsEverythingUntilReset() {
        let harness = Harness()
        harness.breaker.forceOpen(reason: "redis maintenance")
        var metrics = harness.breaker.metrics
        #expect(metrics.state == .open)
        #expect(metrics.isForced)
        #expect(metrics.forcedReason == "redis maintenance")
        let error = #expect(throws: CircuitBreakerError.self) { try harness.breaker.acquire() }
        #expect(error?.code == .open)
        #expect(error?.retryAfter == nil)
        harness.clock.advance(by: .seconds(100_000))
        #expect(harness.breaker.state == .open)
        #expect(harness.succeed(10) == 0)
        harness.breaker.reset()
        metrics = harness.breaker.metrics
        #expect(metrics.state == .closed)
        #expect(!metrics.isForced)
        #expect(harness.succeed(10) == 10)
        #expect(harness.transitions == [Step(.closed, .open, .forcedOpen), Step(.open, .closed, .reset)])
        #expect(harness.recorded.events.first?.reason.detail == "redis maintenance")
    }

    @Test func forceOpenWithAnExpiryGoesHalfOpenExactlyThen() {
        let harness = Harness()
        let end = harness.now.advanced(by: .seconds(600))
        harness.breaker.forceOpen(reason: "maintenance window", until: end)
        harness.clock.advance(by: .seconds(600) - .nanoseconds(1))
        let error = #expect(throws: CircuitBreakerError.self) { try harness.breaker.acquire() }
        #expect(error?.retryAfter == .nanoseconds(1))
        harness.clock.advance(by: .nanoseconds(1))
        #expect(harness.breaker.state == .halfOpen)
        #expect(harness.transitions.last == Step(.open, .halfOpen, .forcedStateExpired))
    }

    @Test func forceClosedAdmitsEverythingAndNoFailureTrips() {
        let harness = Harness(.init(failureRateThreshold: 0.1, minimumCalls: 1))
        harness.breaker.forceClosed(reason: "breaker misfires")
        #expect(harness.fail(50) == 50)
        let metrics = harness.breaker.metrics
        #expect(metrics.state == .closed)
        #expect(metrics.isForced)
        #expect(metrics.consecutiveFailures == 50)
        #expect(metrics.failuresInWindow == 50)
        #expect(harness.transitions == [Step(.closed, .closed, .forcedClosed)])
    }

    @Test func forceClosedExpiresIntoAFreshClosedState() {
        let harness = Harness()
        harness.breaker.forceClosed(until: harness.now.advanced(by: .seconds(30)))
        harness.fail(20)
        harness.clock.advance(by: .seconds(30))
        let metrics = harness.breaker.metrics
        #expect(metrics.state == .closed)
        #expect(!metrics.isForced)
        #expect(metrics.consecutiveFailures == 0)
        #expect(metrics.callsInWindow == 0)
        #expect(harness.transitions.last == Step(.closed, .closed, .forcedStateExpired))
        harness.fail(4)
        #expect(harness.breaker.state == .closed)
        harness.fail(1)
        #expect(harness.breaker.state == .open)
    }

    @Test func forceOpenOverridesAnOpenBreakersTimer() {
        let harness = Harness()
        harness.trip()
        harness.breaker.forceOpen()
        harness.clock.advance(by: .seconds(120))
        #expect(harness.breaker.state == .open)
    }

    @Test func resetClearsTheCountsAndBackoffButKeepsCumulativeCounters() {
        let harness = Harness(.init(openDuration: .seconds(10)))
        harness.succeed(3)
        harness.trip()
        harness.clock.advance(by: .seconds(10))
        harness.fail(1)  // re-open: backoff grows
        #expect(harness.breaker.metrics.consecutiveReopens == 1)
        harness.breaker.reset()
        let metrics = harness.breaker.metrics
        #expect(metrics.state == .closed)
        #expect(metrics.consecutiveFailures == 0)
        #expect(metrics.consecutiveSuccesses == 0)
        #expect(metrics.consecutiveReopens == 0)
        #expect(metrics.callsInWindow == 0)
        #expect(metrics.failureRate == 0)
        #expect(metrics.counts.permitted == 9)
        #expect(metrics.counts.failures == 6)
        #expect(metrics.counts.stateChanges == 4)
        #expect(metrics.recentFailures.count == 6)
        harness.trip()
        #expect(harness.breaker.metrics.openUntil == harness.now.advanced(by: .seconds(10)))
    }
}
