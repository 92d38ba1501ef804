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
