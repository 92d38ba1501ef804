/// Call and failure counts over the last `duration`, as a ring of time buckets.
///
/// Time is the breaker's offset from its epoch. Recording is O(1): the current bucket
/// and the running totals are incremented. Moving on in time subtracts each bucket that
/// falls out of the window from the totals and reuses it, so the cost is bounded by the
/// bucket count however long the gap, and amortised O(1) per bucket period.
///
/// ```swift
/// var window = RollingWindow(duration: .seconds(300), bucketCount: 10)
/// window.record(failure: true, slow: false, at: .seconds(12))
/// window.advance(to: .seconds(400))   // the bucket of t = 12 s has fallen out
/// assert(window.totals.calls == 0)
/// ```
struct RollingWindow: Sendable {
    /// Counts of one bucket, or of the whole window.
    struct Counts: Sendable, Hashable {
        var calls = 0
        var failures = 0
        var slowCalls = 0
    }

    let bucketCount: Int
    /// Width of a bucket in nanoseconds.
    let bucketWidth: Int64
    private var buckets: [Counts]
    /// Index in `buckets` of the bucket that holds the current time.
    private var currentIndex = 0
    /// `floor(time / bucketWidth)` of the current bucket.
    private(set) var currentBucket: Int64 = 0
    /// The sum of all buckets.
    private(set) var totals = Counts()

    /// Creates an empty window.
    ///
    /// - Parameters:
    ///   - duration: The span of the window.
    ///   - bucketCount: How many buckets make the span.
    init(duration: Duration, bucketCount: Int) {
        precondition(bucketCount >= 1, "a rolling window needs at least one bucket")
        self.bucketCount = bucketCount
        self.bucketWidth = max(1, (duration / bucketCount).wholeNanoseconds)
        self.buckets = Array(repeating: Counts(), count: bucketCount)
    }

    /// Moves the current bucket to the one holding `now`, dropping buckets that fall out.
    ///
    /// A `now` earlier than the current bucket (a thread that read the clock a little earlier
    /// than another) leaves the window as it is.
    mutating func advance(to now: Duration) {
        let target = now.wholeNanoseconds / bucketWidth
        guard target > currentBucket else { return }
        let steps = target - currentBucket
        if steps >= Int64(bucketCount) {
            for index in buckets.indices { buckets[index] = Counts() }
            totals = Counts()
        } else {
            for _ in 0..<Int(steps) {
                currentIndex = currentIndex + 1 == bucketCount ? 0 : currentIndex + 1
                let old = buckets[currentIndex]
                totals.calls -= old.calls
                totals.failures -= old.failures
                totals.slowCalls -= old.slowCalls
                buckets[currentIndex] = Counts()
            }
        }
        currentBucket = target
    }

    /// Counts one call that ended at `now`.
    mutating func record(failure: Bool, slow: Bool, at now: Duration) {
        advance(to: now)
        let increment = Counts(calls: 1, failures: failure ? 1 : 0, slowCalls: slow ? 1 : 0)
        buckets[currentIndex].calls += increment.calls
        buckets[currentIndex].failures += increment.failures
        buckets[currentIndex].slowCalls += increment.slowCalls
        totals.calls += increment.calls
        totals.failures += increment.failures
        totals.slowCalls += increment.slowCalls
    }

    /// Counts `count` successful calls known only to have ended somewhere in `start...end`.
    ///
    /// The calls are spread over the buckets that interval covers in proportion to the time
    /// each bucket shares with it (the calls are assumed evenly spread); the share that falls
    /// before the window is dropped. The breaker batches successes this way so that the hot
    /// path does not read the clock on every call.
    mutating func addSuccesses(_ count: Int, from start: Duration, to end: Duration) {
        advance(to: end)
        guard count > 0 else { return }
        let endNanos = end.wholeNanoseconds
        let startNanos = min(start.wholeNanoseconds, endNanos)
        let firstBucket = startNanos / bucketWidth
        if firstBucket >= currentBucket || endNanos == startNanos {
            add(count, toBucket: currentBucket)
            return
        }
        let span = Double(endNanos - startNanos)
        let oldestInWindow = currentBucket - Int64(bucketCount) + 1
        var bucket = max(firstBucket, oldestInWindow)
        var covered: Int64 = max(startNanos, bucket * bucketWidth) - startNanos
        var assigned = Int((Double(count) * Double(covered) / span).rounded(.down))
        while bucket <= currentBucket {
            let bucketEnd = min(endNanos, (bucket + 1) * bucketWidth)
            covered = bucketEnd - startNanos
            let cumulative =
                bucket == currentBucket
                ? count
                : min(count, Int((Double(count) * Double(covered) / span).rounded(.down)))
            add(cumulative - assigned, toBucket: bucket)
            assigned = cumulative
            bucket += 1
        }
    }

    /// Empties the window.
    mutating func reset() {
        for index in buckets.indices { buckets[index] = Counts() }
        totals = Counts()
    }

    private mutating func add(_ calls: Int, toBucket bucket: Int64) {
        guard calls > 0 else { return }
        let back = Int(currentBucket - bucket)
        var index = (currentIndex - back) % bucketCount
        if index < 0 { index += bucketCount }
        buckets[index].calls += calls
        totals.calls += calls
    }
}
