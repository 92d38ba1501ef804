#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The conversions from `Duration` the client needs, in one place: nanoseconds for deadlines on the monotonic
/// clock, milliseconds for `PX` and `PEXPIRE`, `timeval` for socket timeouts. All saturate instead of trapping
/// or wrapping: a negative duration is zero, one too long to count is the largest value.
extension Duration {
    /// The duration in whole nanoseconds, saturating instead of trapping: 0 for a negative duration,
    /// `UInt64.max` for one too long to count.
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        let (product, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        return product &+ UInt64(attoseconds / 1_000_000_000)
    }

    /// The duration in whole milliseconds, rounded down; 0 for a negative duration.
    var wholeMilliseconds: Int {
        Int(nanoseconds / 1_000_000)
    }

    /// The duration as a `timeval` (microsecond precision) for socket timeouts; zero for a negative duration.
    var asTimeval: timeval {
        let nanoseconds = self.nanoseconds
        return timeval(
            tv_sec: Int(nanoseconds / 1_000_000_000),
            tv_usec: Int((nanoseconds % 1_000_000_000) / 1_000)
        )
    }
}

/// The instant on the monotonic clock (see ``monotonicNanoseconds()``) `duration` from now; the end of time for
/// a duration too long to count, never an instant that has wrapped around into the past.
func monotonicDeadline(after duration: Duration) -> UInt64 {
    let (sum, overflow) = monotonicNanoseconds().addingReportingOverflow(duration.nanoseconds)
    return overflow ? .max : sum
}
