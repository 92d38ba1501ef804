import ResilienceTestKit
import Synchronization
import Testing

@testable import Resilience

/// `run()` drives the timers on the injected clock: transitions on time without calls,
/// the active probe, probe reclaim and forced-state expiry.
struct RunTests {
    /// Starts `run()`; the returned task ends it when cancelled.
    func startRunning(_ harness: Harness) async -> Task<Void, Never> {
        let breaker = harness.breaker
        let task = Task { await breaker.run() }
        // run() has taken over once an OPEN rejection needs no clock; probe that on a scratch state.
        await eventually("run() drives the timers") {
            breaker.core.withLock { $0.timerDriven }
        }
        return task
    }

    @Test func openTurnsHalfOpenOnTimeWithoutAnyCall() async {
        let harness = Harness()
        let runner = await startRunning(harness)
        let start = harness.now
        harness.trip()
        // While run() watches the timer, a rejection reads no clock (so carries no retry-after).
        let error = #expect(throws: CircuitBreakerError.self) { try harness.breaker.acquire() }
        #expect(error?.retryAfter == nil)
        await harness.clock.waitForSleepers(count: 1)
        #expect(harness.clock.nextDeadline == start.advanced(by: .seconds(60)))
        harness.clock.advance(by: .seconds(60))
        await eventually("the breaker went half-open") { harness.recorded.events.count == 2 }
        #expect(harness.transitions.last == Step(.open, .halfOpen, .openDurationElapsed))
        #expect(harness.recorded.events.last?.instant == start.advanced(by: .seconds(60)))
        runner.cancel()
        await runner.value
    }

    @Test func theActiveProbeClosesABreakerWithNoUserTraffic() async {
        let probes = Atomic<Int>(0)
        let harness = Harness(
            .init(
                activeProbe: { probes.add(1, ordering: .relaxed) },
                activeProbeInterval: .seconds(1)
            )
        )
        let runner = await startRunning(harness)
        let start = harness.now
        harness.trip()
        await harness.clock.waitForSleepers(count: 1)
        harness.clock.advance(by: .seconds(60))
        for probe in 1...2 {
            // After each successful probe the runner sleeps until the next one is due.
            let next = start.advanced(by: .seconds(60 + probe))
            await eventually("probe \(probe) ran and the runner sleeps") {
                probes.load(ordering: .relaxed) == probe && harness.clock.sleeperCount == 1
                    && harness.clock.nextDeadline == next
            }
            #expect(harness.breaker.state == .halfOpen)
            #expect(harness.breaker.metrics.consecutiveSuccesses == probe)
            harness.clock.advance(by: .seconds(1))
        }
        await eventually("the third probe closed the breaker") { harness.recorded.events.count == 3 }
        #expect(probes.load(ordering: .relaxed) == 3)
        #expect(
            harness.transitions == [
                Step(.closed, .open, .consecutiveFailures),
                Step(.open, .halfOpen, .openDurationElapsed),
                Step(.halfOpen, .closed, .activeProbeSucceeded),
            ]
        )
        #expect(harness.breaker.metrics.counts.permitted == 5)  // the user calls only
        runner.cancel()
        await runner.value
    }

    @Test func aFailingActiveProbeReopensWithBackoff() async {
        let harness = Harness(.init(activeProbe: { throw BackendDown(id: 99) }))
        let runner = await startRunning(harness)
        harness.trip()
        await harness.clock.waitForSleepers(count: 1)
        harness.clock.advance(by: .seconds(60))
        await eventually("the probe failed") { harness.recorded.events.count == 3 }
        #expect(harness.transitions.last == Step(.halfOpen, .open, .activeProbeFailed))
        let metrics = harness.breaker.metrics
        #expect(metrics.openUntil == harness.now.advanced(by: .seconds(120)))
        #expect(metrics.recentFailures.last?.kind == .activeProbeFailed)
        #expect(metrics.recentFailures.last?.message == "backend down #99")
        runner.cancel()
        await runner.value
    }

    @Test func anActiveProbeThatHangsTimesOutAndReopens() async {
        let clock = ManualClock()
        let harness = Harness(
            .init(
                activeProbe: {
                    // Hangs until cancelled.
                    try await clock.sleep(until: clock.now.advanced(by: .seconds(86_400)))
                },
                activeProbeTimeout: .seconds(5)
            ),
            clock: clock
        )
        let runner = await startRunning(harness)
        harness.trip()
        await clock.waitForSleepers(count: 1)
        clock.advance(by: .seconds(60))
        // The hanging probe and its timeout both sleep on the clock.
        await clock.waitForSleepers(count: 2)
        clock.advance(by: .seconds(5))
        await eventually("the probe timed out") { harness.recorded.events.count == 3 }
        #expect(harness.transitions.last == Step(.halfOpen, .open, .activeProbeFailed))
        #expect(harness.breaker.metrics.recentFailures.last?.kind == .activeProbeTimedOut)
        runner.cancel()
        await runner.value
    }

    @Test func aNeverReportingProbeIsReclaimedOnTimeWithoutAnyCall() async throws {
        let harness = Harness(.init(probeReclaimAfter: .seconds(10)))
        let runner = await startRunning(harness)
        harness.trip()
        await harness.clock.waitForSleepers(count: 1)
        harness.clock.advance(by: .seconds(60))
        await eventually("half-open") { harness.recorded.events.count == 2 }
        let lost = try harness.breaker.acquire()
        await eventually("the runner sleeps until the reclaim") {
            harness.clock.nextDeadline == harness.now.advanced(by: .seconds(10))
        }
        harness.clock.advance(by: .seconds(10))
        await eventually("the probe was reclaimed") { harness.recorded.events.count == 3 }
        #expect(harness.transitions.last == Step(.halfOpen, .open, .probeReclaimed))
        lost.failed(BackendDown())
        #expect(harness.breaker.metrics.counts.lateOutcomes == 1)
        runner.cancel()
        await runner.value
    }

    @Test func aForcedStateEndsOnTimeWithoutAnyCall() async {
        let harness = Harness()
        let runner = await startRunning(harness)
        harness.breaker.forceOpen(reason: "maintenance", until: harness.now.advanced(by: .seconds(600)))
        await harness.clock.waitForSleepers(count: 1)
        harness.clock.advance(by: .seconds(600))
        await eventually("the forced state expired") { harness.recorded.events.count == 2 }
        #expect(harness.transitions.last == Step(.open, .halfOpen, .forcedStateExpired))
        runner.cancel()
        await runner.value
    }

    @Test func shutdownEndsRunAndALaterRunReturnsAtOnce() async {
        let harness = Harness()
        let runner = await startRunning(harness)
        harness.breaker.shutdown()
        await runner.value
        #expect(harness.breaker.core.withLock { $0.timerDriven } == false)
        await harness.breaker.run()  // returns at once
        // The breaker still works lazily.
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        #expect(harness.breaker.state == .halfOpen)
    }

    @Test func cancellingRunEndsItAndTheBreakerFallsBackToLazyTimers() async throws {
        let harness = Harness()
        let runner = await startRunning(harness)
        runner.cancel()
        await runner.value
        harness.trip()
        let error = #expect(throws: CircuitBreakerError.self) { try harness.breaker.acquire() }
        #expect(error?.retryAfter == .seconds(60))
        harness.clock.advance(by: .seconds(60))
        _ = try harness.breaker.acquire()
        #expect(harness.breaker.state == .halfOpen)
    }
}
