import Histogram
import Synchronization
import _LoadKit

/// What the callers saw during one report interval: how many calls, how long they took, what went wrong.
struct CallWindow: Sendable {
    /// Latency of every call as the service sees it (origin included), in microseconds.
    var latencies: Histogram<UInt64>
    var calls = 0
    /// Errors thrown by the cache that are not the origin's own: each one breaks the product's promise.
    var escapedErrors = 0
    /// Calls whose cache part (the call's time minus the origin's) exceeded the deadline.
    var overruns = 0
    var maxLatency: Duration = .zero
    /// The longest cache part of a call.
    var worstCacheTime: Duration = .zero

    init() {
        // Up to 60 s in µs with 2 significant digits (1 % resolution, plenty for p50/p99 of a live report):
        // about 20 KB per histogram, one per caller.
        latencies = Histogram(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .two)
    }

    mutating func record(latency: Duration, cacheTime: Duration, overran: Bool, escaped: Bool) {
        _ = latencies.record(min(latency.microseconds, 60_000_000))
        calls += 1
        if escaped { escapedErrors += 1 }
        if overran { overruns += 1 }
        maxLatency = max(maxLatency, latency)
        worstCacheTime = max(worstCacheTime, cacheTime)
    }

    mutating func merge(_ other: CallWindow) {
        latencies.add(other.latencies)
        calls += other.calls
        escapedErrors += other.escapedErrors
        overruns += other.overruns
        maxLatency = max(maxLatency, other.maxLatency)
        worstCacheTime = max(worstCacheTime, other.worstCacheTime)
    }

    mutating func reset() {
        latencies.reset()
        calls = 0
        escapedErrors = 0
        overruns = 0
        maxLatency = .zero
        worstCacheTime = .zero
    }

    /// The latency at `percentile` (0…100) in µs; 0 without calls.
    func percentile(_ percentile: Double) -> UInt64 {
        calls == 0 ? 0 : latencies.valueAtPercentile(percentile)
    }
}

/// One caller's window. Each caller records into its own, so callers never contend; the reporter takes the
/// lock once per interval to move the figures out.
final class CallRecorder: Sendable {
    private let window = Mutex(CallWindow())

    func record(latency: Duration, cacheTime: Duration, overran: Bool, escaped: Bool) {
        window.withLock { $0.record(latency: latency, cacheTime: cacheTime, overran: overran, escaped: escaped) }
    }

    /// Adds this caller's figures to `total` and starts a new window.
    func drain(into total: inout CallWindow) {
        window.withLock { window in
            total.merge(window)
            window.reset()
        }
    }
}
