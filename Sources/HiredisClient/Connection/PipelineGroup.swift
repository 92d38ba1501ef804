import Synchronization

/// The commands of one explicit pipeline: the caller sleeps once, until the last of them has completed.
final class PipelineGroup: Sendable {
    private struct State {
        var remaining: Int
        var continuation: UnsafeContinuation<Void, Never>?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(remaining: count))
    }

    /// One command completed (by reply, deadline, cancellation or shutdown).
    func finished() {
        let continuation = state.withLock { state -> UnsafeContinuation<Void, Never>? in
            state.remaining -= 1
            guard state.remaining == 0 else { return nil }
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }

    /// Returns once every command of the pipeline has completed.
    func wait() async {
        await withUnsafeContinuation { continuation in
            let done = state.withLock { state in
                if state.remaining == 0 { return true }
                state.continuation = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }
}
