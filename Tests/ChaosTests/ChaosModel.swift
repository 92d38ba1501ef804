import Synchronization

/// What each key may legally hold, for the soak's stale-read check.
///
/// Every key has one writer (the caller that owns its group), so writes to a key are sequential. Each write,
/// delete or pattern invalidation takes a fresh version from one global counter; once it has returned, the key's
/// *floor* is that version. A read that starts after the floor was raised and returns a value whose version is
/// below the floor is stale: the cache served something that was overwritten or deleted before the read began.
/// `nil` is always legal (a miss, a degraded read, an expired or flushed key).
final class ChaosModel: Sendable {
    private let floors = Mutex<[String: UInt64]>([:])
    private let versions = Atomic<UInt64>(0)

    func nextVersion() -> UInt64 {
        versions.add(1, ordering: .relaxed).newValue
    }

    func floor(_ key: String) -> UInt64 {
        floors.withLock { $0[key] ?? 0 }
    }

    func raise(_ keys: [String], to version: UInt64) {
        floors.withLock { floors in
            for key in keys { floors[key] = max(floors[key] ?? 0, version) }
        }
    }

    static func encode(_ version: UInt64) -> [UInt8] {
        Array("v\(version)".utf8)
    }

    static func version(of value: [UInt8]) -> UInt64? {
        guard value.first == UInt8(ascii: "v") else { return nil }
        return UInt64(String(decoding: value.dropFirst(), as: UTF8.self))
    }
}

/// Counters for one phase of the soak (a fault, or the recovery after it).
final class PhaseStats: Sendable {
    struct Snapshot: Sendable {
        var started = 0
        var finished = 0
        var escaped = 0
        var stale = 0
        var hits = 0
        var overruns = 0
        var slowest: [String: Duration] = [:]
        var escapedSamples: [String] = []
    }

    private let state = Mutex(Snapshot())

    func start() { state.withLock { $0.started += 1 } }

    func finish(_ operation: String, took elapsed: Duration, bound: Duration, hit: Bool = false) {
        state.withLock { state in
            state.finished += 1
            if hit { state.hits += 1 }
            if elapsed > bound { state.overruns += 1 }
            state.slowest[operation] = max(state.slowest[operation] ?? .zero, elapsed)
        }
    }

    func escaped(_ error: any Error) {
        state.withLock { state in
            state.escaped += 1
            if state.escapedSamples.count < 5 { state.escapedSamples.append("\(error)") }
        }
    }

    func stale() { state.withLock { $0.stale += 1 } }

    var snapshot: Snapshot { state.withLock { $0 } }
}
