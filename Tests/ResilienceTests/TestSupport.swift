import InMemoryLogging
import Logging
import ResilienceTestKit
import Synchronization
import Testing
import _LoadKit

@testable import Resilience

/// The error a fake backend throws.
struct BackendDown: Error, Equatable, CustomStringConvertible {
    var id = 0
    var description: String { "backend down #\(id)" }
}

typealias ManualBreaker = CircuitBreaker
typealias ManualEvent = CircuitBreakerEvent

/// A breaker on a manual clock, with its log and transitions captured.
struct Harness: Sendable {
    let clock: ManualClock
    let breaker: ManualBreaker
    let log: InMemoryLogHandler
    let recorded: EventRecorder

    init(
        _ configuration: CircuitBreakerConfiguration = CircuitBreakerConfiguration(),
        seed: UInt64 = 1,
        clock: ManualClock = ManualClock(offset: .seconds(1000))
    ) {
        let log = InMemoryLogHandler()
        let recorder = EventRecorder()
        self.clock = clock
        self.log = log
        self.recorded = recorder
        self.breaker = CircuitBreaker(
            name: "test",
            configuration: configuration,
            clock: clock,
            logger: Logger(label: "test") { _ in log },
            randomNumberGenerator: SplitMix64(seed: seed),
            onTransition: { recorder.append($0) }
        )
    }

    /// The transitions so far, as `(from, to, reason)`.
    var transitions: [Step] {
        recorded.events.map { Step($0.from, $0.to, $0.reason) }
    }

    /// Time since the harness started.
    var now: ManualClock.Instant { clock.now }

    /// Fails `count` calls (admitted ones only); returns how many were admitted.
    @discardableResult
    func fail(_ count: Int = 1) -> Int {
        var admitted = 0
        for index in 0..<count {
            if let permit = try? breaker.acquire() {
                permit.failed(BackendDown(id: index))
                admitted += 1
            }
        }
        return admitted
    }

    /// Succeeds `count` calls (admitted ones only); returns how many were admitted.
    @discardableResult
    func succeed(_ count: Int = 1) -> Int {
        var admitted = 0
        for _ in 0..<count {
            if let permit = try? breaker.acquire() {
                permit.succeeded()
                admitted += 1
            }
        }
        return admitted
    }

    /// Opens a CLOSED breaker with consecutive failures.
    func trip() {
        let threshold = breaker.configuration.failureThreshold
        #expect(fail(threshold) == threshold)
        #expect(breaker.state == .open)
    }
}

/// One transition, comparable in tests.
struct Step: Equatable, CustomStringConvertible {
    var from: CircuitBreakerState
    var to: CircuitBreakerState
    var reason: CircuitBreakerTransitionReason

    init(_ from: CircuitBreakerState, _ to: CircuitBreakerState, _ reason: CircuitBreakerTransitionReason) {
        self.from = from
        self.to = to
        self.reason = reason
    }

    var description: String { "\(from)->\(to)(\(reason))" }
}

/// Collects events from the `onTransition` handler.
final class EventRecorder: Sendable {
    private let storage = Mutex<[ManualEvent]>([])

    func append(_ event: ManualEvent) {
        storage.withLock { $0.append(event) }
    }

    var events: [ManualEvent] {
        storage.withLock { $0 }
    }
}

/// Classifies an admission attempt: `A` admitted (permit kept), `.` rejected.
func admissionPattern(_ breaker: ManualBreaker, calls: Int, keep permits: inout [ManualBreaker.Permit]) -> String {
    var pattern = ""
    for _ in 0..<calls {
        do {
            permits.append(try breaker.acquire())
            pattern += "A"
        } catch {
            pattern += "."
        }
    }
    return pattern
}

/// Waits (yielding, never sleeping) until `condition` holds; records an issue after `timeout` of wall time.
func eventually(
    _ description: Comment,
    timeout: Duration = .seconds(20),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async {
    let wallClock = ContinuousClock()
    let deadline = wallClock.now.advanced(by: timeout)
    while !condition() {
        if wallClock.now > deadline {
            Issue.record("timed out waiting until \(description)", sourceLocation: sourceLocation)
            return
        }
        await Task.yield()
    }
}
