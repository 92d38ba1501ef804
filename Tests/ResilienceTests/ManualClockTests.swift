import ResilienceTestKit
import Synchronization
import Testing

struct ManualClockTests {
    @Test func timeMovesOnlyWhenAdvanced() {
        let clock = ManualClock()
        let start = clock.now
        #expect(clock.now == start)
        clock.advance(by: .seconds(3))
        #expect(start.duration(to: clock.now) == .seconds(3))
        clock.advance(to: start.advanced(by: .seconds(10)))
        #expect(clock.now == start.advanced(by: .seconds(10)))
        clock.advance(to: start)  // never backwards
        #expect(clock.now == start.advanced(by: .seconds(10)))
    }

    @Test func sleepResumesWhenTheDeadlineIsReachedNotBefore() async throws {
        let clock = ManualClock()
        let deadline = clock.now.advanced(by: .seconds(5))
        let sleeper = Task { try await clock.sleep(until: deadline) }
        await clock.waitForSleepers(count: 1)
        #expect(clock.nextDeadline == deadline)
        clock.advance(by: .seconds(5) - .nanoseconds(1))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .nanoseconds(1))
        try await sleeper.value
        #expect(clock.sleeperCount == 0)
    }

    @Test func aDeadlineInThePastReturnsAtOnce() async throws {
        let clock = ManualClock()
        try await clock.sleep(until: clock.now)
        try await clock.sleep(for: .zero)
    }

    @Test func cancellationEndsASleepWithCancellationError() async {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(until: clock.now.advanced(by: .seconds(1))) }
        await clock.waitForSleepers(count: 1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test func sleepersWakeInDeadlineOrder() async throws {
        let clock = ManualClock()
        let order = EventOrder()
        let late = Task {
            try await clock.sleep(until: clock.now.advanced(by: .seconds(2)))
            order.append(2)
        }
        await clock.waitForSleepers(count: 1)
        let early = Task {
            try await clock.sleep(until: clock.now.advanced(by: .seconds(1)))
            order.append(1)
        }
        await clock.waitForSleepers(count: 2)
        clock.advance(by: .seconds(1))
        try await early.value
        clock.advance(by: .seconds(1))
        try await late.value
        #expect(order.values == [1, 2])
    }
}

final class EventOrder: Sendable {
    private let storage = Mutex<[Int]>([])
    func append(_ value: Int) { storage.withLock { $0.append(value) } }
    var values: [Int] { storage.withLock { $0 } }
}
