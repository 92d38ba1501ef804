import CoreMetrics

/// The client's swift-metrics instruments, created once with the factory given to ``RedisClient``.
///
/// | metric | type | |
/// |---|---|---|
/// | `redis_connections_open` | meter | connections established and not lost or closed |
/// | `redis_connects_total` | counter | connections established (handshake included), first ones and later ones |
/// | `redis_reconnects_total` | counter | of those, the ones that replaced a connection that was lost |
/// | `redis_timeouts_total` | counter | calls that ended because their deadline passed |
/// | `redis_commands_in_flight` | meter | commands written to Redis and awaiting their replies |
/// | `redis_pipeline_batch_size` | recorder | commands per write: the batches auto-pipelining forms |
///
/// The gauges are meters, incremented and decremented, so that several clients in one process add up instead
/// of overwriting each other's value.
///
/// Nothing here runs per command on the caller's path: the I/O thread records once per write batch and once per
/// connection change, and a caller records only a timeout. With swift-metrics' no-op factory nothing is
/// recorded at all.
final class ClientInstruments: Sendable {
    /// False with the no-op factory: the I/O threads then skip their per-batch recording.
    let isEnabled: Bool
    private let connectionsOpen: Meter
    private let connects: Counter
    private let reconnects: Counter
    private let timeouts: Counter
    private let commandsInFlight: Meter
    private let batchSize: Recorder

    /// - Parameter dimensions: added to every metric; a cluster's node clients pass `[("node", "host:port")]`.
    init(factory: any MetricsFactory, dimensions: [(String, String)] = []) {
        isEnabled = !(factory is NOOPMetricsHandler)
        connectionsOpen = Meter(label: "redis_connections_open", dimensions: dimensions, factory: factory)
        connects = Counter(label: "redis_connects_total", dimensions: dimensions, factory: factory)
        reconnects = Counter(label: "redis_reconnects_total", dimensions: dimensions, factory: factory)
        timeouts = Counter(label: "redis_timeouts_total", dimensions: dimensions, factory: factory)
        commandsInFlight = Meter(label: "redis_commands_in_flight", dimensions: dimensions, factory: factory)
        batchSize = Recorder(
            label: "redis_pipeline_batch_size",
            dimensions: dimensions,
            aggregate: true,
            factory: factory
        )
    }

    /// A connection was established; `again` when it replaces one this connection slot had before.
    func connected(again: Bool) {
        guard isEnabled else { return }
        connectionsOpen.increment()
        connects.increment()
        if again { reconnects.increment() }
    }

    /// An established connection was lost or closed.
    func disconnected() {
        guard isEnabled else { return }
        connectionsOpen.decrement()
    }

    /// A write batch of `count` commands went to Redis.
    func batchSent(_ count: Int) {
        guard isEnabled, count > 0 else { return }
        batchSize.record(count)
        commandsInFlight.increment(by: Double(count))
    }

    /// Every command of a batch of `count` has its reply or its error.
    func batchFinished(_ count: Int) {
        guard isEnabled, count > 0 else { return }
        commandsInFlight.decrement(by: Double(count))
    }

    /// `count` calls ended with ``RedisClientError/Code/timeout``.
    func timedOut(_ count: Int = 1) {
        guard isEnabled, count > 0 else { return }
        timeouts.increment(by: Int64(count))
    }
}
