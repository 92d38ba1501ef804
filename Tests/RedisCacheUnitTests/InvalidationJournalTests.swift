import Testing

@testable import RedisCache

struct InvalidationJournalTests {
    typealias Journal = InvalidationJournal<ContinuousClock.Instant>
    let t0 = ContinuousClock().now

    @Test func aJournaledKeyIsFencedUntilItsReplayIsAcknowledged() {
        var journal = Journal(capacity: 10, policy: .flushNamespace)
        #expect(!journal.fences("k"))
        let overflowed = journal.record(key: "k", at: t0)
        #expect(!overflowed)
        #expect(journal.fences("k"))
        #expect(!journal.fences("other"))
        let replay = journal.replay(now: t0 + .seconds(1))
        #expect(replay.keys == ["k"])
        journal.acknowledge(replay)
        #expect(!journal.fences("k"))
        #expect(journal.isEmpty)
    }

    @Test func aKeyRecordedAgainDuringAReplayStaysJournaled() {
        var journal = Journal(capacity: 10, policy: .flushNamespace)
        _ = journal.record(key: "k", at: t0)
        let replay = journal.replay(now: t0 + .seconds(1))
        _ = journal.record(key: "k", at: t0 + .seconds(2))
        journal.acknowledge(replay)
        #expect(journal.fences("k"))
    }

    @Test func aLaterSuccessfulWriteClearsAnOlderEntryOnly() {
        var journal = Journal(capacity: 10, policy: .flushNamespace)
        _ = journal.record(key: "k", at: t0 + .seconds(5))
        journal.clear(key: "k", recordedBefore: t0 + .seconds(1))  // the write started before the failure
        #expect(journal.fences("k"))
        journal.clear(key: "k", recordedBefore: t0 + .seconds(6))
        #expect(!journal.fences("k"))
    }

    @Test func patternsFenceEveryMatchingKey() {
        var journal = Journal(capacity: 10, policy: .flushNamespace)
        _ = journal.record(pattern: "ns:user:*", at: t0)
        #expect(journal.fences("ns:user:1"))
        #expect(!journal.fences("ns:order:1"))
        #expect(journal.count == 1)
    }

    @Test func oneEntryPerKey() {
        var journal = Journal(capacity: 10, policy: .flushNamespace)
        for second in 0..<5 { _ = journal.record(key: "k", at: t0 + .seconds(second)) }
        #expect(journal.count == 1)
    }

    @Test func overflowUnderFlushNamespaceFencesEverythingUntilTheFlush() {
        var journal = Journal(capacity: 3, policy: .flushNamespace)
        for index in 0..<3 {
            let overflowed = journal.record(key: "k\(index)", at: t0)
            #expect(!overflowed)
        }
        let overflowedNow = journal.record(key: "k3", at: t0 + .seconds(1))
        #expect(overflowedNow)
        #expect(journal.isOverflowed)
        #expect(journal.fences("never-journaled"))
        #expect(journal.overflows == 1)
        let replay = journal.replay(now: t0 + .seconds(2))
        #expect(replay.flushNamespace)
        journal.acknowledge(replay)
        #expect(!journal.isOverflowed)
        #expect(!journal.fences("never-journaled"))
    }

    @Test func overflowUnderDropOldestForgetsTheOldestEntry() {
        var journal = Journal(capacity: 2, policy: .dropOldest)
        _ = journal.record(key: "old", at: t0)
        _ = journal.record(key: "mid", at: t0 + .seconds(1))
        let overflowed = journal.record(key: "new", at: t0 + .seconds(2))
        #expect(overflowed)
        #expect(!journal.fences("old"))
        #expect(journal.fences("mid") && journal.fences("new"))
        #expect(journal.dropped == 1)
    }

    @Test func entriesOlderThanTheLongestTTLAreDropped() {
        var journal = Journal(capacity: 10, policy: .flushNamespace)
        _ = journal.record(key: "old", at: t0)
        _ = journal.record(key: "young", at: t0 + .seconds(50))
        journal.dropExpired(now: t0 + .seconds(60), longestTTL: .seconds(30))
        #expect(!journal.fences("old"))
        #expect(journal.fences("young"))
    }

    // MARK: - Patterns through the index

    @Test func patternsFenceThroughTheIndexWithEscapesWildcardsAndClasses() {
        var journal = Journal(capacity: 100, policy: .flushNamespace)
        let namespace = GlobPattern.escape("app[1]:")
        for pattern in ["user:*", "order:?", "cart:[0-9]", "*:profile", "a\\*b", "exact"] {
            _ = journal.record(pattern: namespace + pattern, at: t0)
        }
        for fenced in ["user:1", "order:7", "cart:3", "x:profile", "a*b", "exact"] {
            #expect(journal.fences("app[1]:" + fenced), "\(fenced)")
        }
        for open in ["users:1", "order:77", "cart:x", "x:profiles", "axb", "exact2", "exac"] {
            #expect(!journal.fences("app[1]:" + open), "\(open)")
        }
        #expect(!journal.fences("app1:user:1"), "the escaped namespace is literal")
        #expect(journal.patternIndex.count == 6)
    }

