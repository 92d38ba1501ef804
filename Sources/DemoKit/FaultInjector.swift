import RedisTestSupport
import Synchronization

/// A fault as it happened: when it took effect, and what it did.
public struct FaultEvent: Sendable, Hashable {
    /// When the schedule asked for it; `nil` for the end of a `sleep`, which Redis decides.
    public var scheduledAt: Duration?
    /// When it took effect, counted from the start of the run: the signal sent, the restarted server answering,
    /// the `DEBUG SLEEP` sent or over.
    public var at: Duration
    /// `hang`, `resume`, `stop`, `start`, `kill`, `sleep 2s`, or `sleep over`.
    public var action: String
    /// Whether it took Redis away (hang, stop, kill, sleep) rather than bringing it back.
    public var isOnset: Bool
    /// What it did, e.g. `SIGSTOP: Redis hung`, or why it failed.
    public var detail: String
    /// Set when injecting the fault failed (the run goes on).
    public var failed: Bool
}

/// Injects a ``FaultSchedule`` into the redis-server the demo started, on time, and keeps what happened.
///
/// Faults are applied one after the other on their own task, so a slow one (a restart waits until the new
/// server answers) never delays the live report. The fault "in force" is the last onset not yet cleared.
final class FaultInjector: Sendable {
    private let server: RedisServer
    private let epoch: ContinuousClock.Instant
    private let clock = ContinuousClock()

    private struct State {
        var events: [FaultEvent] = []
        var inForce: String?
        var sleeps: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    init(server: RedisServer, epoch: ContinuousClock.Instant) {
        self.server = server
        self.epoch = epoch
    }

    /// What is done to Redis right now, e.g. `hang`, `stopped`, `sleep 2s`; `nil` when nothing is.
    var faultInForce: String? { state.withLock { $0.inForce } }

    /// Every fault applied so far, in order.
    var events: [FaultEvent] { state.withLock { $0.events } }

    /// Applies each entry of `schedule` at its time; returns when done or cancelled.
    func play(_ schedule: FaultSchedule, onEvent: @escaping @Sendable (FaultEvent) -> Void) async {
        for entry in schedule.entries {
            do {
                try await clock.sleep(until: epoch.advanced(by: entry.at), tolerance: .milliseconds(1))
            } catch {
                break
            }
            await apply(entry, onEvent: onEvent)
        }
    }

    /// Stops waiting for the `DEBUG SLEEP`s sent (their redis-cli is killed; Redis finishes the sleep alone).
    func cancelSleeps() {
        for sleep in state.withLock({ $0.sleeps }) { sleep.cancel() }
    }

    /// Waits until every `DEBUG SLEEP` sent has returned.
    func waitForSleeps() async {
        let sleeps = state.withLock { $0.sleeps }
        for sleep in sleeps { await sleep.value }
    }

    /// Applies one fault and reports it. An onset is reported as its signal goes out (a stop then waits for the
    /// process to exit), a recovery once it is complete (a restarted server answering), so the times measured
    /// from them are the breaker's reaction, not the fault's own duration.
    private func apply(_ entry: ScheduledFault, onEvent: @escaping @Sendable (FaultEvent) -> Void) async {
        let fault = entry.fault
        if fault.isOnset {
            publish(
                FaultEvent(
                    scheduledAt: entry.at,
                    at: epoch.duration(to: clock.now),
                    action: fault.description,
                    isOnset: true,
                    detail: fault.explanation,
                    failed: false
                ), inForce: { _ in Self.label(after: fault) }, onEvent: onEvent)
        }
        var failure: String?
        switch fault {
        case .hang:
            server.hang()
        case .resume:
            server.resume()
        case .stop:
            await server.stop()
        case .kill:
            await server.kill()
        case .start:
            do {
                try await server.restart()
            } catch {
                failure = "restart failed: \(error)"
            }
        case .sleep(let length):
            startSleep(length, onEvent: onEvent)
        }
        if !fault.isOnset {
            let event = FaultEvent(
                scheduledAt: entry.at,
                at: epoch.duration(to: clock.now),
                action: fault.description,
                isOnset: false,
                detail: failure ?? fault.explanation,
                failed: failure != nil
            )
            // A failed restart leaves the server down: the fault stays in force.
            publish(event, inForce: { failure == nil ? nil : $0 }, onEvent: onEvent)
        }
    }

    /// Records `event`, sets the fault in force to what `inForce` makes of the current one, and reports it.
    private func publish(
        _ event: FaultEvent,
        inForce: (String?) -> String?,
        onEvent: @Sendable (FaultEvent) -> Void
    ) {
        state.withLock { state in
            state.events.append(event)
            state.inForce = inForce(state.inForce)
        }
        onEvent(event)
    }

    /// Sends `DEBUG SLEEP` from redis-cli on a task of its own: redis-cli returns only when the sleep is over,
    /// and that moment is when Redis answers again.
    private func startSleep(_ length: Duration, onEvent: @escaping @Sendable (FaultEvent) -> Void) {
        let seconds = fixed(length.seconds, digits: 3)
        let task = Task { [server, epoch, clock] in
            var detail = "DEBUG SLEEP \(DurationText.format(length)) over: Redis answers again"
            var failed = false
            do {
                _ = try await server.cliAsync("DEBUG", "SLEEP", seconds, timeout: length + .seconds(10))
            } catch {
                detail = "DEBUG SLEEP failed: \(error)"
                failed = true
            }
            let event = FaultEvent(
                scheduledAt: nil,
                at: epoch.duration(to: clock.now),
                action: "sleep over",
                isOnset: false,
                detail: detail,
                failed: failed
            )
            self.publish(event, inForce: { $0?.hasPrefix("sleep") == true ? nil : $0 }, onEvent: onEvent)
        }
        state.withLock { $0.sleeps.append(task) }
    }

    private static func label(after fault: Fault) -> String? {
        switch fault {
        case .hang: "hang"
        case .stop: "stopped"
        case .kill: "killed"
        case .sleep(let length): "sleep \(DurationText.format(length))"
        case .resume, .start: nil
        }
    }
}
