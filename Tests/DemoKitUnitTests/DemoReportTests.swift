import Foundation
import Resilience
import Testing

@testable import DemoKit

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The report formats and the breaker's reaction times, on a scripted run: no Redis needed.
struct DemoReportTests {
    private func event(_ action: String, at seconds: Double, onset: Bool) -> FaultEvent {
        FaultEvent(
            scheduledAt: nil, at: .milliseconds(Int64(seconds * 1000)), action: action, isOnset: onset, detail: action,
            failed: false)
    }

    private func transition(_ from: CircuitBreakerState, _ to: CircuitBreakerState, at seconds: Double)
        -> BreakerTransition
    {
        BreakerTransition(at: .milliseconds(Int64(seconds * 1000)), from: from, to: to, reason: "test")
    }

    private func interval(at seconds: Int, state: CircuitBreakerState, fault: String?) -> DemoInterval {
        DemoInterval(
            at: .seconds(seconds), length: .seconds(1), calls: 1000, hits: 900, misses: 50, degraded: 0,
            escapedErrors: 0, overruns: 0, p50Microseconds: 180, p99Microseconds: 21_000, maxMicroseconds: 40_000,
            worstCacheMicroseconds: 1_500, originCalls: 50, state: state, journal: 0, fault: fault, degradedReads: 0)
    }

    private var scriptedRun: DemoResult {
        var configuration = DemoConfiguration()
        configuration.duration = .seconds(10)
        let faults = [
            event("hang", at: 2, onset: true), event("resume", at: 4, onset: false),
            event("stop", at: 6, onset: true), event("start", at: 8, onset: false),
        ]
        let transitions = [
            transition(.closed, .open, at: 2.1), transition(.open, .halfOpen, at: 4.1),
            transition(.halfOpen, .closed, at: 4.2), transition(.closed, .open, at: 6.05),
            transition(.open, .halfOpen, at: 8.05), transition(.halfOpen, .closed, at: 8.5),
        ]
        let intervals = (1...10).map { second in
            interval(
                at: second, state: transitions.state(at: .seconds(second)),
                fault: (3...4).contains(second) ? "hang" : (7...8).contains(second) ? "stopped" : nil)
        }
        return DemoResult(
            configuration: configuration, redis: "test", elapsed: .seconds(10), interrupted: false,
            intervals: intervals, transitions: transitions, faults: faults,
            totals: DemoTotals(
                calls: 10_000, hits: 9000, misses: 500, fencedReads: 0, hitRate: 0.9, degraded: 500,
                degradedByOperation: [("get", 500)], originCalls: 500, escapedErrors: 0, overruns: 0,
                p50Microseconds: 180, p99Microseconds: 21_000, p999Microseconds: 30_000, maxMicroseconds: 40_000,
                worstCacheMicroseconds: 1_500, journalAtEnd: 0, journalReplays: 2, stateAtEnd: .closed),
            incidents: [])
    }

    @Test func measuresTheTimeToOpenAfterEachFaultAndToCloseAfterEachRecovery() {
        let outcomes = scriptedRun.reactions.map(\.outcome)
        #expect(
            outcomes == [
                .opened(after: .milliseconds(100)), .closed(after: .milliseconds(200)),
                .opened(after: .milliseconds(50)), .closed(after: .milliseconds(500)),
            ])
    }

    @Test func aFaultTheBreakerNeverSawIsReportedAsSuch() {
        var run = scriptedRun
        run.transitions = []
        #expect(run.reactions.map(\.outcome) == [.didNotOpen, .wasClosed, .didNotOpen, .wasClosed])
    }

    @Test func everyJSONIntervalCarriesTheDocumentedFields() throws {
        let line = scriptedRun.intervals[2].json
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        for key in [
            "t", "ops_per_sec", "hits", "misses", "degraded", "escaped_errors", "p50_us", "p99_us", "max_us",
            "origin_calls", "state", "journal", "fault",
        ] {
            #expect(object[key] != nil, "missing \(key) in \(line)")
        }
        #expect(object["state"] as? String == "open")
        #expect(object["fault"] as? String == "hang")
        #expect(object["ops_per_sec"] as? Double == 1000)
    }

    @Test func theSummaryJSONParsesAndListsTheReactions() throws {
        let line = scriptedRun.summaryJSON
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["type"] as? String == "summary")
        #expect(object["passed"] as? Bool == true)
        let faults = try #require(object["faults"] as? [[String: Any]])
        #expect(faults.count == 4)
        #expect(faults.first?["time_to_open_s"] as? Double == 0.1)
    }

    @Test func theSummaryStatesTheVerdictAndEachReaction() {
        let text = scriptedRun.summaryText
        #expect(text.contains("hang       → OPEN after 100ms"))
        #expect(text.contains("start      → CLOSED after 500ms"))
        #expect(text.contains("PASS: no error escaped"))
        var failed = scriptedRun
        failed.totals.escapedErrors = 2
        #expect(failed.summaryText.contains("FAIL: 2 errors escaped"))
    }

    @Test func thePlotShadesEachFaultAndDrawsTheBreakersStates() throws {
        let svg = TimelinePlot(result: scriptedRun).svg
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.hasSuffix("</svg>\n"))
        #expect(svg.contains("Redis hung (SIGSTOP)"))
        #expect(svg.contains("Redis stopped (SIGTERM)"))
        #expect(svg.contains(">OPEN<"))
        #expect(svg.contains(">CLOSED<"))
        #expect(svg.contains("OPEN +100ms"))
        // Well-formed enough for an XML parser.
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
    }

    @Test func faultPeriodsEndWhenRedisIsBackOrTheRunEnds() {
        let periods = TimelinePlot.faultPeriods(
            [event("hang", at: 1, onset: true), event("stop", at: 2, onset: true)], end: .seconds(5))
        #expect(periods.map(\.label) == ["Redis hung (SIGSTOP)", "Redis stopped (SIGTERM)"])
        #expect(periods.map(\.end) == [.seconds(2), .seconds(5)])
    }
}
