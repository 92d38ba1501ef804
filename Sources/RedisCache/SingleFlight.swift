import Synchronization

/// Runs one computation per key at a time; concurrent callers for the same key share its result.
///
/// This is the stampede protection of ``ResilientCache/fetchWithSource(_:ttl:compute:)``: while the circuit is open every
/// read is a miss, and without it a hot key would send every concurrent request to the origin at once.
/// The computation runs in its own task, so a caller that is cancelled does not cancel it for the others.
final class SingleFlight<Value: Sendable>: Sendable {
    private let flights = Mutex<[String: Task<Value, any Error>]>([:])

    /// How many keys are being computed right now.
    var inFlight: Int { flights.withLock { $0.count } }

    /// Returns the result of `operation` for `key`, running it only if no run for `key` is in progress.
    /// - Returns: the value, and whether this caller ran the operation (false when it joined another's run).
    func run(
        _ key: String,
        _ operation: @escaping @Sendable () async throws -> Value
    ) async throws -> (value: Value, ranIt: Bool) {
        let (task, leader) = flights.withLock { flights -> (Task<Value, any Error>, Bool) in
            if let running = flights[key] { return (running, false) }
            let task = Task<Value, any Error> { [self] in
                defer { _ = self.flights.withLock { $0.removeValue(forKey: key) } }
                return try await operation()
            }
            flights[key] = task
            return (task, true)
        }
        return (try await task.value, leader)
    }
}
