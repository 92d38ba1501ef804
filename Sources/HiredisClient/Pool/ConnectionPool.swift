import Logging
import Synchronization

/// The client's connections, and the choice of the one that takes each command.
///
/// A command goes to the least busy connection (ties to the lowest index): a lone caller keeps hitting one
/// connection whose thread is still polling for work, and concurrent callers spread across the pool. Connections
/// waiting out a reconnect backoff are skipped while another may work.
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
        for index in 0..<count {
            let load = connections[index].currentLoad
            if load < lowest {
                lowest = load
                first = index
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