    @Test func aPatternReplayedIsNoLongerFencedUnlessRecordedAgain() {
        var journal = Journal(capacity: 10, policy: .flushNamespace)
        _ = journal.record(pattern: "ns:user:*", at: t0)
        _ = journal.record(pattern: "ns:order:*", at: t0)
        let replay = journal.replay(now: t0 + .seconds(1))
        _ = journal.record(pattern: "ns:order:*", at: t0 + .seconds(2))  // failed again during the replay
        journal.acknowledge(replay)
        #expect(!journal.fences("ns:user:1"))
        #expect(journal.fences("ns:order:1"))
        #expect(journal.patternIndex.count == 1)
        journal.dropExpired(now: t0 + .seconds(100), longestTTL: .seconds(10))
        #expect(!journal.fences("ns:order:1"))
        #expect(journal.patternIndex.isEmpty && journal.isEmpty)
    }

    @Test func aFlushAcknowledgedClearsTheIndexOfEverythingItCovered() {
        var journal = Journal(capacity: 2, policy: .flushNamespace)
        _ = journal.record(pattern: "ns:a*", at: t0)
        _ = journal.record(pattern: "ns:b*", at: t0)
        let overflowed = journal.record(pattern: "ns:c*", at: t0)  // over capacity
        #expect(overflowed)
        #expect(journal.patternIndex.isEmpty)
        let replay = journal.replay(now: t0 + .seconds(1))
        journal.acknowledge(replay)
        #expect(journal.isEmpty && !journal.fences("ns:a1"))
    }

    @Test func patternsEveryReadMeetsAreCappedAndTheCapFencesTheNamespace() {
        var journal = Journal(capacity: 100, policy: .flushNamespace, patternsPerReadLimit: 3)
        for index in 0..<3 {
            let overflowed = journal.record(pattern: "ns:*\(index)", at: t0)
            #expect(!overflowed)
        }
        #expect(!journal.fences("ns:x"))
        let overflowed = journal.record(pattern: "ns:*3", at: t0 + .seconds(1))
        #expect(overflowed, "a fourth pattern every read meets overflows")
        #expect(journal.isOverflowed && journal.overflows == 1)
        #expect(journal.fences("ns:x"))
        let replay = journal.replay(now: t0 + .seconds(2))
        #expect(replay.flushNamespace)
        journal.acknowledge(replay)
        #expect(!journal.fences("ns:x") && journal.isEmpty)
    }

    @Test func theCapCountsOnlyPatternsOnTheSamePath() {
        var journal = Journal(capacity: 10_000, policy: .flushNamespace, patternsPerReadLimit: 2)
        for index in 0..<10_000 { _ = journal.record(pattern: "ns:user:\(index):*", at: t0) }
        #expect(!journal.isOverflowed, "10,000 patterns with distinct prefixes: each read tests at most one")
        #expect(journal.patternIndex.patternsPerRead == 1)
        #expect(journal.fences("ns:user:9999:name") && !journal.fences("ns:user:9999"))
    }

    @Test func underDropOldestTheCapForgetsTheOldestPatternTheSameReadsTest() {
        var journal = Journal(capacity: 100, policy: .dropOldest, patternsPerReadLimit: 2)
        _ = journal.record(pattern: "ns:*a", at: t0)
        _ = journal.record(pattern: "ns:u*", at: t0 + .seconds(1))
        _ = journal.record(pattern: "ns:v*", at: t0 + .seconds(2))  // another path: no crowding
        #expect(journal.dropped == 0)
        let overflowed = journal.record(pattern: "ns:*b", at: t0 + .seconds(3))
        #expect(overflowed, "ns:u… and ns:v… reads would test 3")
        #expect(journal.overflows == 1)
        #expect(!journal.isOverflowed, "dropOldest never fences the namespace")
        #expect(!journal.fences("ns:xa"), "the oldest, ns:*a, is forgotten")
        #expect(journal.fences("ns:xb") && journal.fences("ns:u1") && journal.fences("ns:v1"))
        #expect(journal.dropped == 1 && journal.count == 3)
        #expect(journal.patternIndex.patternsPerRead == 2)
    }

    // MARK: - Cost of a fence check

    @Test func tenThousandFenceChecksAgainstTenThousandPatternsTakeLittleTime() {
        var journal = Journal(capacity: 10_000, policy: .flushNamespace)
        for index in 0..<10_000 { _ = journal.record(pattern: "ns:user:\(index):*", at: t0) }
        #expect(journal.count == 10_000 && !journal.isOverflowed)
        let keys = (0..<10_000).map { "ns:user:\($0)" }
        let clock = ContinuousClock()
        var fenced = 0
        let elapsed = clock.measure {
            for key in keys where journal.fences(key) { fenced += 1 }
            for key in keys.prefix(1000) where journal.fences(key + ":name") { fenced += 1 }
        }
        #expect(fenced == 1000)
        #expect(elapsed < .seconds(1), "took \(elapsed)")
    }

    @Test func theWorstCasePatternOnAOneKiBKeyTakesLittleTime() {
        var journal = Journal(capacity: 10, policy: .flushNamespace)
        _ = journal.record(pattern: "ns:" + String(repeating: "*a", count: 30) + "*b", at: t0)
        _ = journal.record(pattern: "ns:" + String(repeating: "*a", count: 30) + "*b*", at: t0)
        let key = "ns:" + String(repeating: "a", count: 1021)
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for _ in 0..<1000 { #expect(!journal.fences(key)) }
        }
        #expect(journal.fences(key + "b"))
        #expect(elapsed < .seconds(1), "took \(elapsed)")
    }
}
