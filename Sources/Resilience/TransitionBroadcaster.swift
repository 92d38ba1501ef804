import Logging
import Synchronization

/// Delivers transitions in order to the log, the handler and every event stream.
///
/// Transitions are enqueued while the breaker's state lock is held, so the queue is in
/// generation order. Delivery happens outside every lock, by one thread at a time: whoever
/// finds nobody delivering drains the queue, including what others enqueue meanwhile.
/// A handler may therefore call back into the breaker (its transitions are queued and
/// delivered after it returns) without deadlock or reordering.
final class TransitionBroadcaster: Sendable {
    typealias Event = CircuitBreakerEvent

    private struct State: Sendable {
        var queue: [Event] = []
        var delivering = false
        var subscribers: [UInt64: AsyncStream<Event>.Continuation] = [:]
        var nextSubscriberID: UInt64 = 0
        var finished = false
    }

    private let state = Mutex(State())
    private let onTransition: (@Sendable (Event) -> Void)?
    private let logger: Logger
    private let name: String

    init(name: String, logger: Logger, onTransition: (@Sendable (Event) -> Void)?) {
        self.name = name
        self.logger = logger
        self.onTransition = onTransition
    }

    /// Queues events; call ``deliver()`` after releasing the state lock.
    func enqueue(_ events: [Event]) {
        state.withLock { $0.queue.append(contentsOf: events) }
    }

    /// Delivers queued events unless another thread is already doing so.
    func deliver() {
        guard var (batch, subscribers) = takeBatch(becomingDeliverer: true) else { return }
        while true {
            for event in batch {
                logger.log(
                    level: event.to == .open ? .warning : .notice,
                    "circuit breaker state changed",
                    metadata: [
                        "circuit_breaker": "\(name)",
                        "from": "\(event.from)",
                        "to": "\(event.to)",
                        "reason": "\(event.reason)",
                        "generation": "\(event.generation)",
                    ]
                )
                onTransition?(event)
                for subscriber in subscribers { subscriber.yield(event) }
            }
            guard let next = takeBatch(becomingDeliverer: false) else { return }
            (batch, subscribers) = next
        }
    }

    /// Takes the queue; `nil` (and, for the deliverer, the role given up) when there is nothing
    /// to take or, for a newcomer, when another thread is delivering.
    private func takeBatch(
        becomingDeliverer: Bool
    ) -> ([Event], [AsyncStream<Event>.Continuation])? {
        state.withLock { state in
            if becomingDeliverer && state.delivering { return nil }
            if state.queue.isEmpty {
                state.delivering = false
                return nil
            }
            state.delivering = true
            let batch = state.queue
            state.queue = []
            return (batch, Array(state.subscribers.values))
        }
    }

    /// A new stream of every event from now on; finished by ``finish()``.
    func makeStream() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(1024))
        let id = state.withLock { state -> UInt64? in
            if state.finished { return nil }
            let id = state.nextSubscriberID
            state.nextSubscriberID += 1
            state.subscribers[id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Finishes every stream; later streams finish at once.
    func finish() {
        let subscribers = state.withLock { state in
            state.finished = true
            let subscribers = Array(state.subscribers.values)
            state.subscribers = [:]
            return subscribers
        }
        for subscriber in subscribers { subscriber.finish() }
    }
}
