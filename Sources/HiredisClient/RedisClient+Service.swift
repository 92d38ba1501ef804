import ServiceLifecycle

extension RedisClient: Service {
    /// Keeps the client open until a graceful shutdown begins or the task is cancelled, then closes it: queued
    /// and in-flight calls fail with ``RedisClientError/Code/closed``, the I/O and deadline threads have ended
    /// and every connection is closed when `run()` returns.
    ///
    /// The client serves calls whether or not `run()` is running; `run()` only ties its end to the service's.
    ///
    /// ```swift
    /// let client = try RedisClient(configuration: configuration, logger: logger)
    /// let group = ServiceGroup(services: [client, httpServer], logger: logger)
    /// try await group.run()
    /// ```
    public func run() async {
        // Returns on a graceful shutdown and throws CancellationError on cancellation: either way, close.
        try? await gracefulShutdown()
        await close()
    }
}
