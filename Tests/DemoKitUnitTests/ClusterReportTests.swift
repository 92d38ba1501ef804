import Foundation
import Resilience
import Testing

@testable import DemoKit

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The reports of a cluster run on a scripted run: each shard's state on the live line and in the JSON, the
/// per-shard reactions and hit rates in the summary, a lane per shard in the plot. No Redis needed.
struct ClusterReportTests {
    private func seconds(_ value: Double) -> Duration { .milliseconds(Int64(value * 1000)) }

    /// Shard 1's primary killed at 2 s: its breaker opens at 2.1 s, closes at 4.6 s when its replica has taken
    /// over; the node is restarted at 6 s. Shards 0 and 2 keep hitting meanwhile.
    private var scriptedRun: DemoResult {
        var configuration = DemoConfiguration()
        configuration.duration = .seconds(10)
        configuration.cluster = true
        let faults = [
            FaultEvent(
                scheduledAt: .seconds(2), at: seconds(2), action: "kill-shard 1", isOnset: true,
                detail: "SIGKILL: shard 1's primary killed", failed: false, shard: 1),
            FaultEvent(
                scheduledAt: .seconds(6), at: seconds(6.5), action: "start-shard 1", isOnset: false,
                detail: "restarted", failed: false, shard: 1),
        ]
        let transitions = [
            BreakerTransition(at: seconds(2.1), from: .closed, to: .open, reason: "", shard: "1"),
            BreakerTransition(at: seconds(4.5), from: .open, to: .halfOpen, reason: "", shard: "1"),
            BreakerTransition(at: seconds(4.6), from: .halfOpen, to: .closed, reason: "", shard: "1"),
        ]
        let intervals = (1...10).map { second -> DemoInterval in
            let down = (3...5).contains(second)
            let shards = (0..<3).map { shard -> ShardInterval in
                let outage = shard == 1 && down
                return ShardInterval(
                    shard: String(shard),
                    state: shard == 1 ? transitions.state(at: .seconds(second)) : .closed,
                    journal: outage ? 12 : 0,
                    reads: outage
                        ? ShardReads(reads: 100, hits: 0, degraded: 100)
                        : ShardReads(reads: 300, hits: second == 1 ? 150 : 290, degraded: 0))
            }
            return DemoInterval(
                at: .seconds(second), length: .seconds(1), calls: 1000, hits: 900, misses: 50, degraded: 0,
                escapedErrors: 0, overruns: 0, p50Microseconds: 180, p99Microseconds: 21_000,
                maxMicroseconds: 40_000, worstCacheMicroseconds: 1_500, originCalls: 50,
                state: shards.map(\.state).max { $0.gaugeValue < $1.gaugeValue }!, journal: down ? 12 : 0,
                fault: (3...6).contains(second) ? "shard 1 killed" : nil, degradedReads: 0, shards: shards)
        }
        return DemoResult(
            configuration: configuration, redis: "test", elapsed: .seconds(10), interrupted: false,
            intervals: intervals, transitions: transitions, faults: faults,
            totals: DemoTotals(
                calls: 10_000, hits: 9000, misses: 500, fencedReads: 0, hitRate: 0.9, degraded: 300,
                degradedByOperation: [("get", 300)], originCalls: 500, escapedErrors: 0, overruns: 0,
                p50Microseconds: 180, p99Microseconds: 21_000, p999Microseconds: 30_000, maxMicroseconds: 40_000,
                worstCacheMicroseconds: 1_500, journalAtEnd: 0, journalReplays: 1, stateAtEnd: .closed,
                shardReads: [
                    ShardReads(reads: 3000, hits: 2760), ShardReads(reads: 2400, hits: 1880, degraded: 300),
                    ShardReads(reads: 3000, hits: 2760),
                ]),
            incidents: [])
    }

    @Test func theLiveLineShowsEachShardsStateAndItsJournalWhenNotEmpty() {
        let during = ConsoleReport.segments(scriptedRun.intervals[2]).map(\.text).joined()
        #expect(during.contains("shards 0:closed 1:open(12) 2:closed"), "\(during)")
        let after = ConsoleReport.segments(scriptedRun.intervals[9]).map(\.text).joined()
        #expect(after.contains("shards 0:closed 1:closed 2:closed"), "\(after)")
        let compact = ConsoleReport.compactSegments(scriptedRun.intervals[2]).map(\.text).joined()
        #expect(compact.contains(" 0:closed 1:open(12) 2:closed"), "\(compact)")
    }

    @Test func everyJSONIntervalListsTheShards() throws {
        let line = scriptedRun.intervals[2].json
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let shards = try #require(object["shards"] as? [[String: Any]], "no shards in \(line)")
        #expect(shards.map { $0["shard"] as? String } == ["0", "1", "2"])
        #expect(shards.map { $0["state"] as? String } == ["closed", "open", "closed"])
        #expect(shards[1]["journal"] as? Int == 12)
        #expect(shards[1]["degraded_reads"] as? Int == 100)
        #expect(shards[0]["hit_rate"] as? Double == 0.9667)
    }

