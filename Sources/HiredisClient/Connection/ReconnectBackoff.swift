#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The capped exponential wait between failed connection attempts of one connection.
struct ReconnectBackoff {
    let policy: RedisClientConfiguration.Reconnect
    /// Failed attempts since the last successful connect.
    private(set) var failedAttempts = 0

    init(_ policy: RedisClientConfiguration.Reconnect) {
        self.policy = policy
    }

    /// Records a failed attempt; returns how long to wait before the next one, in nanoseconds.
    mutating func failed() -> UInt64 {
        failedAttempts += 1
        let exponent = Double(min(failedAttempts - 1, 30))
        let delay = min(
            Double(policy.initialDelay.nanoseconds) * pow(policy.multiplier, exponent),
            Double(policy.maximumDelay.nanoseconds)
        )
        return UInt64(delay)
    }

    /// Records a successful connect: the next failure waits the initial delay again.
    mutating func succeeded() {
        failedAttempts = 0
    }
}
