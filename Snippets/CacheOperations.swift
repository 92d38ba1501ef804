// Operating a cache: the circuit's transitions, a maintenance window, and the metrics snapshot.

// snippet.hide
import Logging
import RedisCache
import Resilience

// snippet.show
/// One log line per transition (the cache logs them too); run it in a task the service owns.
func watchCircuit(of cache: ResilientCache, logger: Logger) async {
    for await event in cache.circuit.makeEventStream() {
        logger.notice("cache circuit \(event.from) -> \(event.to): \(event.reason)")
    }
}

/// Redis maintenance: every call degrades without touching Redis, and the cache does not probe, for ten
/// minutes; then the circuit goes HALF_OPEN and the cache recovers by itself.
func startMaintenance(of cache: ResilientCache) {
    cache.circuit.forceOpen(reason: "redis upgrade", until: .now.advanced(by: .seconds(600)))
}

/// Ends a forced state early; back to CLOSED with fresh counts.
func endMaintenance(of cache: ResilientCache) {
    cache.circuit.reset()
}

/// The combined snapshot: the cache's counters, the journal and the breaker's own figures.
func report(on cache: ResilientCache) -> String {
    let metrics = cache.metrics
    let breaker = metrics.breaker
    return """
        hit rate \(metrics.hitRate), degraded \(metrics.degradedTotal), journal \(metrics.journalSize)
        circuit \(breaker.state), failure rate \(breaker.failureRate), rejected \(breaker.counts.rejected)
        """
}
