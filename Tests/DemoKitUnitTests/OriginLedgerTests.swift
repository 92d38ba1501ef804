import Testing

@testable import DemoKit

/// The origin's time is taken out of a call's time before the deadline check: only the overlap with the call.
struct OriginLedgerTests {
    @Test func countsOnlyTheOriginTimeInsideTheCall() {
        let ledger = OriginLedger()
        let start = ContinuousClock.now
        func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }
        ledger.record(key: 7, from: at(0), to: at(20))
        ledger.record(key: 7, from: at(50), to: at(70))
        ledger.record(key: 8, from: at(0), to: at(100))

        #expect(ledger.overlap(key: 7, from: at(10), to: at(60)) == .milliseconds(20))
        #expect(ledger.overlap(key: 7, from: at(20), to: at(50)) == .zero)
        #expect(ledger.overlap(key: 9, from: at(0), to: at(100)) == .zero)
    }

    @Test func keepsTheLastFewRunsPerKey() {
        let ledger = OriginLedger()
        let start = ContinuousClock.now
        for run in 0..<10 {
            ledger.record(key: 1, from: start + .milliseconds(run * 10), to: start + .milliseconds(run * 10 + 5))
        }
        // Runs 6…9 are kept: 4 × 5 ms.
        #expect(ledger.overlap(key: 1, from: start, to: start + .milliseconds(100)) == .milliseconds(20))
    }
}
