import Testing

@testable import Resilience

struct RollingWindowTests {
    @Test func recordsIntoTheCurrentBucketAndKeepsTotals() {
        var window = RollingWindow(duration: .seconds(10), bucketCount: 10)
        window.record(failure: false, slow: false, at: .milliseconds(100))
        window.record(failure: true, slow: false, at: .milliseconds(1_500))
        window.record(failure: true, slow: true, at: .milliseconds(2_500))
        #expect(window.totals == .init(calls: 3, failures: 2, slowCalls: 1))
    }

    @Test func subtractsEachBucketThatFallsOut() {
        var window = RollingWindow(duration: .seconds(10), bucketCount: 10)
        for second in 0..<10 {
            window.record(failure: second.isMultiple(of: 2), slow: false, at: .seconds(second))
        }
        #expect(window.totals == .init(calls: 10, failures: 5, slowCalls: 0))
        window.advance(to: .seconds(10))  // bucket 0 (a failure) falls out
        #expect(window.totals == .init(calls: 9, failures: 4, slowCalls: 0))
        window.advance(to: .seconds(13))  // buckets 1, 2, 3 fall out
        #expect(window.totals == .init(calls: 6, failures: 3, slowCalls: 0))
        window.advance(to: .seconds(100))
        #expect(window.totals == .init())
    }

    @Test func goingBackInTimeChangesNothing() {
        var window = RollingWindow(duration: .seconds(10), bucketCount: 10)
        window.record(failure: true, slow: false, at: .seconds(5))
        window.advance(to: .seconds(3))
        window.record(failure: false, slow: false, at: .seconds(4))
        #expect(window.totals == .init(calls: 2, failures: 1, slowCalls: 0))
    }

    @Test func spreadsBatchedSuccessesOverTheIntervalTheyHappenedIn() {
        var window = RollingWindow(duration: .seconds(10), bucketCount: 10)
        // 100 successes between 0 s and 20 s. At 20 s the window is buckets 11...20, which
        // share 9 s of the 20 s: 45 calls, 5 per bucket.
        window.addSuccesses(100, from: .zero, to: .seconds(20))
        #expect(window.totals.calls == 45)
        // Within the current bucket everything lands there.
        window.addSuccesses(7, from: .seconds(20), to: .milliseconds(20_500))
        #expect(window.totals.calls == 52)
        window.advance(to: .seconds(25))  // buckets 11...15 fall out: 5 buckets of 5 calls
        #expect(window.totals.calls == 27)
    }
}
