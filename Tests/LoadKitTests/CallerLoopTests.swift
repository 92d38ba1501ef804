import Synchronization
import Testing
import _LoadKit

struct CallerLoopTests {
    @Test func eachCallerKeepsItsOwnStateAndStopsAtItsBudget() async {
        let loop = CallerLoop(callers: 4)
        let states = await loop.run(callsPerCaller: 25, state: { Counted(caller: $0) }) { state in
            state.calls += 1
        }
        #expect(states.map(\.caller) == [0, 1, 2, 3])
        #expect(states.allSatisfy { $0.calls == 25 })
        #expect(loop.callsStarted == 100 && loop.callsFinished == 100)
    }

    @Test func stopLetsEveryCallerFinishTheCallItIsIn() async {
        let loop = CallerLoop(callers: 3)
        let inFlight = Counter()
        let running = Task {
            await loop.run(state: { Counted(caller: $0) }) { state in
                inFlight.value.add(1, ordering: .relaxed)
                try? await Task.sleep(for: .milliseconds(5))
                inFlight.value.subtract(1, ordering: .relaxed)
                state.calls += 1
            }
        }
        while loop.callsStarted < 10 { await Task.yield() }
        loop.stop()
        let states = await running.value
        #expect(loop.isStopping)
        #expect(inFlight.value.load(ordering: .relaxed) == 0)
        #expect(states.reduce(0) { $0 + $1.calls } == loop.callsFinished)
        #expect(loop.callsStarted == loop.callsFinished)
    }

    @Test func aDurationStopsTheRun() async {
        let loop = CallerLoop(callers: 2)
        let clock = ContinuousClock()
        let started = clock.now
        _ = await loop.run(for: .milliseconds(100), state: { Counted(caller: $0) }) { _ in
            try? await Task.sleep(for: .milliseconds(1))
        }
        #expect(clock.now - started >= .milliseconds(100))
        #expect(clock.now - started < .seconds(5))
        #expect(loop.callsFinished > 0)
    }

    struct Counted: Sendable {
        let caller: Int
        var calls = 0
    }

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }
}

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
