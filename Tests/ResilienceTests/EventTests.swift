import InMemoryLogging
import Logging
import ResilienceTestKit
import Synchronization
import Testing

@testable import Resilience

/// Transitions reach the handler, every stream and the log, once each and in order.
struct EventTests {
    /// Drives closed → open → half-open → open → half-open → closed → forced open → closed.
    func script(_ harness: Harness) {
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        harness.fail(1)
        harness.clock.advance(by: .seconds(120))
        harness.succeed(5)
        harness.breaker.forceOpen(reason: "maintenance")
        harness.breaker.reset()
    }

    static let expected = [
        Step(.closed, .open, .consecutiveFailures),
        Step(.open, .halfOpen, .openDurationElapsed),
        Step(.halfOpen, .open, .probeFailed),
        Step(.open, .halfOpen, .openDurationElapsed),
        Step(.halfOpen, .closed, .successThresholdReached),
        Step(.closed, .open, .forcedOpen),
        Step(.open, .closed, .reset),
    ]

    @Test func eventsReachTheHandlerAndEveryStreamInOrder() async {
        let harness = Harness()
        let first = harness.breaker.makeEventStream()
        let second = harness.breaker.makeEventStream()
        script(harness)
        harness.breaker.shutdown()  // finishes the streams

        #expect(harness.transitions == Self.expected)
        #expect(harness.recorded.events.map(\.generation) == Array(1...7))
        var fromFirst: [ManualEvent] = []
        for await event in first { fromFirst.append(event) }
        var fromSecond: [ManualEvent] = []
        for await event in second { fromSecond.append(event) }
        #expect(fromFirst == harness.recorded.events)
        #expect(fromSecond == harness.recorded.events)
    }

    @Test func aStreamMadeAfterShutdownIsFinished() async {
        let harness = Harness()
        harness.breaker.shutdown()
        var count = 0
        for await _ in harness.breaker.makeEventStream() { count += 1 }
        harness.trip()
        #expect(count == 0)
    }

    @Test func eachTransitionIsLoggedOnceAndFailedCallsAreNot() {
        let harness = Harness()
        script(harness)
        harness.breaker.forceClosed()
        harness.fail(200)
        let entries = harness.log.entries
        #expect(entries.count == Self.expected.count + 1)
        #expect(entries.allSatisfy { $0.message == "circuit breaker state changed" })
        #expect(entries.map(\.level) == [.warning, .notice, .warning, .notice, .notice, .warning, .notice, .notice])
        #expect(entries.first?.metadata["from"] == "CLOSED")
        #expect(entries.first?.metadata["to"] == "OPEN")
        #expect(entries.first?.metadata["reason"] == "consecutive_failures")
        #expect(entries.first?.metadata["circuit_breaker"] == "test")
    }

    @Test func aHandlerMayCallBackIntoTheBreaker() {
        let clock = ManualClock()
        let recorder = EventRecorder()
        let box = BreakerBox()
        let breaker = CircuitBreaker(
            configuration: .init(),
            clock: clock,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
            onTransition: { event in
                recorder.append(event)
                // Re-entrant: force open as soon as it trips; must not deadlock or reorder.
                if event.reason == .consecutiveFailures { box.breaker.withLock { $0 }?.forceOpen(reason: "escalated") }
            }
        )
        box.breaker.withLock { $0 = breaker }
        for _ in 0..<5 { (try? breaker.acquire())?.failed(BackendDown()) }
        #expect(recorder.events.map(\.reason) == [.consecutiveFailures, .forcedOpen])
        #expect(recorder.events.map(\.generation) == [1, 2])
        #expect(breaker.metrics.isForced)
    }
}

/// Lets a handler reach the breaker it is installed on.
final class BreakerBox: Sendable {
    let breaker = Mutex<ManualBreaker?>(nil)
}
