/// The circuit breaker's logic: events and the current time in, decisions and transitions out.
///
/// A pure value: no locks, no threads, no clock. ``CircuitBreaker`` holds one in a
/// `Mutex`, feeds it the time from its injected clock and performs what comes out
/// (events, logging) outside the lock. Time is a `Duration` since the breaker's epoch.
///
/// The hot path needs neither the lock nor a clock: the machine publishes through ``gateWord``
/// what a call may decide alone (admit in CLOSED, reject in OPEN while ``CircuitBreaker/run()``
/// drives the timers; see ``CircuitBreakerGate``), and the owner hands back what was counted
/// there with ``absorb(gateWord:)``. Successes counted that way reach the rolling window in
/// batches (see ``flushPendingSuccesses(now:adapt:)``).
///
/// Every state period has a generation number. A permit's ``Ticket`` carries the generation it
/// was admitted in; an outcome from an older generation changes nothing but ``Counters/lateOutcomes``.
///
/// ```swift
/// var machine = CircuitBreakerStateMachine(configuration: .init(), now: .zero)
/// guard case .admitted(let ticket) = machine.acquire(now: .seconds(1)) else { return }
/// machine.record(.failure(.failure, error: nil), for: ticket, now: .seconds(2))
/// let transitions = machine.takeTransitions()
/// ```
@usableFromInline
struct CircuitBreakerStateMachine: Sendable {
    /// What an admitted call must hand back with its outcome.
    @usableFromInline
    struct Ticket: Sendable, Hashable {
        /// The state period the call was admitted in (it wraps after 2³² transitions).
        @usableFromInline let generation: UInt32
        /// `0` for a call that holds no probe slot; otherwise the slot index + 1.
        @usableFromInline let probeSlot: UInt32
        /// Distinguishes successive holders of one slot.
        @usableFromInline let probeTag: UInt32
        @usableFromInline let isActiveProbe: Bool
        /// Admitted through the gate word, not counted in ``Counters/permitted`` yet.
        @usableFromInline let admittedWithoutLock: Bool

        @inlinable
        init(
            generation: UInt32,
            probeSlot: UInt32 = 0,
            probeTag: UInt32 = 0,
            isActiveProbe: Bool = false,
            admittedWithoutLock: Bool = false
        ) {
            self.generation = generation
            self.probeSlot = probeSlot
            self.probeTag = probeTag
            self.isActiveProbe = isActiveProbe
            self.admittedWithoutLock = admittedWithoutLock
        }
    }

    /// The answer to a call asking to go through.
    @usableFromInline
    enum Admission: Sendable, Hashable {
        case admitted(Ticket)
        case rejected(CircuitBreakerError.Code, retryAfter: Duration?)
    }

    /// How a call ended.
    enum Outcome: Sendable {
        /// It succeeded; `duration` is given when slow calls are detected.
        case success(duration: Duration?)
        /// It failed.
        case failure(CircuitBreakerFailureKind, error: (any Error)?)
        /// It counts neither way.
        case ignored
    }

    /// A state change, to be published by the owner.
    struct Transition: Sendable, Hashable {
        var from: CircuitBreakerState
        var to: CircuitBreakerState
        var reason: CircuitBreakerTransitionReason
        var at: Duration
        var generation: UInt32
    }

    /// What the timer driver must do next.
    struct TimerAction: Sendable, Hashable {
        /// A probe slot taken for the active probe; run it and report with this ticket.
        var activeProbe: Ticket?
        /// When to call ``tick(now:)`` again at the latest; `nil` means only on a change.
        var nextDeadline: Duration?
    }

    /// Cumulative counters (never reset, so they can feed monotonic metrics): the public value itself.
    typealias Counters = CircuitBreakerCounts

    /// Everything a metrics snapshot needs, in the machine's time.
    struct Snapshot: Sendable {
        var state: CircuitBreakerState
        var isForced: Bool
        var forcedReason: String?
        var generation: UInt32
        var window: RollingWindow.Counts
        var counters: Counters
        var consecutiveFailures: Int
        var consecutiveSuccesses: Int
        var consecutiveReopens: Int
        var stateEnteredAt: Duration
        var openUntil: Duration?
        var halfOpenProbesInFlight: Int
        var recentFailures: [RecentFailureRing.Entry]
    }

    enum Mode: UInt8, Sendable {
        case closed
        case open
        case halfOpen
        case forcedOpen
        case forcedClosed

