internal import CHiredis
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Nanoseconds on `CLOCK_MONOTONIC`, the clock the I/O and deadline threads wait on.
@usableFromInline
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// A pthread mutex with a condition variable that waits on `CLOCK_MONOTONIC`.
///
/// `Synchronization.Mutex` has no condition variable and Foundation's `NSCondition` waits on wall-clock time,
/// which jumps; the I/O threads need to sleep until "queue not empty" and the deadline thread until an
/// instant, so this wraps the two pthread objects. Heap-allocated because pthread objects must not move.
final class ConditionLock: @unchecked Sendable {
    // @unchecked: the pthread objects are themselves the synchronisation; they never move (heap storage).
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Waits for ``signal()``; the lock must be held.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits for ``signal()`` or until the monotonic instant; the lock must be held.
    func wait(untilNanoseconds deadline: UInt64) {
        var instant = timespec(
            tv_sec: Int(deadline / 1_000_000_000),
            tv_nsec: Int(deadline % 1_000_000_000)
        )
        pthread_cond_timedwait(condition, mutex, &instant)
    }

    func signal() { pthread_cond_signal(condition) }
}

/// A named thread the client owns, for blocking work that must stay off Swift's cooperative pool.
///
/// The name shows in `top -H`, `gdb`, `/proc/<pid>/task/*/comm` and crash reports, so a stuck or busy thread
/// can be traced to the client. Each thread is joined or detached exactly once, whichever comes first.
final class IOThread: Sendable {
    private final class Start {
        let body: @Sendable () -> Void
        init(body: @escaping @Sendable () -> Void) {
            self.body = body
        }
    }

    /// Linux keeps at most 15 bytes of a thread's name (16 with the terminating NUL).
    static let maximumNameLength = 15

    // pthread_t is an integer on Linux, so the handle is Sendable as it is.
    private let handle: pthread_t
    /// Set by the first of ``join()`` and ``detach()``; a pthread may be joined or detached only once.
    private let released = Atomic<Bool>(false)

    private init(handle: pthread_t) {
        self.handle = handle
    }

    /// Starts a thread named `name` (cut to ``maximumNameLength`` bytes) running `body`.
    static func spawn(name: String, _ body: @escaping @Sendable () -> Void) -> IOThread {
        let start = Unmanaged.passRetained(Start(body: body)).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(
            &handle,
            nil,
            { argument in
                let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
                start.body()
                return nil
            },
            start
        )
        precondition(result == 0, "pthread_create failed with \(result)")
        // Named here rather than by the thread itself, so the name is in place before anyone can look.
        _ = CHiredis_setThreadName(handle, String(decoding: name.utf8.prefix(maximumNameLength), as: UTF8.self))
        return IOThread(handle: handle)
    }

    /// Starts a thread running `body` that nobody joins; its resources go back to the system when it returns.
    static func spawnDetached(name: String, _ body: @escaping @Sendable () -> Void) {
        spawn(name: name, body).detach()
    }

    /// Waits for the thread to return, unless it was joined or detached before. Call from another thread.
    func join() {
        guard claim() else { return }
        pthread_join(handle, nil)
    }

    /// Lets the thread's resources go back to the system when it returns, without waiting for it; for a
    /// thread nobody will join (its owner was dropped). Does nothing if the thread was joined or detached.
    func detach() {
        guard claim() else { return }
        pthread_detach(handle)
    }

    private func claim() -> Bool {
        released.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}
