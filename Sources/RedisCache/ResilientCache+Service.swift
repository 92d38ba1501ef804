import Resilience
import ServiceLifecycle

extension ResilientCache: Service {
    /// Drives the breaker's timers and active probe, keeps the gauges current, drops expired journal entries
    /// and replays the journal when the backend answers again — until the task is cancelled, ``shutdown()`` is
    /// called, or (in a `ServiceGroup`) a graceful shutdown begins. On the way out it tries one last replay, so
    /// invalidations from an outage are not lost when the service stops.
    ///
    /// ```swift
    /// let group = ServiceGroup(services: [cache, httpServer], logger: logger)
    /// try await group.run()
    /// ```
    public func run() async {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.breaker.run() }
                group.addTask { await self.maintain() }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.shutdown()
        }
        if !journal.status.isEmpty {
            try? await journal.replay(through: breaker)
        }
    }
}