        var publicState: CircuitBreakerState {
            switch self {
            case .closed, .forcedClosed: .closed
            case .open, .forcedOpen: .open
            case .halfOpen: .halfOpen
            }
        }
    }

    /// What a call may decide through the gate word, without the lock.
    enum FastPath: UInt8, Sendable {
        /// Anything else needs the lock and the time.
        case none = 0
        /// CLOSED (or forced closed without a pending expiry): admit.
        case admitAll = 1
        /// OPEN while the timer driver watches the expiry, or forced open without one: reject.
        case rejectOpen = 2
    }

    struct ProbeSlot: Sendable {
        /// `0` when the slot is free.
        var tag: UInt32 = 0
        var admittedAt: Duration = .zero
        var isActiveProbe = false
    }

    /// Fixed-point 1.0 for the half-open admission credit.
    static let creditOne: UInt64 = 1 << 32
    /// log2 of the most successes batched between two clock reads (1024).
    static let maxFlushIntervalLog2 = 10

    // MARK: Settings

    let failureThreshold: Int
    let successThreshold: Int
    let failureRateThreshold: Double?
    let minimumCalls: Int
    let slowCallThreshold: Duration?
    let openDuration: Duration
    let openBackoff: CircuitBreakerConfiguration.OpenBackoff
    let gradualRecovery: Bool
    let recoveryStep: UInt64
    let maxHalfOpenProbes: Int
    let probeReclaimAfter: Duration
    let activeProbeEnabled: Bool
    let activeProbeInterval: Duration

    // MARK: State

    private(set) var fastPath: FastPath = .admitAll
    private(set) var generation: UInt32 = 0
    private(set) var mode: Mode = .closed
    /// Successes counted without the clock that the window has not seen yet.
    private var pendingSuccesses = 0
    private var consecutiveFailures = 0
    private var consecutiveSuccesses = 0
    private(set) var counters = Counters()
    /// Whether there are transitions in ``outbox`` or the timer deadline moved earlier:
    /// the owner must publish and wake its timer driver.
    private(set) var hasOutput = false

    private(set) var timerDriven = false
    /// log2 of how many successes the gate counts before they are absorbed.
    private var flushIntervalLog2 = 0
    private var lastFlush: Duration
    private var stateEnteredAt: Duration
    private var openUntil: Duration = .zero
    private var forcedUntil: Duration?
    private var forcedReason: String?
    private var consecutiveReopens = 0
    private var credit: UInt64 = 0
    private var probes: [ProbeSlot]
    private var probesInFlight = 0
    private var probeSequence: UInt32 = 0
    private var activeProbeDueAt: Duration?
    private var activeProbeInFlight = false
    private(set) var window: RollingWindow
    private var recentFailures: RecentFailureRing
    private var randomNumberGenerator: any RandomNumberGenerator & Sendable
    private var outbox: [Transition] = []

    /// Creates a CLOSED machine.
    ///
    /// - Parameters:
    ///   - configuration: The settings; the caller has validated them.
    ///   - now: The current time (usually `.zero`, the breaker's epoch).
    ///   - randomNumberGenerator: The source of open-duration jitter.
    init(
        configuration: CircuitBreakerConfiguration,
        now: Duration = .zero,
        randomNumberGenerator: any RandomNumberGenerator & Sendable = SystemRandomNumberGenerator()
    ) {
        self.failureThreshold = configuration.failureThreshold
        self.successThreshold = configuration.successThreshold
        self.failureRateThreshold = configuration.failureRateThreshold
        self.minimumCalls = configuration.minimumCalls
        self.slowCallThreshold = configuration.slowCallThreshold
        self.openDuration = configuration.openDuration
        self.openBackoff = configuration.openBackoff
        self.gradualRecovery = configuration.gradualRecovery
        self.recoveryStep = min(
            Self.creditOne,
            max(1, UInt64((configuration.recoveryFactor * Double(Self.creditOne)).rounded()))
        )
        self.maxHalfOpenProbes = configuration.maxHalfOpenProbes
        self.probeReclaimAfter = configuration.probeReclaimAfter
        self.activeProbeEnabled = configuration.activeProbe != nil
        self.activeProbeInterval = configuration.activeProbeInterval
        self.lastFlush = now
        self.stateEnteredAt = now
        self.probes = Array(repeating: ProbeSlot(), count: configuration.maxHalfOpenProbes)
        self.window = RollingWindow(
            duration: configuration.rollingWindow,
            bucketCount: configuration.rollingWindowBuckets
        )
        self.window.advance(to: now)
        self.recentFailures = RecentFailureRing(capacity: configuration.recentFailuresCapacity)
        self.randomNumberGenerator = randomNumberGenerator
        self.outbox.reserveCapacity(4)
    }

