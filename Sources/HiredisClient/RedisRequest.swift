import Synchronization

/// One command on its way: the encoded words, its deadline, and the caller's continuation.
///
/// Exactly one of the reply, the deadline, a cancellation or a shutdown completes it; ``complete(_:)`` lets the
/// first win and ignores the others, so the caller is resumed exactly once whichever thread gets there first.
final class RedisRequest: Sendable {
    typealias Continuation = UnsafeContinuation<Result<RedisReply, RedisClientError>, Never>

    private enum State {
        case waiting(Continuation?)
        case completed(Result<RedisReply, RedisClientError>?)
    }

    let command: RedisCommand
    /// Monotonic nanoseconds after which the caller gets a timeout.
    let deadline: UInt64
    private let state = Mutex<State>(.waiting(nil))
    /// Which connection and write batch carry this command, so the deadline thread can cut a connection whose
    /// reply stream a timeout has put out of sync. Written by the I/O thread under the connection's lock.
    let placement = Mutex<(connection: RedisConnection?, batch: UInt64)>((nil, 0))

    init(command: RedisCommand, deadline: UInt64) {
        self.command = command
        self.deadline = deadline
    }

    /// Hands over the caller's continuation; resumes it at once if the request already completed.
    func install(_ continuation: Continuation) {
        let early: Result<RedisReply, RedisClientError>? = state.withLock { state in
            switch state {
            case .waiting:
                state = .waiting(continuation)
                return nil
            case .completed(let result):
                state = .completed(nil)
                return result
            }
        }
        if let early { continuation.resume(returning: early) }
    }

    /// Completes the request; returns false when something else completed it first.
    @discardableResult
    func complete(_ result: Result<RedisReply, RedisClientError>) -> Bool {
        let continuation: Continuation?? = state.withLock { state in
            switch state {
            case .waiting(let continuation):
                // Without a continuation yet, keep the result for install().
                state = .completed(continuation == nil ? result : nil)
                return .some(continuation)
            case .completed:
                return .none
            }
        }
        switch continuation {
        case .none: return false
        case .some(let continuation):
            continuation?.resume(returning: result)
            return true
        }
    }

    var isCompleted: Bool {
        state.withLock { state in
            if case .completed = state { true } else { false }
        }
    }
}
