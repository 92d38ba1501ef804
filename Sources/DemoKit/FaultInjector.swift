import Synchronization
import _LoadKit

/// A fault as it happened: when it took effect, and what it did.
package struct FaultEvent: Sendable, Hashable {
    /// When the schedule asked for it; `nil` for the end of a fault that ends by itself (`sleep`, `pause`,
    /// `client-kill`), which Redis or the harness decides.
    package var scheduledAt: Duration?
    /// When it took effect, counted from the start of the run: the signal sent, the restarted server answering,
    /// the `DEBUG SLEEP` sent or over, the proxy switched.
    package var at: Duration
    /// The fault as written (`hang`, `sleep 2s`, `proxy-blackhole`…), or `sleep over`, `pause over`,
    /// `client-kill over`.
    package var action: String
    /// Whether it took Redis away (hang, stop, kill, sleep) rather than bringing it back.
    package var isOnset: Bool
    /// What it did, e.g. `SIGSTOP: Redis hung`, or why it failed.
    package var detail: String
    /// Set when injecting the fault failed (the run goes on).
    package var failed: Bool
    /// The cluster shard the fault acted on (`kill-shard 1`…); `nil` for a fault of the whole server or cluster.
    package var shard: Int? = nil
}

/// Injects a ``FaultSchedule`` into the redis-server the demo started, on time, and keeps what happened.
///
/// Faults are applied one after the other on their own task, so a slow one (a restart waits until the new
/// server answers) never delays the live report. The fault "in force" is the last onset not yet cleared.
final class FaultInjector: Sendable {
    private let server: any FaultTarget
    private let epoch: ContinuousClock.Instant
    private let clock = ContinuousClock()

    private struct State {
        var events: [FaultEvent] = []
        var inForce: String?
        /// The faults that end by themselves, each applied on a task of its own.
        var lasting: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    init(server: any FaultTarget, epoch: ContinuousClock.Instant) {
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

    /// Stops waiting for the faults that end by themselves: a `DEBUG SLEEP` or `CLIENT PAUSE` runs out in Redis
    /// alone, a `client-kill` stops at once.
    func cancelLasting() {
        for task in state.withLock({ $0.lasting }) { task.cancel() }
    }

    /// Waits until every fault that ends by itself is over.
    func waitForLasting() async {
        let lasting = state.withLock { $0.lasting }
        for task in lasting { await task.value }
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
                    failed: false,
                    shard: fault.shard
                ), inForce: { _ in Self.label(after: fault) }, onEvent: onEvent)
        }
        var failure: String?
        if fault.endsByItself {
            startLasting(fault, onEvent: onEvent)
        } else {
            do {
                try await server.apply(fault)
            } catch {
                failure = "\(fault) failed: \(error)"
            }
        }
        if fault.isOnset, let failure {
            let event = FaultEvent(
                scheduledAt: entry.at,
                at: epoch.duration(to: clock.now),
                action: fault.description,
                isOnset: false,
                detail: failure,
                failed: true,
                shard: fault.shard
            )
            publish(event, inForce: { _ in nil }, onEvent: onEvent)
        } else if !fault.isOnset {
            let event = FaultEvent(
                scheduledAt: entry.at,
                at: epoch.duration(to: clock.now),
                action: fault.description,
                isOnset: false,
                detail: failure ?? fault.explanation,
                failed: failure != nil,
                shard: fault.shard
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

    /// Applies a fault that ends by itself on a task of its own, and reports its end (`sleep over`…): that moment
    /// is when Redis answers again.
    private func startLasting(_ fault: RedisFault, onEvent: @escaping @Sendable (FaultEvent) -> Void) {
        let task = Task { [server, epoch, clock] in
            var detail = "\(fault) over: Redis answers again"
            var failed = false
            do {
                try await server.apply(fault)
            } catch {
                detail = "\(fault) failed: \(error)"
                failed = true
            }
            let event = FaultEvent(
                scheduledAt: nil,
                at: epoch.duration(to: clock.now),
                action: "\(Self.name(of: fault)) over",
                isOnset: false,
                detail: detail,
                failed: failed
            )
            let label = Self.label(after: fault)
            self.publish(event, inForce: { $0 == label ? nil : $0 }, onEvent: onEvent)
        }
        state.withLock { $0.lasting.append(task) }
    }

    /// `sleep` for `sleep 2s`: the fault's first word.
    private static func name(of fault: RedisFault) -> Substring {
        fault.description.split(separator: " ").first ?? ""
    }

    private static func label(after fault: RedisFault) -> String? {
        switch fault {
        case .hang: "hang"
        case .stop: "stopped"
        case .kill: "killed"
        case .killShard(let shard): "shard \(shard) killed"
        case .hangShard(let shard): "shard \(shard) hung"
        case .resume, .start, .proxyClear, .resumeShard, .startShard: nil
        default: fault.description
        }
    }
}
