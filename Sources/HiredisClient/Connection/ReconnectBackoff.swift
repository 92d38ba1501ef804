#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One connection's connect state, the same for both I/O models (kept under the connection's lock): whether it
/// is connected, and after failed attempts the last error and the capped exponential wait before the next one,
/// during which calls fail at once with that error.
struct ReconnectBackoff {
    let policy: RedisClientConfiguration.Reconnect
    /// Failed attempts since the last successful connect.
    private(set) var failedAttempts = 0
    private(set) var connected = false
    private var lastError: RedisClientError?
    /// Monotonic nanoseconds until which a call fails at once with ``lastError``.
    private var waitUntil: UInt64 = 0

    init(_ policy: RedisClientConfiguration.Reconnect) {
        self.policy = policy
    }

    /// Whether a call now would fail at once: the last connect failed and its wait has not passed.
    func isWaiting(now: UInt64) -> Bool {
        !connected && now < waitUntil
    }

    /// The error a call gets at once while ``isWaiting(now:)``, else `nil`.
    func waitingError(now: UInt64) -> RedisClientError? {
        guard isWaiting(now: now), var error = lastError else { return nil }
        error.message += " (next attempt after backoff)"
        return error
    }

    /// Records a failed attempt: calls fail with `error` until the wait, growing with each failure, has passed.
    mutating func failed(_ error: RedisClientError, now: UInt64) {
        failedAttempts += 1
        let exponent = Double(min(failedAttempts - 1, 30))
        let delay = min(
            Double(policy.initialDelay.nanoseconds) * pow(policy.multiplier, exponent),
            Double(policy.maximumDelay.nanoseconds)
        )
        connected = false
        lastError = error
        waitUntil = now + UInt64(delay)
    }

    /// Records a successful connect: the next failure waits the initial delay again.
    mutating func succeeded() {
        failedAttempts = 0
        connected = true
        lastError = nil
        waitUntil = 0
    }

    /// Records that the connection was lost: the next call connects again, without waiting.
    mutating func lost() {
        connected = false
    }
}
