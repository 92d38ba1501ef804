import Synchronization

/// Lets at most one I/O thread of a client (with thread-per-connection), or one loop of an ``EventLoopGroup``,
/// busy-poll at a time.
///
/// Polling instead of sleeping saves a wake-up per call when a caller waits for each reply (one wake-up of an
/// idle vCPU costs tens of microseconds on the VMs this was measured on), but on 2 cores four polling threads
/// would starve Redis and the callers; one is the measured sweet spot.
final class SpinToken: Sendable {
    private let held = Atomic<Bool>(false)

    func tryAcquire() -> Bool {
        held.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    }

    func release() {
        held.store(false, ordering: .releasing)
    }
}
