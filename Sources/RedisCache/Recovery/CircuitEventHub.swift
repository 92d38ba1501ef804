import Resilience
import Synchronization

/// Hands every transition of a cache's breakers to the streams of ``CacheCircuit``: each unit's breaker publishes
/// here as it delivers the transition (so, in order per breaker), from the unit's creation on — a stream taken
/// before a shard was known still sees that shard's first transition.
final class CircuitEventHub: Sendable {
    private enum Subscriber {
        case plain(AsyncStream<CircuitBreakerEvent>.Continuation)
        case tagged(AsyncStream<CacheCircuitEvent>.Continuation)

        func finish() {
            switch self {
            case .plain(let continuation): continuation.finish()
            case .tagged(let continuation): continuation.finish()
            }
        }

        /// Runs `handler` when the stream ends (finished, or its consumer gone).
        func whenTerminated(_ handler: @escaping @Sendable () -> Void) {
            switch self {
            case .plain(let continuation): continuation.onTermination = { _ in handler() }
            case .tagged(let continuation): continuation.onTermination = { _ in handler() }
            }
        }
    }

    private struct State {
        var subscribers: [Int: Subscriber] = [:]
        var next = 0
        var finished = false
    }

    private let state = Mutex(State())

    func publish(_ event: CircuitBreakerEvent, shard: String?) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers {
            switch subscriber {
            case .plain(let continuation): continuation.yield(event)
            case .tagged(let continuation): continuation.yield(CacheCircuitEvent(shard: shard, event: event))
            }
        }
    }

    func makeStream() -> AsyncStream<CircuitBreakerEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: CircuitBreakerEvent.self, bufferingPolicy: .bufferingNewest(1024))
        register(.plain(continuation))
        return stream
    }

    func makeShardStream() -> AsyncStream<CacheCircuitEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: CacheCircuitEvent.self, bufferingPolicy: .bufferingNewest(1024))
        register(.tagged(continuation))
        return stream
    }

    /// Adds `subscriber`, and removes it when its stream ends; finishes it at once after ``finish()``.
    private func register(_ subscriber: Subscriber) {
        let id = state.withLock { state -> Int? in
            if state.finished { return nil }
            let id = state.next
            state.next += 1
            state.subscribers[id] = subscriber
            return id
        }
        guard let id else {
            subscriber.finish()
            return
        }
        subscriber.whenTerminated { [weak self] in _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) } }
    }

    /// Ends every stream, and those made later at once.
    func finish() {
        let subscribers = state.withLock { state in
            state.finished = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        // Outside the lock: finishing a stream runs its termination handler, which takes the lock.
        for subscriber in subscribers { subscriber.finish() }
    }
}
