import Synchronization

/// A counter that concurrent tasks and `@Sendable` closures can bump, e.g. to count origin computations.
public final class ConcurrentCounter: Sendable {
    private let storage = Mutex(0)

    public init() {}

    public func increment() { storage.withLock { $0 += 1 } }

    public var value: Int { storage.withLock { $0 } }
}