    @Test func aShardFaultIsMeasuredOnItsShardsBreaker() throws {
        let run = scriptedRun
        #expect(run.reactions.map(\.outcome) == [.opened(after: .milliseconds(100)), .wasClosed])
        #expect(run.shardOutages.count == 1)
        let outage = try #require(run.shardOutages.first as ShardOutage?)
        #expect(outage.shard == 1)
        #expect(outage.openedAfter == .milliseconds(100))
        #expect(outage.closedAfter == .milliseconds(2600))
        #expect(outage.closedBeforeClearing == true)
        #expect(outage.degradedReads == 300)
        // Before: the seconds 0–2 (one of them cold); during: 2–4.6 s, the healthy shards only.
        #expect(outage.healthyBefore == ShardReads(reads: 1200, hits: 880))
        #expect(outage.healthyDuring == ShardReads(reads: 1800, hits: 1740))
        #expect(run.shardReadsAfterRecovery.map(\.shard) == ["0", "1", "2"])
        #expect(run.shardReadsAfterRecovery.allSatisfy { $0.reads.hits > 0 })
        #expect(run.breakerTransitions.map(\.to) == [.open, .halfOpen, .closed])
    }

    @Test func theSummaryReportsEachShardAndEachShardFault() throws {
        let text = scriptedRun.summaryText
        #expect(text.contains("breakers        3 shards, CLOSED at the end"), "\(text)")
        #expect(text.contains("kill-shard 1  → OPEN after 100ms"), "\(text)")
        #expect(text.contains("shard 1     CLOSED at the end, 2,400 reads, hit rate 78.3%, 300 degraded"), "\(text)")
        #expect(
            text.contains(
                "kill-shard 1   shard 1 OPEN after 100ms, CLOSED again 2.6s after the fault (a replica took over)"),
            "\(text)")
        #expect(
            text.contains(
                "300 of its reads degraded to misses; the other shards' hit rate 73.3% before, 96.7% meanwhile"))
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(scriptedRun.summaryJSON.utf8)) as? [String: Any])
        let outages = try #require(object["shard_outages"] as? [[String: Any]])
        #expect(outages.first?["shard"] as? Int == 1)
        #expect(outages.first?["time_to_open_s"] as? Double == 0.1)
        #expect(outages.first?["time_to_closed_s"] as? Double == 2.6)
        #expect(outages.first?["degraded_reads"] as? Int == 300)
        let shards = try #require(object["shards"] as? [[String: Any]])
        #expect(shards.count == 3)
        #expect(shards.allSatisfy { ($0["hit_rate_after_recovery"] as? Double ?? 0) > 0.9 })
    }

    @Test func thePlotHasALanePerShard() throws {
        let svg = TimelinePlot(result: scriptedRun).svg
        for lane in ["shard 0", "shard 1", "shard 2"] {
            #expect(svg.contains(">\(lane)</text>"), "no lane \(lane)")
        }
        #expect(!svg.contains(">breaker</text>"))
        #expect(svg.contains("shard 1 primary killed (SIGKILL)"))
        #expect(svg.contains("shard 1 OPEN +100ms, CLOSED +2.6s"))
        #expect(svg.contains("height=\"742\""), "three lanes of 20 px and two gaps: 42 px taller than one strip")
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
    }

    @Test func theWholeCircuitShowsTheWorstShard() {
        let transitions = [
            BreakerTransition(at: .seconds(1), from: .closed, to: .open, reason: "", shard: "0"),
            BreakerTransition(at: .seconds(2), from: .closed, to: .open, reason: "", shard: "2"),
            BreakerTransition(at: .seconds(3), from: .open, to: .closed, reason: "", shard: "0"),
            BreakerTransition(at: .seconds(4), from: .open, to: .halfOpen, reason: "", shard: "2"),
            BreakerTransition(at: .seconds(5), from: .halfOpen, to: .closed, reason: "", shard: "2"),
        ]
        let worst = transitions.worstState()
        #expect(worst.map(\.at) == [.seconds(1), .seconds(4), .seconds(5)])
        #expect(worst.map(\.to) == [.open, .halfOpen, .closed])
    }

    @Test func theShardMapFindsTheShardOfAKeyBySlot() {
        // CLUSTER KEYSLOT foo = 12182, bar = 5061.
        let map = ShardMap(slots: [(0, [0...5460]), (1, [5461...10922]), (2, [10923...16383])])
        #expect(map.shard(forKey: "foo") == 2)
        #expect(map.shard(forKey: "bar") == 0)
        #expect(map.shard(forKey: "{foo}bar") == 2)
        let partial = ShardMap(slots: [(0, [0...100])])
        #expect(partial.shard(forKey: "foo") == nil)
        #expect(map.shardIDs == [0, 1, 2])
    }
}
