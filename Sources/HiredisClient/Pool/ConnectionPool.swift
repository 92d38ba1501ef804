import Logging
import Synchronization

/// The client's connections, and the choice of the one that takes each command.
///
/// A command goes to the least busy connection (ties to the lowest index): a lone caller keeps hitting one
/// connection whose thread is still polling for work, and concurrent callers spread across the pool. A caller
/// that runs on one of the client's event loops (``RedisClient/taskExecutors``) takes the least busy connection
/// of that loop. Connections waiting out a reconnect backoff are skipped while another may work.
final class ConnectionPool: Sendable {
    private let connections: [any PoolConnection]
    private let pending: PendingCounter

    /// Creates the connections: on the loops of `loops` when given, else each with its I/O thread, started here.
    /// None connects before its first command.
    init(
        configuration: RedisClientConfiguration,
        tlsContext: TLSContext?,
        loops: EventLoopGroup?,
        logger: Logger,
        instruments: ClientInstruments
    ) {
        let pending = PendingCounter(limit: configuration.maximumPendingCommands)
        self.pending = pending
        if let loops {
            self.connections = (0..<configuration.connectionCount).map { index in
                LoopConnection(
                    configuration: configuration,
                    tlsContext: tlsContext,
                    index: index,
                    loop: loops.nextLoop(),
                    pending: pending,
                    instruments: instruments,
                    logger: logger
                )
            }
        } else {
            let spinToken = SpinToken()
            let connections = (0..<configuration.connectionCount).map { index in
                RedisConnection(
                    configuration: configuration,
                    tlsContext: tlsContext,
                    index: index,
                    pending: pending,
                    spinToken: spinToken,
                    instruments: instruments,
                    logger: logger
                )
            }
            for connection in connections { connection.start() }
            self.connections = connections
        }
    }

    /// Queues `requests` together on one connection, in order.
    ///
    /// - Returns: why no connection took them (then none is queued), or `nil` once they are queued.
    func place(_ requests: some Collection<RedisRequest>) -> RedisClientError? {
        guard pending.reserve(requests.count) else {
            return RedisClientError(
                .poolExhausted,
                "more than \(pending.limit) commands are waiting for a connection"
            )
        }
        let count = connections.count
        var first = 0
        var lowest = Int.max
        var local = false
        for index in 0..<count {
            let connection = connections[index]
            // A caller on a connection's event loop stays on it: its reply then resumes it on this thread.
            let onThisThread = connection.drivesCurrentThread
            let load = connection.currentLoad
            if (onThisThread && !local) || (onThisThread == local && load < lowest) {
                lowest = load
                first = index
                local = onThisThread
            }
        }
        var lastError: RedisClientError?
        for offset in 0..<count {
            let connection = connections[(first + offset) % count]
            if offset < count - 1, connection.isBackingOff { continue }
            if let error = connection.enqueue(requests) {
                lastError = error
                if error.code == .closed { break }
                continue
            }
            return nil
        }
        pending.subtract(requests.count)
        return lastError ?? RedisClientError(.connectionFailed, "no connection available")
    }

    /// The event loops the connections run on, once each, in order; none with thread-per-connection.
    var executors: [any TaskExecutor] {
        var seen = Set<ObjectIdentifier>()
        var executors: [any TaskExecutor] = []
        for case let connection as LoopConnection in connections {
            let executor = connection.executor
            if seen.insert(ObjectIdentifier(executor)).inserted { executors.append(executor) }
        }
        return executors
    }

    /// Fails queued commands with ``RedisClientError/Code/closed`` and waits for every I/O thread to exit.
    /// Blocks: call it on a thread of the client's own, never on Swift's cooperative pool.
    func close() {
        for connection in connections { connection.close() }
    }

    /// Tells every I/O thread to exit without waiting for it.
    func closeWithoutWaiting() {
        for connection in connections { connection.closeWithoutWaiting() }
    }
}