    /// The state as last computed, without applying expired timers (see ``advance(to:)``).
    var state: CircuitBreakerState { mode.publicState }

    // MARK: The gate

    /// What calls may decide without the lock, as published in the gate word (count zero).
    var gateWord: UInt64 {
        CircuitBreakerGate.make(
            generation: generation,
            kind: UInt64(fastPath.rawValue),
            log2BatchSize: flushIntervalLog2
        )
    }

    /// Takes in what was counted in a gate word without the lock.
    ///
    /// Successes count for the current period only if the word's generation is the current one
    /// (the owner absorbs before every locked operation, and once more when it replaces the word
    /// after one); otherwise they raced with a transition and are late.
    mutating func absorb(gateWord word: UInt64) {
        let count = Int(CircuitBreakerGate.count(word))
        guard count > 0 else { return }
        switch CircuitBreakerGate.kind(word) {
        case CircuitBreakerGate.admitKind:
            counters.permitted += count
            if CircuitBreakerGate.generation(word) == generation && fastPath == .admitAll {
                counters.successes += count
                pendingSuccesses += count
                consecutiveFailures = 0
                consecutiveSuccesses += count
            } else {
                counters.lateOutcomes += count
            }
        case CircuitBreakerGate.rejectKind:
            counters.rejected += count
        default:
            break
        }
    }

    // MARK: Events with time

    /// Applies the timers that are due at `now`: OPEN → HALF_OPEN, forced-state expiry,
    /// reclaiming half-open probes that never reported.
    ///
    /// This is the lazy path (gobreaker's OPEN → HALF_OPEN on read): without a timer
    /// driver, every call that reads the time calls it first.
    mutating func advance(to now: Duration) {
        switch mode {
        case .closed:
            break
        case .open:
            if now >= openUntil {
                transition(to: .halfOpen, reason: .openDurationElapsed, now: now)
            }
        case .forcedOpen:
            if let forcedUntil, now >= forcedUntil {
                transition(to: .halfOpen, reason: .forcedStateExpired, now: now)
            }
        case .forcedClosed:
            if let forcedUntil, now >= forcedUntil {
                transition(to: .closed, reason: .forcedStateExpired, now: now)
            }
        case .halfOpen:
            reclaimExpiredProbes(now: now)
        }
    }

    /// Admits or rejects a call at `now`.
    mutating func acquire(now: Duration) -> Admission {
        advance(to: now)
        switch mode {
        case .closed, .forcedClosed:
            counters.permitted += 1
            return .admitted(Ticket(generation: generation))
        case .open:
            counters.rejected += 1
            return .rejected(.open, retryAfter: max(.zero, openUntil - now))
        case .forcedOpen:
            counters.rejected += 1
            return .rejected(.open, retryAfter: forcedUntil.map { max(.zero, $0 - now) })
        case .halfOpen:
            var selected = true
            if gradualRecovery {
                // A deterministic share: the credit gains `recoveryFactor` per call and a call
                // is admitted when a whole unit is available. It starts at one unit, so the
                // first half-open call goes through.
                selected = credit >= Self.creditOne
                if selected { credit -= Self.creditOne }
                credit += recoveryStep
            }
            if selected, let ticket = takeProbeSlot(now: now, isActiveProbe: false) {
                counters.permitted += 1
                return .admitted(ticket)
            }
            counters.throttled += 1
            return .rejected(.throttled, retryAfter: nil)
        }
    }

    /// Counts the ticket's admission, checks that it belongs to the current generation and frees its probe
    /// slot; false for a late outcome, which only counts in ``Counters/lateOutcomes``.
    ///
    /// - Parameter nextActiveProbeAt: when the next active probe is due, if this outcome reschedules it.
    private mutating func settle(_ ticket: Ticket, nextActiveProbeAt: Duration?) -> Bool {
        if ticket.admittedWithoutLock { counters.permitted += 1 }
        guard ticket.generation == generation else {
            counters.lateOutcomes += 1
            return false
        }
        if ticket.probeSlot != 0 {
            let index = Int(ticket.probeSlot) - 1
            guard probes[index].tag == ticket.probeTag else {
                counters.lateOutcomes += 1
                return false
            }
            probes[index] = ProbeSlot()
            probesInFlight -= 1
            if ticket.isActiveProbe {
                activeProbeInFlight = false
                if let nextActiveProbeAt { activeProbeDueAt = nextActiveProbeAt }
            }
        }
        return true
    }

