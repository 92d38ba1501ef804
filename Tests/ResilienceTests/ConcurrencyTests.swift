import ResilienceTestKit
import Testing

@testable import Resilience

/// Calls on many threads at once: counts add up, whatever the interleaving.
struct ConcurrencyTests {
    @Test func concurrentSuccessesAreAllCounted() async {
        let harness = Harness()
        let breaker = harness.breaker
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<25_000 { try? breaker.acquire().succeeded() }
                }
            }
        }
        let metrics = breaker.metrics
        #expect(metrics.counts.permitted == 100_000)
        #expect(metrics.counts.successes == 100_000)
        #expect(metrics.callsInWindow == 100_000)
        #expect(metrics.consecutiveSuccesses == 100_000)
        #expect(metrics.state == .closed)
    }

    @Test func everyPermitIsAccountedForWhileTheStateChangesUnderneath() async {
        let harness = Harness(.init(failureRateThreshold: nil))
        let breaker = harness.breaker
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    for _ in 0..<30_000 {
                        guard let permit = try? breaker.acquire() else { continue }
                        permit.succeeded()
                    }
                }
            }
            group.addTask {
                for round in 0..<300 {
                    for _ in 0..<5 { (try? breaker.acquire())?.failed(BackendDown()) }
                    await Task.yield()  // let the others meet the OPEN state
                    if round.isMultiple(of: 2) { breaker.reset() } else { breaker.forceClosed() }
                    await Task.yield()
                }
            }
        }
        let metrics = breaker.metrics
        // Each admitted call reported exactly once: as a success, a failure, or late.
        #expect(
            metrics.counts.permitted == metrics.counts.successes + metrics.counts.failures + metrics.counts.lateOutcomes
        )
        // Each attempt was admitted or rejected: 90,000 successes tried, 1,500 failures tried.
        #expect(metrics.counts.permitted + metrics.counts.rejected + metrics.counts.throttled == 90_000 + 1_500)
        #expect(metrics.counts.failures > 0)
        #expect(metrics.counts.stateChanges == harness.recorded.events.count)
    }
}
