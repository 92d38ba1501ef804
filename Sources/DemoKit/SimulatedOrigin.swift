import Synchronization

/// The slow "expensive query" behind the cache: it sleeps ``latency`` and returns a value for the key.
///
/// It also writes down when it ran for which key (``OriginLedger``): a caller that joined another caller's
/// computation in `fetch` waited for the origin without running it, and the demo must not count that wait
/// against the cache's deadline.
final class SimulatedOrigin: Sendable {
    let latency: Duration
    let ledger = OriginLedger()
    private let versions = Atomic<UInt64>(0)
    private let clock = ContinuousClock()

    init(latency: Duration) {
        self.latency = latency
    }

    /// Runs the "query" for key `index`.
    ///
    /// - Throws: ``OriginError`` when its sleep is cancelled: the origin's own error, which `fetch` passes on.
    func load(_ index: Int) async throws(OriginError) -> [UInt8] {
        let started = clock.now
        if latency > .zero {
            do {
                try await clock.sleep(for: latency)
            } catch {
                throw OriginError(message: "the origin's query was cancelled")
            }
        }
        ledger.record(key: index, from: started, to: clock.now)
        return value(for: index)
    }

    /// A fresh value for key `index`, about 100 bytes, different each time.
    func value(for index: Int) -> [UInt8] {
        let version = versions.add(1, ordering: .relaxed).newValue
        var text = "item \(index) version \(version) "
        while text.utf8.count < 100 { text += "." }
        return Array(text.utf8)
    }
}

/// An error of the origin itself: `fetch` propagates it, and it is never the cache's fault.
struct OriginError: Error, Sendable, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// When the origin ran for each key: the last few runs per key, so the origin's share of a call can be taken
/// out of the call's time.
final class OriginLedger: Sendable {
    typealias Instant = ContinuousClock.Instant

    private struct Span {
        var from: Instant
        var to: Instant
    }

    /// Runs per key kept; single-flight makes the runs of one key disjoint, and a slow call spans only a few.
    private static let spansPerKey = 4
    /// Keys are spread over several locks, so callers looking up different keys rarely wait for each other.
    private static let shardCount = 16
    private let shards: [Shard] = (0..<OriginLedger.shardCount).map { _ in Shard() }

    private final class Shard: Sendable {
        let spans = Mutex<[Int: [Span]]>([:])
    }

    func record(key: Int, from: Instant, to: Instant) {
        shards[key % Self.shardCount].spans.withLock { spans in
            var list = spans[key, default: []]
            if list.count == Self.spansPerKey { list.removeFirst() }
            list.append(Span(from: from, to: to))
            spans[key] = list
        }
    }

    /// How much of `from...to` the origin spent running for `key`.
    func overlap(key: Int, from: Instant, to: Instant) -> Duration {
        shards[key % Self.shardCount].spans.withLock { spans in
            var total = Duration.zero
            for span in spans[key, default: []] {
                let start = max(span.from, from)
                let end = min(span.to, to)
                if start < end { total += start.duration(to: end) }
            }
            return total
        }
    }
}
