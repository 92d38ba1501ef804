import ResilienceTestKit
import Synchronization
import Testing

@testable import Resilience

/// Which calls HALF_OPEN lets through, and that racing callers never exceed the probe cap.
struct HalfOpenAdmissionTests {
    struct Case: Sendable, CustomStringConvertible {
        var gradualRecovery: Bool
        var recoveryFactor: Double
        var maxHalfOpenProbes: Int
        var pattern: String

        var description: String {
            "gradual \(gradualRecovery), factor \(recoveryFactor), cap \(maxHalfOpenProbes)"
        }
    }

    @Test(
        arguments: [
            Case(gradualRecovery: true, recoveryFactor: 0.5, maxHalfOpenProbes: 100, pattern: "A.A.A.A.A.A."),
            Case(gradualRecovery: true, recoveryFactor: 0.25, maxHalfOpenProbes: 100, pattern: "A...A...A..."),
            Case(gradualRecovery: true, recoveryFactor: 1.0, maxHalfOpenProbes: 100, pattern: "AAAAAAAAAAAA"),
            Case(gradualRecovery: true, recoveryFactor: 0.5, maxHalfOpenProbes: 2, pattern: "A.A........."),
            Case(gradualRecovery: false, recoveryFactor: 0.5, maxHalfOpenProbes: 3, pattern: "AAA........."),
        ]
    )
    func halfOpenAdmitsADeterministicShareUpToTheProbeCap(_ testCase: Case) {
        let harness = Harness(
            .init(
                successThreshold: 100,
                gradualRecovery: testCase.gradualRecovery,
                recoveryFactor: testCase.recoveryFactor,
                maxHalfOpenProbes: testCase.maxHalfOpenProbes
            )
        )
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        var permits: [ManualBreaker.Permit] = []
        let pattern = admissionPattern(harness.breaker, calls: 12, keep: &permits)
        #expect(pattern == testCase.pattern)
        let metrics = harness.breaker.metrics
        #expect(metrics.halfOpenProbesInFlight == permits.count)
        #expect(metrics.counts.throttled == 12 - permits.count)
    }

    @Test func aFinishedProbeFreesItsSlotForTheNextCall() throws {
        let harness = Harness(.init(successThreshold: 100, gradualRecovery: false, maxHalfOpenProbes: 1))
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        let first = try harness.breaker.acquire()
        let throttled = #expect(throws: CircuitBreakerError.self) { try harness.breaker.acquire() }
        #expect(throttled?.code == .throttled)
        #expect(throttled?.code.description == "CIRCUIT_BREAKER_THROTTLING")
        #expect(throttled?.retryAfter == nil)
        first.succeeded()
        #expect(throws: Never.self) { try harness.breaker.acquire() }
    }

    @Test func isCallPermittedPeeksWithoutConsumingTheShare() throws {
        let harness = Harness(.init(successThreshold: 100))
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        for _ in 0..<5 { #expect(harness.breaker.isCallPermitted) }
        _ = try harness.breaker.acquire()
        #expect(!harness.breaker.isCallPermitted)
        #expect(!harness.breaker.isCallPermitted)
        #expect(throws: CircuitBreakerError.self) { try harness.breaker.acquire() }
        #expect(harness.breaker.isCallPermitted)
    }

    @Test(arguments: [false, true])
    func aThousandRacingCallersNeverExceedTheProbeCap(gradualRecovery: Bool) async {
        let cap = 5
        let callers = 1_000
        let harness = Harness(
            .init(successThreshold: 10_000, gradualRecovery: gradualRecovery, maxHalfOpenProbes: cap)
        )
        harness.trip()
        harness.clock.advance(by: .seconds(60))
        #expect(harness.breaker.state == .halfOpen)

        let counts = RaceCounts()
        // Admitted callers hold their permit until every caller has tried, so the cap is
        // really contended.
        let gate = Gate(parties: callers)
        let breaker = harness.breaker
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<callers {
                group.addTask {
                    do {
                        let permit = try breaker.acquire()
                        counts.admitted.add(1, ordering: .relaxed)
                        let now = counts.inFlight.add(1, ordering: .sequentiallyConsistent).newValue
                        var seen = counts.maxInFlight.load(ordering: .relaxed)
                        while now > seen {
                            let (exchanged, original) = counts.maxInFlight.compareExchange(
                                expected: seen,
                                desired: now,
                                ordering: .relaxed
                            )
                            if exchanged { break }
                            seen = original
                        }
                        await gate.arriveAndWait()
                        counts.inFlight.subtract(1, ordering: .sequentiallyConsistent)
                        permit.succeeded()
                    } catch {
                        counts.throttled.add(1, ordering: .relaxed)
                        await gate.arriveAndWait()
                    }
                }
            }
        }
        #expect(counts.maxInFlight.load(ordering: .relaxed) == cap)
        #expect(counts.admitted.load(ordering: .relaxed) == cap)
        #expect(counts.throttled.load(ordering: .relaxed) == callers - cap)
        let metrics = harness.breaker.metrics
        #expect(metrics.counts.throttled == callers - cap)
        #expect(metrics.consecutiveSuccesses == cap)
        #expect(metrics.halfOpenProbesInFlight == 0)
    }
}

/// Shared counters of the racing callers.
final class RaceCounts: Sendable {
    let inFlight = Atomic<Int>(0)
    let maxInFlight = Atomic<Int>(0)
    let admitted = Atomic<Int>(0)
    let throttled = Atomic<Int>(0)
}

/// Suspends callers until `parties` of them have arrived.
final class Gate: Sendable {
    private struct State {
        var arrived = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let parties: Int
    private let state = Mutex(State())

    init(parties: Int) {
        self.parties = parties
    }

    func arriveAndWait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let release = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.arrived += 1
                state.waiters.append(continuation)
                guard state.arrived >= parties else { return [] }
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in release { waiter.resume() }
        }
    }
}
