import Synchronization

/// One command on its way: the encoded words, its deadline, and the caller's continuation.
///
/// Exactly one of the reply, the deadline, a cancellation or a shutdown completes it; ``complete(_:)`` lets the
/// first win and ignores the others, so the caller is resumed exactly once whichever thread gets there first.
final class RedisRequest: Sendable {
    typealias Continuation = UnsafeContinuation<Result<RedisReply, RedisClientError>, Never>

    private enum Progress {
        case waiting(Continuation?)
        case completed(Result<RedisReply, RedisClientError>?)
    }

    /// Which connection and write batch carry this command, so the deadline thread can cut a connection whose
    /// reply stream a timeout has put out of sync.
    struct Placement {
        var connection: (any PoolConnection)?
        var batch: UInt64 = 0
    }

    private struct State {
        var progress: Progress = .waiting(nil)
        var placement = Placement()
        /// Completed because the caller stopped waiting, not by its reply: if the command was written, its
        /// reply is still due, and the connection must not wait for it past the deadline.
        var abandoned = false
    }

    let command: RedisCommand
    /// Monotonic nanoseconds after which the caller gets a timeout.
    let deadline: UInt64
    private let state = Mutex(State())

    /// Set for the commands of an explicit pipeline: they wake their caller once, together, instead of each.
    let group: PipelineGroup?

    init(command: RedisCommand, deadline: UInt64, group: PipelineGroup? = nil) {
        self.command = command
        self.deadline = deadline
        self.group = group
    }

    /// The result of a completed request that was never given a continuation (a pipeline's command).
    var result: Result<RedisReply, RedisClientError>? {
        state.withLock { state in
            if case .completed(let result) = state.progress { result } else { nil }
        }
    }

    /// Hands over the caller's continuation; resumes it at once if the request already completed.
    func install(_ continuation: Continuation) {
        let early: Result<RedisReply, RedisClientError>? = state.withLock { state in
            switch state.progress {
            case .waiting:
                state.progress = .waiting(continuation)
                return nil
            case .completed(let result):
                state.progress = .completed(nil)
                return result
            }
        }
        if let early { continuation.resume(returning: early) }
    }

    /// Completes the request; returns false when something else completed it first.
    @discardableResult
    func complete(_ result: Result<RedisReply, RedisClientError>, abandoning: Bool = false) -> Bool {
        let continuation: Continuation?? = state.withLock { state in
            switch state.progress {
            case .waiting(let continuation):
                // Without a continuation yet, keep the result for install().
                state.progress = .completed(continuation == nil ? result : nil)
                // In the same critical section: the deadline thread never sees it completed but not abandoned.
                state.abandoned = abandoning
                return .some(continuation)
            case .completed:
                return .none
            }
        }
        switch continuation {
        case .none: return false
        case .some(let continuation):
            if let continuation {
                continuation.resume(returning: result)
            } else {
                group?.finished()
            }
            return true
        }
    }

    /// Fails the request with `error`, or with ``RedisClientError/Code/timeout`` if its deadline has passed.
    ///
    /// Whichever party fails a late request — the watchdog, the I/O thread that saw its connection cut, a
    /// shutdown, a cancellation — the caller learns what happened first: its deadline passed.
    ///
    /// - Returns: false when something else completed the request first.
    @discardableResult
    func fail(_ error: RedisClientError, abandoning: Bool = false) -> Bool {
        if error.code != .timeout, monotonicNanoseconds() >= deadline {
            var timeout = timeoutError()
            timeout.underlying = error
            return complete(.failure(timeout), abandoning: abandoning)
        }
        return complete(.failure(error), abandoning: abandoning)
    }

    /// Completes the request because the calling task was cancelled. A command already written still holds its
    /// connection until its reply comes; the deadline thread cuts the connection at the deadline if it does not
    /// (a server that never answers must not keep the connection, and the calls queued behind it, forever).
    func cancel() {
        fail(RedisClientError(.cancelled, "the calling task was cancelled"), abandoning: true)
    }

    /// Whether the caller stopped waiting before a reply (see ``cancel()``).
    var wasAbandoned: Bool {
        state.withLock { $0.abandoned }
    }

    /// The error of a request whose deadline passed before its reply came.
    func timeoutError() -> RedisClientError {
        RedisClientError(.timeout, "no reply to \(command) within the command timeout")
    }

    var isCompleted: Bool {
        state.withLock { state in
            if case .completed = state.progress { true } else { false }
        }
    }

    /// Records the batch that carries the command, unless the request already completed (timed out or
    /// cancelled while queued: then it must not be sent). One lock for both, on every command.
    func place(on connection: any PoolConnection, batch: UInt64) -> Bool {
        state.withLock { state in
            state.placement = Placement(connection: connection, batch: batch)
            if case .completed = state.progress { return false }
            return true
        }
    }

    var placement: Placement {
        state.withLock { $0.placement }
    }
}
