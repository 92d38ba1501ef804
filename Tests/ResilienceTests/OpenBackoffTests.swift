import ResilienceTestKit
import Testing

@testable import Resilience

/// The open duration grows on consecutive re-opens, is capped, and jitters within bounds.
struct OpenBackoffTests {
    /// Re-opens the breaker from HALF_OPEN `times` times; returns each open duration.
    func reopenDurations(_ harness: Harness, times: Int) -> [Duration] {
        var durations: [Duration] = []
        for _ in 0..<times {
            let openUntil = harness.breaker.metrics.openUntil!
            durations.append(harness.now.duration(to: openUntil))
            harness.clock.advance(to: openUntil)
            #expect(harness.fail(1) == 1)  // the first half-open call is admitted and fails
        }
        return durations
    }

    @Test func theOpenDurationDoublesOnEachReopenUpToTheCap() {
        let harness = Harness(
            .init(openDuration: .seconds(10), openBackoff: .init(multiplier: 2, maxOpenDuration: .seconds(50)))
        )
        harness.trip()
        let durations = reopenDurations(harness, times: 6)
        #expect(durations == [.seconds(10), .seconds(20), .seconds(40), .seconds(50), .seconds(50), .seconds(50)])
        #expect(harness.breaker.metrics.consecutiveReopens == 6)
    }

    @Test func closingStartsTheBackoffOver() {
        let harness = Harness(.init(successThreshold: 1, openDuration: .seconds(10)))
        harness.trip()
        _ = reopenDurations(harness, times: 2)
        harness.clock.advance(by: .seconds(40))
        harness.succeed(1)
        #expect(harness.breaker.state == .closed)
        #expect(harness.breaker.metrics.consecutiveReopens == 0)
        harness.trip()
        #expect(harness.breaker.metrics.openUntil == harness.now.advanced(by: .seconds(10)))
    }

    @Test func jitterStaysWithinItsBoundsAndUnderTheCap() {
        let jitter = 0.2
        let harness = Harness(
            .init(
                openDuration: .seconds(10),
                openBackoff: .init(multiplier: 2, maxOpenDuration: .seconds(100), jitter: jitter)
            ),
            seed: 7
        )
        harness.trip()
        let durations = reopenDurations(harness, times: 200)
        var base = Duration.seconds(10)
        for duration in durations {
            #expect(duration >= base * (1 - jitter))
            #expect(duration <= min(base * (1 + jitter), .seconds(100)))
            base = min(base * 2, .seconds(100))
        }
        // It does spread: at the cap, jitter upwards is cut off, downwards it varies.
        #expect(Set(durations.suffix(100)).count > 30)
    }

    @Test func aSeededGeneratorMakesTheJitterReproducible() {
        func run(seed: UInt64) -> [Duration] {
            let harness = Harness(.init(openBackoff: .init(jitter: 0.5)), seed: seed)
            harness.trip()
            return reopenDurations(harness, times: 10)
        }
        #expect(run(seed: 3) == run(seed: 3))
        #expect(run(seed: 3) != run(seed: 4))
    }
}