    /// Records the outcome of an admitted call at `now`.
    ///
    /// An outcome whose ticket is from an older generation only counts in
    /// ``Counters/lateOutcomes``: it does not touch the window, the consecutive counts or the state.
    mutating func record(_ outcome: Outcome, for ticket: Ticket, now: Duration) {
        flushPendingSuccesses(now: now, adapt: false)
        advance(to: now)
        guard settle(ticket, nextActiveProbeAt: now + activeProbeInterval) else { return }
        switch outcome {
        case .ignored:
            counters.ignored += 1
        case .success(let duration):
            if let slowCallThreshold, let duration, duration > slowCallThreshold {
                recordFailure(kind: .slowCall, error: nil, duration: duration, ticket: ticket, now: now)
            } else {
                recordSuccess(ticket: ticket, now: now)
            }
        case .failure(let kind, let error):
            recordFailure(kind: kind, error: error, duration: nil, ticket: ticket, now: now)
        }
    }

    /// Records that an admitted call counts neither way; needs no time.
    mutating func recordIgnored(for ticket: Ticket) {
        guard settle(ticket, nextActiveProbeAt: nil) else { return }
        counters.ignored += 1
    }

    /// Whether a call made at `now` would be admitted; changes nothing.
    func isCallPermitted(now: Duration) -> Bool {
        switch mode {
        case .closed, .forcedClosed:
            return true
        case .open:
            return now >= openUntil
        case .forcedOpen:
            return forcedUntil.map { now >= $0 } ?? false
        case .halfOpen:
            // A probe due for reclaim would re-open the breaker first.
            if probes.contains(where: { $0.tag != 0 && now >= $0.admittedAt + probeReclaimAfter }) { return false }
            if gradualRecovery && credit < Self.creditOne { return false }
            return probesInFlight < maxHalfOpenProbes
        }
    }

    /// Runs the timers due at `now` for the timer driver and says what to do next.
    mutating func tick(now: Duration) -> TimerAction {
        flushPendingSuccesses(now: now, adapt: false)
        advance(to: now)
        var action = TimerAction()
        if mode == .halfOpen, activeProbeEnabled, !activeProbeInFlight, let due = activeProbeDueAt, now >= due {
            if let ticket = takeProbeSlot(now: now, isActiveProbe: true) {
                activeProbeInFlight = true
                action.activeProbe = ticket
            } else {
                // User probes hold every slot: they are probing already; look again later.
                activeProbeDueAt = now + activeProbeInterval
            }
        }
        action.nextDeadline = nextDeadline()
        return action
    }

    /// The next instant a timer is due, if any.
    func nextDeadline() -> Duration? {
        switch mode {
        case .closed:
            return nil
        case .open:
            return openUntil
        case .forcedOpen, .forcedClosed:
            return forcedUntil
        case .halfOpen:
            var deadline: Duration?
            for slot in probes where slot.tag != 0 {
                let due = slot.admittedAt + probeReclaimAfter
                deadline = deadline.map { min($0, due) } ?? due
            }
            if activeProbeEnabled, !activeProbeInFlight, let due = activeProbeDueAt {
                deadline = deadline.map { min($0, due) } ?? due
            }
            return deadline
        }
    }

    /// Tells the machine whether a timer driver calls ``tick(now:)`` at each deadline.
    ///
    /// While one does, an OPEN rejection needs no clock read: the driver moves the state on time.
    mutating func setTimerDriven(_ timerDriven: Bool) {
        self.timerDriven = timerDriven
        updateFastPath()
    }

    // MARK: Manual control

    /// Forces OPEN until `until` (or until released by ``reset(now:)``); then HALF_OPEN.
    mutating func forceOpen(reason: String?, until: Duration?, now: Duration) {
        flushPendingSuccesses(now: now, adapt: false)
        transition(
            to: .forcedOpen,
            reason: CircuitBreakerTransitionReason(.forcedOpen, detail: reason),
            now: now,
            forcedUntil: until,
            forcedReason: reason
        )
    }

    /// Forces CLOSED until `until` (or until released by ``reset(now:)``); failures then trip nothing.
    mutating func forceClosed(reason: String?, until: Duration?, now: Duration) {
        flushPendingSuccesses(now: now, adapt: false)
        transition(
            to: .forcedClosed,
            reason: CircuitBreakerTransitionReason(.forcedClosed, detail: reason),
            now: now,
            forcedUntil: until,
            forcedReason: reason
        )
    }

