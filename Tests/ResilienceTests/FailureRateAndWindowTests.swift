import ResilienceTestKit
import Testing

@testable import Resilience

/// The rolling window: failure rate, minimum calls, expiry, slow calls, batched successes.
struct FailureRateAndWindowTests {
    static let rateOnly = CircuitBreakerConfiguration(
        failureThreshold: 100,
        failureRateThreshold: 0.5,
        minimumCalls: 10
    )

    @Test func theFailureRateTripsOnlyOnceMinimumCallsAreInTheWindow() {
        let harness = Harness(Self.rateOnly)
        // f s f s f s f s f: 5 failures in 9 calls (56 %), but fewer than 10 calls.
        for index in 0..<9 {
            if index % 2 == 0 { harness.fail() } else { harness.succeed() }
        }
        #expect(harness.breaker.state == .closed)
        harness.succeed()  // 10 calls, 50 %: a success never trips
        var metrics = harness.breaker.metrics
        #expect(metrics.state == .closed)
        #expect(metrics.callsInWindow == 10)
        #expect(metrics.failuresInWindow == 5)
        #expect(metrics.failureRate == 0.5)
        harness.fail()  // 6 of 11
        metrics = harness.breaker.metrics
        #expect(metrics.state == .open)
        #expect(harness.transitions == [Step(.closed, .open, .failureRate)])
    }

    @Test func aFailureRateBelowTheThresholdDoesNotTrip() {
        let harness = Harness(Self.rateOnly)
        for index in 0..<100 {
            if index % 3 == 0 { harness.fail() } else { harness.succeed() }
        }
        let metrics = harness.breaker.metrics
        #expect(metrics.state == .closed)
        #expect(metrics.callsInWindow == 100)
        #expect(metrics.failuresInWindow == 34)
    }

    @Test func failuresOlderThanTheWindowDropOut() {
        // 300 s in 10 buckets of 30 s, counted from the breaker's creation: the failures
        // at 0 s are in bucket [0, 30 s).
        let harness = Harness(.init(failureThreshold: 100, failureRateThreshold: 0.5, minimumCalls: 4))
        harness.fail(3)
        #expect(harness.breaker.metrics.failuresInWindow == 3)
        // At 299 s the window still covers buckets 0...9.
        harness.clock.advance(by: .seconds(299))
        #expect(harness.breaker.metrics.failuresInWindow == 3)
        // At 300 s bucket 10 starts and bucket 0 falls out.
        harness.clock.advance(by: .seconds(1))
        let metrics = harness.breaker.metrics
        #expect(metrics.failuresInWindow == 0)
        #expect(metrics.callsInWindow == 0)
        // Without the old failures a fourth one is 1 of 1, not 4 of 4: below minimumCalls, no trip.
        harness.fail(1)
        #expect(harness.breaker.state == .closed)
        harness.fail(3)
        #expect(harness.breaker.state == .open)
    }

    @Test func withoutExpiryTheFourthFailureWouldTrip() {
        let harness = Harness(.init(failureThreshold: 100, failureRateThreshold: 0.5, minimumCalls: 4))
        harness.fail(3)
        harness.clock.advance(by: .seconds(299))
        harness.fail(1)
        #expect(harness.breaker.state == .open)
    }

    @Test func aSuccessSlowerThanTheThresholdCountsAsAFailure() async throws {
        let harness = Harness(.init(slowCallThreshold: .milliseconds(100)))
        try await harness.breaker.execute { harness.clock.advance(by: .milliseconds(150)) }
        var metrics = harness.breaker.metrics
        #expect(metrics.counts.successes == 0)
        #expect(metrics.counts.failures == 1)
        #expect(metrics.counts.slowCalls == 1)
        #expect(metrics.consecutiveFailures == 1)
        #expect(metrics.slowCallRate == 1)
        #expect(metrics.recentFailures.map(\.kind) == [.slowCall])
        #expect(metrics.recentFailures.first?.duration == .milliseconds(150))
        // Exactly at the threshold is not slow.
        try await harness.breaker.execute { harness.clock.advance(by: .milliseconds(100)) }
        metrics = harness.breaker.metrics
        #expect(metrics.counts.successes == 1)
        #expect(metrics.consecutiveFailures == 0)
        #expect(metrics.slowCallRate == 0.5)
        // Five slow calls in a row open the breaker.
        for _ in 0..<5 {
            let permit = try harness.breaker.acquire()
            harness.clock.advance(by: .seconds(1))
            permit.succeeded()
        }
        #expect(harness.breaker.state == .open)
    }

    @Test func successesCountedWithoutTheClockReachTheWindow() {
        let harness = Harness()
        harness.succeed(10_000)
        #expect(harness.breaker.metrics.callsInWindow == 10_000)
        #expect(harness.breaker.metrics.counts.successes == 10_000)
        harness.clock.advance(by: .seconds(330))
        #expect(harness.breaker.metrics.callsInWindow == 0)
    }

    @Test func batchedSuccessesLeaveTheWindowRoughlyOnTime() {
        // 2,000 successes over 200 s (one per 100 ms), then 200 s of silence: at 400 s the
        // window (300 s, 30 s buckets) covers [120 s, 420 s), which held 800 of the calls.
        // Successes reach the window in batches, attributed evenly over each batch's span.
        let harness = Harness()
        for _ in 0..<2_000 {
            harness.succeed()
            harness.clock.advance(by: .milliseconds(100))
        }
        #expect(harness.breaker.metrics.callsInWindow == 2_000)
        harness.clock.advance(by: .seconds(200))
        let calls = harness.breaker.metrics.callsInWindow
        #expect((780...820).contains(calls), "\(calls) calls in the window")
    }

    @Test func aFailureAfterManyQuickSuccessesSeesThemInTheWindow() {
        let harness = Harness(Self.rateOnly)
        harness.succeed(5_000)
        harness.fail(1)
        let metrics = harness.breaker.metrics
        #expect(metrics.callsInWindow == 5_001)
        #expect(metrics.failuresInWindow == 1)
        #expect(metrics.state == .closed)
    }
}
