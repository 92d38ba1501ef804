import Synchronization

/// The timer driver's bookkeeping.
struct RunnerState: Sendable {
    var active = false
    var shutdown = false
}

extension CircuitBreaker {
    /// Drives the breaker's timers until the task is cancelled or ``shutdown()`` is called.
    ///
    /// Sleeps on the injected clock until the next deadline and then, on time: moves OPEN to
    /// HALF_OPEN (publishing the event even when no call arrives), runs the
    /// ``CircuitBreakerConfiguration/activeProbe`` (then every
    /// ``CircuitBreakerConfiguration/activeProbeInterval`` while HALF_OPEN), reclaims half-open
    /// probes that never reported, and ends forced states at their expiry. While it runs, an
    /// OPEN rejection reads no clock at all.
    ///
    /// Without `run()` the breaker still works: the same transitions happen lazily when the
    /// next call, ``state`` or ``metrics`` finds the time is up; only the active probe needs it.
    /// A second concurrent `run()` returns at once.
    ///
    /// ```swift
    /// try await withThrowingDiscardingTaskGroup { group in
    ///     group.addTask { await breaker.run() }
    ///     // ... serve; cancelling the group stops the breaker's timers
    /// }
    /// ```
    public func run() async {
        let started = runner.withLock { runner -> Bool in
            guard !runner.active, !runner.shutdown else { return false }
            runner.active = true
            return true
        }
        guard started else { return }
        withMachine { $0.setTimerDriven(true) }
        await withTaskCancellationHandler {
            await driveTimers()
        } onCancel: {
            self.wakeRunner()
        }
        withMachine { $0.setTimerDriven(false) }
        runner.withLock { $0.active = false }
    }

    /// Stops ``run()`` and finishes every event stream.
    ///
    /// The breaker keeps admitting and counting calls afterwards (its timers then act lazily);
    /// new event streams finish at once.
    ///
    /// ```swift
    /// breaker.shutdown()
    /// ```
    public func shutdown() {
        runner.withLock { $0.shutdown = true }
        wakeRunner()
        broadcaster.finish()
    }

    private var isShutdown: Bool {
        runner.withLock { $0.shutdown }
    }

    private func driveTimers() async {
        while !Task.isCancelled && !isShutdown {
            let now = elapsed()
            let action = withMachine { $0.tick(now: now) }
            if let ticket = action.activeProbe, let probe = configuration.activeProbe {
                let outcome = await runActiveProbe(probe, deadline: now + configuration.activeProbeTimeout)
                let end = elapsed()
                withMachine { machine in
                    switch outcome {
                    case .ignored: machine.recordIgnored(for: ticket)
                    default: machine.record(outcome, for: ticket, now: end)
                    }
                }
                continue
            }
            await waitForWake(until: action.nextDeadline)
        }
    }

    /// Suspends until `deadline` on the clock, or until ``wakeRunner()`` (a state change, a
    /// cancellation, a shutdown). Nothing it starts outlives it.
    private func waitForWake(until deadline: Duration?) async {
        await wake.wait(until: deadline.map { epoch.advanced(by: $0) }, time: clock)
    }

    /// Wakes ``run()`` so it looks at the state again.
    func wakeRunner() {
        wake.signal()
    }

    /// Runs the owner's probe against its timeout; returns how it ended.
    ///
    /// The probe runs in its own task so that a probe that ignores cancellation cannot hold
    /// up the timers: at the timeout it is cancelled and abandoned.
    private func runActiveProbe(
        _ probe: @escaping @Sendable () async throws -> Void,
        deadline: Duration
    ) async -> CircuitBreakerStateMachine.Outcome {
        let race = ProbeRace()
        let classifier = configuration.classifier
        let probeTask = Task {
            do {
                try await probe()
                race.finish(.success(duration: nil))
            } catch {
                switch classifier(error) {
                case .ignored: race.finish(.ignored)
                case .success: race.finish(.success(duration: nil))
                default: race.finish(.failure(.activeProbeFailed, error: error))
                }
            }
        }
        let instant = epoch.advanced(by: deadline)
        let timerTask = Task { [clock] in
            do {
                try await clock.sleep(until: instant)
                race.finish(.failure(.activeProbeTimedOut, error: nil))
            } catch {}
        }
        let outcome = await withTaskCancellationHandler {
            await race.wait()
        } onCancel: {
            race.finish(.ignored)
        }
        probeTask.cancel()
        timerTask.cancel()
        return outcome
    }
}

/// The first of several parties to finish decides the outcome.
final class ProbeRace: Sendable {
    private struct State {
        var outcome: CircuitBreakerStateMachine.Outcome?
        var waiter: CheckedContinuation<CircuitBreakerStateMachine.Outcome, Never>?
    }

    private let state = Mutex(State())

    func finish(_ outcome: CircuitBreakerStateMachine.Outcome) {
        let waiter = state.withLock { state -> CheckedContinuation<CircuitBreakerStateMachine.Outcome, Never>? in
            guard state.outcome == nil else { return nil }
            state.outcome = outcome
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: outcome)
    }

    func wait() async -> CircuitBreakerStateMachine.Outcome {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> CircuitBreakerStateMachine.Outcome? in
                if let outcome = state.outcome { return outcome }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