    /// Ends an OPEN period early: the owner verified the dependency answers. Forced or other states stay.
    mutating func endOpenPeriod(now: Duration) {
        guard mode == .open else { return }
        transition(to: .halfOpen, reason: .recoveryVerified, now: now)
    }

    /// Back to CLOSED with the window, consecutive counts and open backoff cleared.
    ///
    /// Cumulative counters and the recent-failures ring are kept: they feed monotonic metrics.
    mutating func reset(now: Duration) {
        transition(to: .closed, reason: .reset, now: now)
    }

    // MARK: Output

    /// Removes and returns the transitions made since the last call, oldest first, and clears ``hasOutput``.
    mutating func takeTransitions() -> [Transition] {
        hasOutput = false
        let transitions = outbox
        outbox = []
        return transitions
    }

    /// A snapshot for metrics, after applying the timers due at `now`.
    mutating func snapshot(now: Duration) -> Snapshot {
        flushPendingSuccesses(now: now, adapt: false)
        advance(to: now)
        return Snapshot(
            state: mode.publicState,
            isForced: mode == .forcedOpen || mode == .forcedClosed,
            forcedReason: forcedReason,
            generation: generation,
            window: window.totals,
            counters: counters,
            consecutiveFailures: consecutiveFailures,
            consecutiveSuccesses: consecutiveSuccesses,
            consecutiveReopens: consecutiveReopens,
            stateEnteredAt: stateEnteredAt,
            openUntil: mode == .open ? openUntil : (mode == .forcedOpen ? forcedUntil : nil),
            halfOpenProbesInFlight: probesInFlight,
            recentFailures: recentFailures.entries
        )
    }

    // MARK: Internals

    /// Attributes the successes counted without a clock to the rolling window.
    ///
    /// They ended between the last flush and `now`; the window spreads them over that
    /// interval. With `adapt` (a full batch was counted in the gate), the batch size adapts so
    /// that a batch spans roughly a sixteenth to a quarter of a bucket: it doubles (up to 1024)
    /// while calls are dense and halves when they thin out, so a busy breaker reads the clock
    /// about once per thousand successes and a quiet one on every success.
    mutating func flushPendingSuccesses(now: Duration, adapt: Bool) {
        let elapsed = now > lastFlush ? now - lastFlush : .zero
        if pendingSuccesses > 0 {
            window.addSuccesses(pendingSuccesses, from: lastFlush, to: now)
            pendingSuccesses = 0
        } else {
            window.advance(to: now)
        }
        if adapt {
            let elapsedNanos = elapsed.wholeNanoseconds
            if elapsedNanos <= window.bucketWidth / 16 {
                flushIntervalLog2 = min(flushIntervalLog2 + 1, Self.maxFlushIntervalLog2)
            } else if elapsedNanos > window.bucketWidth / 4 {
                flushIntervalLog2 = max(flushIntervalLog2 - 1, 0)
            }
        }
        if now > lastFlush { lastFlush = now }
    }

    private mutating func recordSuccess(ticket: Ticket, now: Duration) {
        counters.successes += 1
        window.record(failure: false, slow: false, at: now)
        consecutiveFailures = 0
        consecutiveSuccesses += 1
        if mode == .halfOpen && consecutiveSuccesses >= successThreshold {
            transition(
                to: .closed,
                reason: ticket.isActiveProbe ? .activeProbeSucceeded : .successThresholdReached,
                now: now
            )
        }
    }

    private mutating func recordFailure(
        kind: CircuitBreakerFailureKind,
        error: (any Error)?,
        duration: Duration?,
        ticket: Ticket,
        now: Duration
    ) {
        counters.failures += 1
        let slow = kind == .slowCall
        if slow { counters.slowCalls += 1 }
        window.record(failure: true, slow: slow, at: now)
        recentFailures.append(.init(at: now, kind: kind, error: error, duration: duration))
        consecutiveSuccesses = 0
        consecutiveFailures += 1
        switch mode {
        case .closed:
            if consecutiveFailures >= failureThreshold {
                transition(to: .open, reason: .consecutiveFailures, now: now)
            } else if let failureRateThreshold, window.totals.calls >= minimumCalls,
                Double(window.totals.failures) >= failureRateThreshold * Double(window.totals.calls)
            {
                transition(to: .open, reason: .failureRate, now: now)
            }
        case .halfOpen:
            let reason: CircuitBreakerTransitionReason =
                switch kind.base {
                case .probeReclaimed: .probeReclaimed
                case .activeProbeFailed, .activeProbeTimedOut: .activeProbeFailed
                case .failure, .slowCall: ticket.isActiveProbe ? .activeProbeFailed : .probeFailed
                }
            transition(to: .open, reason: reason, now: now)
        case .open, .forcedOpen, .forcedClosed:
            // OPEN admits nothing, so no current-generation outcome arrives there; forced
            // CLOSED counts failures but trips nothing.
            break
        }
    }

