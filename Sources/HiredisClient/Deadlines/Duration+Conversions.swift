#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The conversions from `Duration` the client needs, in one place: nanoseconds for deadlines on the monotonic
/// clock, `timeval` for socket timeouts.
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

    /// The duration as a `timeval` (microsecond precision) for socket timeouts; zero for a negative duration.
    var asTimeval: timeval {
        let nanoseconds = self.nanoseconds
        return timeval(
            tv_sec: Int(nanoseconds / 1_000_000_000),
            tv_usec: Int((nanoseconds % 1_000_000_000) / 1_000)
        )
    }
}
