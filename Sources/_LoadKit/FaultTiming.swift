import Synchronization

/// How long something took to react to a fault and to recover after it: the breaker to open, then to close.
///
/// ``measure(lasting:recoveryTimeout:pollInterval:inject:clear:reacted:recovered:onPhase:)`` injects a fault, holds
/// it, clears it, and polls two conditions meanwhile: `reacted` from the injection until the clear (the breaker is
/// OPEN), `recovered` from the clear until it holds or `recoveryTimeout` passes (the breaker is CLOSED). The chaos
/// soak, the outage benchmark and anything else that times a fault share it, so their figures mean the same.
///
/// ```swift
/// let timing = try await FaultTiming.measure(
///     .hang, on: testbed, lasting: .seconds(3), recoveryTimeout: .seconds(10),
///     reacted: { cache.circuit.state == .open },
///     recovered: { cache.circuit.state == .closed }
/// )
/// print(timing.toReaction ?? "never opened", timing.toRecovery ?? "never closed")
/// ```
public struct FaultTiming: Sendable {
    /// Where a fault run is, for callers that record into one bucket per phase.
    public enum Phase: Sendable, Hashable {
        /// About to inject the fault.
        case injecting
        /// The fault has lasted its time; about to clear it.
        case clearing
        /// The fault is cleared.
        case recovering
    }

    /// When the fault was injected.
    public var injected: ContinuousClock.Instant
    /// When the fault was cleared: the clearing done, or a fault that ends by itself over.
    public var cleared: ContinuousClock.Instant
    /// From the injection to the first poll at which `reacted` held (about zero if it held already); `nil` if it
    /// never did before the clear.
    public var toReaction: Duration?
    /// From the clear to the first poll at which `recovered` held; `nil` if it did not within the timeout.
    public var toRecovery: Duration?

    /// Injects a fault, holds it for `lasting`, clears it, and times the reaction and the recovery.
    ///
    /// `inject` runs on a child task from the start, so a fault that ends by itself (`sleep 2s`, which returns
    /// when Redis answers again) can last while the reaction is polled; the clear waits for it.
    ///
    /// - Parameters:
    ///   - lasting: How long the fault is held before it is cleared.
    ///   - recoveryTimeout: How long after the clear `recovered` may take.
    ///   - pollInterval: How often the conditions are polled.
    ///   - inject: Injects the fault.
    ///   - clear: Clears it, after `inject` has returned.
    ///   - reacted: Polled while the fault lasts.
    ///   - recovered: Polled after the clear.
    ///   - onPhase: Told when each phase starts.
    public static func measure(
        lasting: Duration,
        recoveryTimeout: Duration,
        pollInterval: Duration = .milliseconds(1),
        inject: @escaping @Sendable () async throws -> Void,
        clear: () async throws -> Void,
        reacted: () -> Bool,
        recovered: () -> Bool,
        onPhase: (Phase) -> Void = { _ in }
    ) async throws -> FaultTiming {
        let clock = ContinuousClock()
        let injectionOver = Flag()
        onPhase(.injecting)
        let injected = clock.now
        async let injection: Void = {
            defer { injectionOver.raise() }
            try await inject()
        }()
        var toReaction: Duration?
        // A fault that ends by itself may outlast `lasting` by a little: it is in force until it returns.
        while clock.now - injected < lasting || !injectionOver.isRaised {
            if toReaction == nil, reacted() { toReaction = clock.now - injected }
            // A failed injection ends the measurement at once.
            if injectionOver.isRaised { try await injection }
            try await Task.sleep(for: pollInterval)
        }
        try await injection
        if toReaction == nil, reacted() { toReaction = clock.now - injected }
        onPhase(.clearing)
        try await clear()
        let cleared = clock.now
        onPhase(.recovering)
        var toRecovery: Duration?
        while clock.now - cleared < recoveryTimeout {
            if recovered() {
                toRecovery = clock.now - cleared
                break
            }
            try await Task.sleep(for: pollInterval)
        }
        return FaultTiming(injected: injected, cleared: cleared, toReaction: toReaction, toRecovery: toRecovery)
    }
}

extension FaultTiming {
    /// Applies `fault` to `target`, holds it for `lasting`, clears it, and times the reaction and the recovery.
    ///
    /// The clear is the fault's ``RedisFault/clearing`` fault (`resume` after `hang`, `start` after `stop`…), or
    /// the end of a fault that ends by itself (`sleep`, `pause`, `client-kill`).
    ///
    /// - Parameters:
    ///   - fault: An onset (``RedisFault/isOnset``): `hang`, `stop`, `sleep 1.5s`, `proxy-blackhole`…
    ///   - target: The server (and proxy) to inject it into.
    ///   - lasting: How long the fault is held before it is cleared; a fault that ends by itself lasts its own
    ///     length instead.
    ///   - recoveryTimeout: How long after the clear `recovered` may take.
    ///   - pollInterval: How often the conditions are polled.
    ///   - reacted: Polled while the fault lasts.
    ///   - recovered: Polled after the clear.
    ///   - onPhase: Told when each phase starts.
    public static func measure(
        _ fault: RedisFault,
        on target: any FaultTarget,
        lasting: Duration,
        recoveryTimeout: Duration,
        pollInterval: Duration = .milliseconds(1),
        reacted: () -> Bool,
        recovered: () -> Bool,
        onPhase: (Phase) -> Void = { _ in }
    ) async throws -> FaultTiming {
        precondition(fault.isOnset, "\(fault) brings Redis back; time a fault that takes it away")
        return try await measure(
            lasting: fault.endsByItself ? .zero : lasting,
            recoveryTimeout: recoveryTimeout,
            pollInterval: pollInterval,
            inject: { try await target.apply(fault) },
            clear: {
                if let clearing = fault.clearing { try await target.apply(clearing) }
            },
            reacted: reacted,
            recovered: recovered,
            onPhase: onPhase
        )
    }
}

/// Set once, read from anywhere.
private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)

    func raise() { value.store(true, ordering: .releasing) }

    var isRaised: Bool { value.load(ordering: .acquiring) }
}