    private mutating func reclaimExpiredProbes(now: Duration) {
        for index in probes.indices where mode == .halfOpen {
            let slot = probes[index]
            guard slot.tag != 0, now >= slot.admittedAt + probeReclaimAfter else { continue }
            let ticket = Ticket(
                generation: generation,
                probeSlot: UInt32(index + 1),
                probeTag: slot.tag,
                isActiveProbe: slot.isActiveProbe
            )
            probes[index] = ProbeSlot()
            probesInFlight -= 1
            if slot.isActiveProbe { activeProbeInFlight = false }
            recordFailure(kind: .probeReclaimed, error: nil, duration: nil, ticket: ticket, now: now)
        }
    }

    private mutating func takeProbeSlot(now: Duration, isActiveProbe: Bool) -> Ticket? {
        guard probesInFlight < maxHalfOpenProbes,
            let index = probes.firstIndex(where: { $0.tag == 0 })
        else { return nil }
        probeSequence = probeSequence == .max ? 1 : probeSequence + 1
        probes[index] = ProbeSlot(tag: probeSequence, admittedAt: now, isActiveProbe: isActiveProbe)
        probesInFlight += 1
        // The first probe in flight brings a reclaim deadline the timer driver must learn of.
        if timerDriven && probesInFlight == 1 { hasOutput = true }
        return Ticket(
            generation: generation,
            probeSlot: UInt32(index + 1),
            probeTag: probeSequence,
            isActiveProbe: isActiveProbe
        )
    }

    /// The open duration for the current number of consecutive re-opens, with jitter.
    private mutating func nextOpenDuration() -> Duration {
        let cap = openBackoff.maxOpenDuration
        var duration = openDuration
        var reopens = consecutiveReopens
        while reopens > 0 && duration < cap {
            duration = min(duration * openBackoff.multiplier, cap)
            reopens -= 1
        }
        if openBackoff.jitter > 0 {
            let spread = Double.random(in: -1...1, using: &randomNumberGenerator)
            duration = min(duration * (1 + openBackoff.jitter * spread), cap)
        }
        return duration
    }

    private mutating func transition(
        to newMode: Mode,
        reason: CircuitBreakerTransitionReason,
        now: Duration,
        forcedUntil: Duration? = nil,
        forcedReason: String? = nil
    ) {
        let from = mode
        mode = newMode
        generation &+= 1
        counters.stateChanges += 1
        stateEnteredAt = now
        consecutiveFailures = 0
        consecutiveSuccesses = 0
        self.forcedUntil = forcedUntil
        self.forcedReason = forcedReason
        if probesInFlight > 0 {
            for index in probes.indices { probes[index] = ProbeSlot() }
            probesInFlight = 0
        }
        activeProbeInFlight = false
        activeProbeDueAt = nil
        switch newMode {
        case .closed:
            // A fresh start: the failures that opened the breaker must not trip it again.
            window.reset()
            pendingSuccesses = 0
            consecutiveReopens = 0
            if now > lastFlush { lastFlush = now }
        case .open:
            if from == .halfOpen { consecutiveReopens += 1 }
            openUntil = now + nextOpenDuration()
        case .halfOpen:
            credit = Self.creditOne
            if activeProbeEnabled { activeProbeDueAt = now }
        case .forcedOpen, .forcedClosed:
            break
        }
        updateFastPath()
        outbox.append(
            Transition(from: from.publicState, to: newMode.publicState, reason: reason, at: now, generation: generation)
        )
        hasOutput = true
    }

    private mutating func updateFastPath() {
        switch mode {
        case .closed:
            fastPath = .admitAll
        case .forcedClosed:
            fastPath = forcedUntil == nil || timerDriven ? .admitAll : .none
        case .open:
            fastPath = timerDriven ? .rejectOpen : .none
        case .forcedOpen:
            fastPath = forcedUntil == nil || timerDriven ? .rejectOpen : .none
        case .halfOpen:
            fastPath = .none
        }
    }
}
