import HiredisClient
import Logging
import Resilience
import ServiceLifecycle
import Synchronization

extension ResilientCache: Service {
    /// Runs everything the cache does in the background, until the task is cancelled, ``shutdown()`` is called,
    /// or (in a `ServiceGroup`) a graceful shutdown begins: the breaker's timers and the recovery loop, which
    /// probes the backend while the circuit is open, replays the invalidation journal, drops expired journal
    /// entries and refreshes the failure-rate gauge (the journal-size gauge is recorded on every change).
    ///
    /// On the way out it replays what is still journaled straight to the backend (an open circuit does not stop
    /// it), for at most ``ResilientCacheConfiguration/shutdownReplayTimeout``, and logs and counts whatever could
    /// not be replayed (with ``ResilientCacheConfiguration/durableJournalDirectory`` set, it stays on disk for the
    /// next start). Then it closes the Redis client the cache created, if it created one. Nothing the cache
    /// started is still running when `run()` returns.
    ///
    /// Run it once per cache (a second call returns at once). Without it the cache still serves, but nothing
    /// probes Redis or replays the journal: journaled keys stay misses. Stop it with a graceful shutdown or
    /// ``shutdown()``: cancelling the task that runs it also cancels the last replay's calls to Redis.
    ///
    /// ```swift
    /// let group = ServiceGroup(services: [cache, httpServer], logger: logger)
    /// try await group.run()
    /// ```
    public func run() async {
        // One run per cache: a second one (concurrent or later) would close the client under the first.
        guard runStarted.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else {
            logger.error("ResilientCache.run() called more than once; this call returns at once")
            return
        }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                if let run = self.ownedClient?.run { group.addTask { await run() } }
                // Every recovery unit's breaker timers and loop; over a cluster, a shard seen later joins here.
                for await unit in self.units.watch() {
                    group.addTask { await unit.breaker.run() }
                    group.addTask { await unit.run() }
                    if unit.journal.isDurable { group.addTask { await unit.journal.runDurableWriter() } }
                }
                // The stream ends at shutdown; the units stop with it.
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.shutdown()
        }
        // Also when the task was cancelled rather than shut down: no unit made from now on runs a loop.
        units.stopAll()
        let all = units.all
        await withTaskGroup(of: Void.self) { group in
            for unit in all { group.addTask { await unit.finalReplay() } }
        }
        for unit in all {
            unit.journal.closeDurable()
            unit.breaker.shutdown()
        }
        await ownedClient?.close()
    }

    /// Ends ``run()`` (which then replays what it can and closes the cache's own client).
    public func shutdown() {
        units.stopAll()
    }
}
