import RedisCache
import Synchronization
import _LoadKit

/// A ``RedisCache/CacheBackend`` that fails on purpose: the guide's `FailingCacheManager`.
///
/// It wraps a real backend (in-memory by default, or a `RedisCacheBackend`) and, per the current
/// ``Faults``, fails a seeded share of calls, fails every call after the first N, adds latency, or hangs
/// each call for a while before failing it with a timeout. It counts every call that reached it, so a test can
/// prove that an open circuit sends nothing to the backend.
///
/// ```swift
/// let backend = FailingCacheBackend(faults: .init(failureRate: 0.3, seed: 7))
/// let cache = ResilientCache(backend: backend)
/// ```
public final class FailingCacheBackend: CacheBackend {
    /// What to inject; change it at run time with ``faults``.
    public struct Faults: Sendable, Hashable {
        /// Share of calls that fail with `BACKEND_UNAVAILABLE`, 0…1, drawn from the seeded generator.
        public var failureRate: Double
        /// Every call after this many calls fails (`nil`: never).
        public var failAfter: Int?
        /// Added to every call before it runs.
        public var latency: Duration
        /// When set, each call waits this long and then fails as a timeout, like a hung server behind a
        /// client with that deadline.
        public var hang: Duration?

        public init(failureRate: Double = 0, failAfter: Int? = nil, latency: Duration = .zero, hang: Duration? = nil) {
            precondition((0...1).contains(failureRate), "failureRate must be in 0...1")
            self.failureRate = failureRate
            self.failAfter = failAfter
            self.latency = latency
            self.hang = hang
        }

        /// No faults: every call goes through.
        public static let none = Faults()
        /// Every call fails at once.
        public static let down = Faults(failureRate: 1)
    }

    private struct State {
        var faults: Faults
        var random: SplitMix64
        var calls = 0
        var failures = 0
    }

    private let wrapped: any CacheBackend
    private let state: Mutex<State>

    /// - Parameters:
    ///   - wrapped: the backend that serves the calls that do not fail.
    ///   - faults: what to inject at first.
    ///   - seed: seeds the generator that picks which calls fail, so a run is reproducible.
    public init(wrapping wrapped: any CacheBackend = InMemoryCacheBackend(), faults: Faults = .none, seed: UInt64 = 42)
    {
        self.wrapped = wrapped
        self.state = Mutex(State(faults: faults, random: SplitMix64(seed: seed)))
    }

    /// The faults in force; assign to change them while traffic runs.
    public var faults: Faults {
        get { state.withLock { $0.faults } }
        set { state.withLock { $0.faults = newValue } }
    }

    /// Calls that reached this backend (failed or not).
    public var calls: Int { state.withLock { $0.calls } }
    /// Calls this backend failed on purpose.
    public var failures: Int { state.withLock { $0.failures } }

    public func get(_ key: String) async throws(CacheError) -> [UInt8]? {
        try await inject()
        return try await wrapped.get(key)
    }

    public func get(many keys: [String]) async throws(CacheError) -> [[UInt8]?] {
        try await inject()
        return try await wrapped.get(many: keys)
    }

    public func set(_ key: String, _ value: [UInt8], ttl: Duration?) async throws(CacheError) {
        try await inject()
        try await wrapped.set(key, value, ttl: ttl)
    }

    public func delete(_ keys: [String]) async throws(CacheError) -> Int {
        try await inject()
        return try await wrapped.delete(keys)
    }

    public func invalidate(pattern: String) async throws(CacheError) -> Int {
        try await inject()
        return try await wrapped.invalidate(pattern: pattern)
    }

    public func ping() async throws(CacheError) {
        try await inject()
        try await wrapped.ping()
    }

    private func inject() async throws(CacheError) {
        let (faults, fail) = state.withLock { state -> (Faults, Bool) in
            state.calls += 1
            var fail = state.faults.failAfter.map { state.calls > $0 } ?? false
            if state.faults.failureRate > 0 {
                if state.random.nextUnit() < state.faults.failureRate { fail = true }
            }
            if fail || state.faults.hang != nil { state.failures += 1 }
            return (state.faults, fail)
        }
        if let hang = faults.hang {
            do {
                try await Task.sleep(for: hang)
            } catch {
                throw CacheError(.cancelled, "cancelled while the injected hang lasted")
            }
            throw CacheError(.unavailable, "TIMEOUT: injected hang of \(hang)")
        }
        if faults.latency > .zero {
            do {
                try await Task.sleep(for: faults.latency)
            } catch {
                throw CacheError(.cancelled, "cancelled during injected latency")
            }
        }
        if fail { throw CacheError(.unavailable, "injected failure") }
    }
}
