import Testing

@testable import Resilience

/// The pure state machine, driven synchronously with plain durations: no lock, no clock.
struct CircuitBreakerStateMachineTests {
    typealias Machine = CircuitBreakerStateMachine

    func admit(_ machine: inout Machine, at now: Duration) -> Machine.Ticket? {
        if case .admitted(let ticket) = machine.acquire(now: now) { return ticket }
        return nil
    }

    @Test func eventsInTransitionsOut() throws {
        var machine = Machine(configuration: .init(failureThreshold: 2, successThreshold: 1), now: .zero)
        for second in 1...2 {
            let ticket = try #require(admit(&machine, at: .seconds(second)))
            machine.record(.failure(.failure, error: nil), for: ticket, now: .seconds(second))
        }
        #expect(machine.state == .open)
        #expect(machine.acquire(now: .seconds(3)) == .rejected(.open, retryAfter: .seconds(59)))
        let probe = try #require(admit(&machine, at: .seconds(62)))
        machine.record(.success(duration: nil), for: probe, now: .seconds(63))
        let transitions = machine.takeTransitions()
        #expect(transitions.map(\.to) == [.open, .halfOpen, .closed])
        #expect(transitions.map(\.at) == [.seconds(2), .seconds(62), .seconds(63)])
        #expect(transitions.map(\.generation) == [1, 2, 3])
        #expect(machine.takeTransitions().isEmpty)
    }

    @Test func theGateWordSaysWhatCallsMayDecideWithoutTheLock() throws {
        var machine = Machine(configuration: .init(failureThreshold: 1), now: .zero)
        #expect(CircuitBreakerGate.kind(machine.gateWord) == CircuitBreakerGate.admitKind)
        let ticket = try #require(admit(&machine, at: .zero))
        machine.record(.failure(.failure, error: nil), for: ticket, now: .zero)
        // OPEN without a timer driver: every call needs the clock.
        #expect(CircuitBreakerGate.kind(machine.gateWord) == CircuitBreakerGate.lockedKind)
        machine.setTimerDriven(true)
        #expect(CircuitBreakerGate.kind(machine.gateWord) == CircuitBreakerGate.rejectKind)
        #expect(CircuitBreakerGate.generation(machine.gateWord) == 1)
    }

    @Test func successesCountedInTheGateAreAbsorbedOnlyIntoTheirOwnPeriod() {
        var machine = Machine(configuration: .init(), now: .zero)
        let word = machine.gateWord
        machine.absorb(gateWord: word &+ 3 * CircuitBreakerGate.countOne)
        #expect(machine.counters.successes == 3)
        #expect(machine.counters.permitted == 3)
        machine.reset(now: .zero)  // a new generation
        machine.absorb(gateWord: word &+ 2 * CircuitBreakerGate.countOne)
        #expect(machine.counters.successes == 3)
        #expect(machine.counters.lateOutcomes == 2)
        #expect(machine.counters.permitted == 5)
    }

    @Test func theTimerDriverLearnsTheNextDeadline() throws {
        var machine = Machine(
            configuration: .init(failureThreshold: 1, probeReclaimAfter: .seconds(5)),
            now: .zero
        )
        #expect(machine.tick(now: .zero).nextDeadline == nil)
        let ticket = try #require(admit(&machine, at: .seconds(1)))
        machine.record(.failure(.failure, error: nil), for: ticket, now: .seconds(1))
        #expect(machine.tick(now: .seconds(1)).nextDeadline == .seconds(61))
        #expect(machine.tick(now: .seconds(61)).nextDeadline == nil)  // HALF_OPEN, nothing in flight
        _ = try #require(admit(&machine, at: .seconds(62)))
        #expect(machine.tick(now: .seconds(62)).nextDeadline == .seconds(67))  // the probe's reclaim
    }
}
