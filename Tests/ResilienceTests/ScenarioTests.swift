import ResilienceTestKit
import Testing
import _LoadKit

@testable import Resilience

/// The guide's scenarios, with seeded randomness so that every number is reproducible.
struct ScenarioTests {
    @Test func stateTransitionsThroughAnOutageAndBack() async throws {
        let harness = Harness()
        let start = harness.now
        var backendUp = true
        func call() async -> Bool {
            do {
                try await harness.breaker.execute { if !backendUp { throw BackendDown() } }
                return true
            } catch {
                return false
            }
        }
        for _ in 0..<100 { #expect(await call()) }
        backendUp = false
        harness.clock.advance(by: .seconds(1))
        for _ in 0..<20 { _ = await call() }
        #expect(harness.breaker.state == .open)
        backendUp = true
        harness.clock.advance(by: .seconds(60))
        var pattern = ""
        for _ in 0..<5 { pattern += await call() ? "A" : "." }
        #expect(pattern == "A.A.A")
        #expect(harness.breaker.state == .closed)
        #expect(
            harness.transitions == [
                Step(.closed, .open, .consecutiveFailures),
                Step(.open, .halfOpen, .openDurationElapsed),
                Step(.halfOpen, .closed, .successThresholdReached),
            ]
        )
        #expect(
            harness.recorded.events.map(\.instant) == [
                start.advanced(by: .seconds(1)), start.advanced(by: .seconds(61)), start.advanced(by: .seconds(61)),
            ]
        )
    }

    @Test func underATotalOutageEveryCallAfterTheTripIsRejectedFastWithoutRunningIt() async {
        var random = SplitMix64(seed: 2024)
        let harness = Harness()
        var executed = 0
        var rejected = 0
        var rejectionTime = Duration.zero
        let wallClock = ContinuousClock()
        // 10,000 calls, 0 to 4 ms apart: under 40 s, within one open period.
        for _ in 0..<10_000 {
            harness.clock.advance(by: .microseconds(Int64(random.next() % 4_000)))
            let before = wallClock.now
            do {
                try await harness.breaker.execute {
                    executed += 1
                    throw BackendDown()
                }
            } catch let error as CircuitBreakerError {
                rejectionTime += before.duration(to: wallClock.now)
                #expect(error.code == .open)
                rejected += 1
            } catch {}
        }
        #expect(executed == 5)
        #expect(rejected == 9_995)
        #expect(rejectionTime < .seconds(1), "9,995 rejections took \(rejectionTime)")
        let metrics = harness.breaker.metrics
        #expect(metrics.counts.rejected == 9_995)
        #expect(metrics.counts.failures == 5)
        #expect(harness.transitions == [Step(.closed, .open, .consecutiveFailures)])
    }

    @Test func recoveryAfterAnOutageOfRandomLength() async throws {
        var random = SplitMix64(seed: 99)
        let harness = Harness(.init(openDuration: .seconds(10)))
        var backendUp = false
        var outageLeft = Duration.seconds(Int64(100 + random.next() % 200))
        var reopens = 0
        // One call per 500 ms until the breaker is CLOSED again after the backend returns.
        for _ in 0..<10_000 {
            if !backendUp && outageLeft <= .zero { backendUp = true }
            _ = try? await harness.breaker.execute { if !backendUp { throw BackendDown() } }
            if harness.transitions.last?.to == .closed, backendUp { break }
            harness.clock.advance(by: .milliseconds(500))
            outageLeft -= .milliseconds(500)
            reopens = max(reopens, harness.breaker.metrics.consecutiveReopens)
        }
        let metrics = harness.breaker.metrics
        #expect(backendUp)
        #expect(metrics.state == .closed)
        #expect(metrics.consecutiveReopens == 0)
        #expect(metrics.callsInWindow == 0)
        #expect(reopens >= 3)  // a long outage: the open duration grew
        #expect(harness.transitions.last == Step(.halfOpen, .closed, .successThresholdReached))
    }

    /// A reference model of the rules, written independently of the state machine: what the
    /// breaker must do on a sequence of calls that fail with the given pattern.
    struct Model {
        enum State { case closed, open(until: Duration), halfOpen }
        var state = State.closed
        var consecutiveFailures = 0
        var consecutiveSuccesses = 0
        var credit = 1.0
        var reopens = 0
        var steps: [Step] = []
        var executed = 0
        var failed = 0
        var rejected = 0
        var throttled = 0
        let openDuration: Duration
        let maxOpenDuration: Duration

        mutating func call(at now: Duration, fails: Bool) {
            if case .open(let until) = state, now >= until {
                steps.append(Step(.open, .halfOpen, .openDurationElapsed))
                state = .halfOpen
                credit = 1
                consecutiveSuccesses = 0
            }
            switch state {
            case .open:
                rejected += 1
            case .closed:
                executed += 1
                if fails {
                    failed += 1
                    consecutiveFailures += 1
                    if consecutiveFailures == 5 {
                        steps.append(Step(.closed, .open, .consecutiveFailures))
                        open(at: now)
                    }
                } else {
                    consecutiveFailures = 0
                }
            case .halfOpen:
                let admitted = credit >= 1
                if admitted { credit -= 1 }
                credit += 0.5
                guard admitted else {
                    throttled += 1
                    return
                }
                executed += 1
                if fails {
                    failed += 1
                    steps.append(Step(.halfOpen, .open, .probeFailed))
                    reopens += 1
                    open(at: now)
                } else {
                    consecutiveSuccesses += 1
                    if consecutiveSuccesses == 3 {
                        steps.append(Step(.halfOpen, .closed, .successThresholdReached))
                        state = .closed
                        consecutiveFailures = 0
                        reopens = 0
                    }
                }
            }
        }

        mutating func open(at now: Duration) {
            var duration = openDuration
            for _ in 0..<reopens { duration = min(duration * 2, maxOpenDuration) }
            state = .open(until: now + duration)
        }
    }

    @Test(arguments: [42, 7, 2_718] as [UInt64])
    func thirtyPercentRandomFailuresGiveTheRateAndTheTransitionsTheRulesImply(seed: UInt64) async {
        let configuration = CircuitBreakerConfiguration(
            openDuration: .seconds(1),
            failureRateThreshold: nil,
            openBackoff: .init(multiplier: 2, maxOpenDuration: .seconds(8))
        )
        let harness = Harness(configuration)
        var model = Model(openDuration: .seconds(1), maxOpenDuration: .seconds(8))
        var random = SplitMix64(seed: seed)
        var elapsed = Duration.zero
        for _ in 0..<20_000 {
            let fails = random.nextUnit() < 0.3
            model.call(at: elapsed, fails: fails)
            _ = try? await harness.breaker.execute { if fails { throw BackendDown() } }
            harness.clock.advance(by: .milliseconds(10))
            elapsed += .milliseconds(10)
        }
        #expect(harness.transitions == model.steps)
        #expect(model.steps.count > 50)  // the scenario does exercise every edge many times
        let metrics = harness.breaker.metrics
        #expect(metrics.counts.permitted == model.executed)
        #expect(metrics.counts.failures == model.failed)
        #expect(metrics.counts.rejected == model.rejected)
        #expect(metrics.counts.throttled == model.throttled)
        #expect(metrics.counts.stateChanges == model.steps.count)
        let measuredRate = Double(metrics.counts.failures) / Double(metrics.counts.permitted)
        #expect(abs(measuredRate - 0.3) < 0.03, "measured failure rate \(measuredRate)")
    }

    @Test func thirtyPercentFailuresDoNotTripTheDefaultFailureRateThreshold() async {
        // Consecutive-failure trips off: only the rate (50 % over ≥ 100 calls) could open.
        let harness = Harness(.init(failureThreshold: 1_000))
        var random = SplitMix64(seed: 1)
        for _ in 0..<20_000 {
            let fails = random.nextUnit() < 0.3
            _ = try? await harness.breaker.execute { if fails { throw BackendDown() } }
            harness.clock.advance(by: .milliseconds(10))
        }
        let metrics = harness.breaker.metrics
        #expect(metrics.state == .closed)
        #expect(abs(metrics.failureRate - 0.3) < 0.02, "window failure rate \(metrics.failureRate)")
        // 200 s of calls at 100/s, all inside the 300 s window.
        #expect(metrics.callsInWindow == 20_000)
    }
}
