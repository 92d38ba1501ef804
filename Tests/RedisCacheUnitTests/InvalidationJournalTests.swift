@testable import RedisCache
import Testing

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
}
