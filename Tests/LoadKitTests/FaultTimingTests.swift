import Synchronization
import Testing
import _LoadKit

struct FaultTimingTests {
    /// A stand-in for a server: records the faults applied and goes down and up the way a breaker would see it.
    final class Target: FaultTarget {
        let applied = Mutex<[RedisFault]>([])
        let down = Atomic<Bool>(false)
        let host = "127.0.0.1"
        let port = 1
        let hasProxy = false
        var description: String { "test target" }

        func apply(_ fault: RedisFault) async throws {
            applied.withLock { $0.append(fault) }
            down.store(fault.isOnset, ordering: .relaxed)
            if case .sleep(let length) = fault {
                try await Task.sleep(for: length)
                down.store(false, ordering: .relaxed)
            }
        }

        func shutdown() async {}

        var isDown: Bool { down.load(ordering: .relaxed) }
    }

    @Test func timesTheReactionAndTheRecoveryAndClearsWithTheClearingFault() async throws {
        let target = Target()
        var phases: [FaultTiming.Phase] = []
        let timing = try await FaultTiming.measure(
            .hang,
            on: target,
            lasting: .milliseconds(50),
            recoveryTimeout: .seconds(1),
            reacted: { target.isDown },
            recovered: { !target.isDown },
            onPhase: { phases.append($0) }
        )
        #expect(target.applied.withLock { $0 } == [.hang, .resume])
        #expect(phases == [.injecting, .clearing, .recovering])
        #expect(timing.cleared - timing.injected >= .milliseconds(50))
        #expect(try #require(timing.toReaction) < .milliseconds(50))
        #expect(try #require(timing.toRecovery) < .milliseconds(50))
    }

    @Test func aFaultThatEndsByItselfLastsItsOwnLengthAndNeedsNoClearing() async throws {
        let target = Target()
        let timing = try await FaultTiming.measure(
            .sleep(.milliseconds(80)),
            on: target,
            lasting: .zero,
            recoveryTimeout: .seconds(1),
            reacted: { target.isDown },
            recovered: { !target.isDown }
        )
        #expect(target.applied.withLock { $0 } == [.sleep(.milliseconds(80))])
        #expect(timing.cleared - timing.injected >= .milliseconds(80))
        #expect(timing.toReaction != nil)
        #expect(timing.toRecovery != nil)
    }

    @Test func aConditionThatNeverHoldsIsReportedAsNil() async throws {
        let timing = try await FaultTiming.measure(
            lasting: .milliseconds(20),
            recoveryTimeout: .milliseconds(20),
            inject: {},
            clear: {},
            reacted: { false },
            recovered: { false }
        )
        #expect(timing.toReaction == nil)
        #expect(timing.toRecovery == nil)
    }

    @Test func aFailedInjectionEndsTheMeasurementAtOnce() async throws {
        struct Refused: Error {}
        let clock = ContinuousClock()
        let started = clock.now
        await #expect(throws: Refused.self) {
            try await FaultTiming.measure(
                lasting: .seconds(30),
                recoveryTimeout: .seconds(1),
                inject: { throw Refused() },
                clear: {},
                reacted: { false },
                recovered: { true }
            )
        }
        #expect(clock.now - started < .seconds(5))
    }
}
