import HiredisClient
import Resilience

extension ResilientCacheConfiguration {
    /// Reads the configuration from environment variables.
    ///
    /// Every variable is optional; what is unset (or empty) keeps its default. With the default prefix `CACHE_`:
    ///
    /// | variable | example | sets |
    /// |---|---|---|
    /// | `CACHE_NAMESPACE` | `catalog:` | ``namespace`` |
    /// | `CACHE_DEFAULT_TTL` | `5m`, `none` | ``defaultTTL`` |
    /// | `CACHE_TTL_JITTER` | `0.1` | ``ttlJitter`` (0 ≤ x < 1) |
    /// | `CACHE_NEGATIVE_TTL` | `10s`, `off` | ``negativeTTL`` |
    /// | `CACHE_DEGRADE_ON_FAILURE` | `true` | ``degradeOnFailure`` |
    /// | `CACHE_MAXIMUM_VALUE_SIZE` | `4194304` | ``maximumValueSize`` (bytes) |
    /// | `CACHE_JOURNAL_CAPACITY` | `10000` | ``journalCapacity`` |
    /// | `CACHE_DURABLE_JOURNAL_DIRECTORY` | `/var/lib/app/journal` | ``durableJournalDirectory`` |
    /// | `CACHE_PROBE_INTERVAL`, `CACHE_MAXIMUM_PROBE_INTERVAL`, `CACHE_PROBE_TIMEOUT` | `100ms`, `250ms`, `250ms` | recovery probing |
    /// | `CACHE_SHUTDOWN_REPLAY_TIMEOUT` | `2s` | ``shutdownReplayTimeout`` |
    /// | `CACHE_REPLICATION_LOSS_WINDOW` | 2 s over a cluster, off otherwise | ``replicationLossWindow`` |
    /// | `CACHE_FAILURE_THRESHOLD` | `5` | ``CircuitBreakerConfiguration/failureThreshold`` |
    /// | `CACHE_SUCCESS_THRESHOLD` | `3` | ``CircuitBreakerConfiguration/successThreshold`` |
    /// | `CACHE_OPEN_DURATION` | `60s` | ``CircuitBreakerConfiguration/openDuration`` |
    /// | `CACHE_MAXIMUM_OPEN_DURATION` | `10m` | ``CircuitBreakerConfiguration/OpenBackoff/maxOpenDuration`` |
    /// | `CACHE_ROLLING_WINDOW` | `5m` | ``CircuitBreakerConfiguration/rollingWindow`` |
    /// | `CACHE_FAILURE_RATE_THRESHOLD` | `0.5`, `off` | ``CircuitBreakerConfiguration/failureRateThreshold`` |
    /// | `CACHE_MINIMUM_CALLS` | `100` | ``CircuitBreakerConfiguration/minimumCalls`` |
    /// | `CACHE_SLOW_CALL_THRESHOLD` | `200ms`, `off` | ``CircuitBreakerConfiguration/slowCallThreshold`` |
    /// | `CACHE_RECOVERY_FACTOR` | `0.5` | ``CircuitBreakerConfiguration/recoveryFactor`` |
    ///
    /// Durations take a unit: `250ms`, `2s`, `1m`, `1h`. The recommended ranges are in the Configuration
    /// article.
    ///
    /// - Parameters:
    ///   - environment: the variables to read, e.g. `ProcessInfo.processInfo.environment`.
    ///   - prefix: put before every variable name. Default `CACHE_`.
    /// - Throws: ``CacheError`` with code ``CacheError/Code/invalidConfiguration`` and a message that starts with
    ///   the variable's name. Nothing traps: values are checked before they are set.
    public init(
        environment: [String: String],
        prefix: String = "CACHE_"
    ) throws(CacheError) {
        try self.init(settings: .environment(environment, prefix: prefix))
    }

    /// Reads the configuration from `settings`: the environment initializer and swift-configuration's.
    package init(settings: SettingsSource) throws(CacheError) {
        self.init()
        do throws(SettingProblem) {
            try apply(settings)
        } catch {
            throw CacheError(.invalidConfiguration, "invalid cache configuration: \(error.message)")
        }
        do throws(CircuitBreakerConfiguration.ValidationError) {
            try breaker.validate()
        } catch {
            throw CacheError(.invalidConfiguration, "invalid cache configuration: breaker: \(error.message)")
        }
    }

    private mutating func apply(_ settings: SettingsSource) throws(SettingProblem) {
        if let namespace = settings.text(["namespace"]) { self.namespace = namespace }
        if let ttl = try settings.durationOrOff(["default", "ttl"]) { defaultTTL = ttl }
        if let jitter = try settings.number(
            ["ttl", "jitter"], check: { (0..<1).contains($0) ? nil : "must be 0 ≤ x < 1" })
        {
            ttlJitter = jitter
        }
        if let ttl = try settings.durationOrOff(["negative", "ttl"]) { negativeTTL = ttl }
        if let degrade = try settings.flag(["degrade", "on", "failure"]) { degradeOnFailure = degrade }
        if let size = try settings.integer(["maximum", "value", "size"], in: 1...Int.max) { maximumValueSize = size }
        if let capacity = try settings.integer(["journal", "capacity"], in: 1...Int.max) { journalCapacity = capacity }
        if let batch = try settings.integer(["replay", "batch", "size"], in: 1...Int.max) { replayBatchSize = batch }
        if let directory = settings.text(["durable", "journal", "directory"]) { durableJournalDirectory = directory }
        // The two probe intervals are checked together before either is set: the setters trap on an inverted pair.
        let interval = try settings.duration(["probe", "interval"]) ?? probeInterval
        let maximumInterval =
            try settings.duration(["maximum", "probe", "interval"]) ?? max(maximumProbeInterval, interval)
        guard maximumInterval >= interval else {
            throw SettingProblem(
                settings.name(["maximum", "probe", "interval"]),
                "\(maximumInterval) is shorter than \(settings.name(["probe", "interval"])) \(interval)"
            )
        }
        maximumProbeInterval = maximumInterval
        probeInterval = interval
        if let timeout = try settings.duration(["probe", "timeout"]) { probeTimeout = timeout }
        if let window = try settings.duration(["replication", "loss", "window"], minimumExcluded: false) {
            replicationLossWindow = window
        }
        if let timeout = try settings.duration(["shutdown", "replay", "timeout"], minimumExcluded: false) {
            shutdownReplayTimeout = timeout
        }
        try breaker.apply(settings)
    }
}

extension CircuitBreakerConfiguration {
    fileprivate mutating func apply(_ settings: SettingsSource) throws(SettingProblem) {
        if let threshold = try settings.integer(["failure", "threshold"], in: 1...Int.max) {
            failureThreshold = threshold
        }
        if let threshold = try settings.integer(["success", "threshold"], in: 1...Int.max) {
            successThreshold = threshold
        }
        if let duration = try settings.duration(["open", "duration"]) { openDuration = duration }
        if let duration = try settings.duration(["maximum", "open", "duration"]) {
            guard duration >= openDuration else {
                throw SettingProblem(
                    settings.name(["maximum", "open", "duration"]),
                    "\(duration) is shorter than the open duration \(openDuration)"
                )
            }
            openBackoff.maxOpenDuration = duration
        } else if openBackoff.maxOpenDuration < openDuration {
            openBackoff.maxOpenDuration = openDuration
        }
        if let window = try settings.duration(["rolling", "window"]) { rollingWindow = window }
        if let text = settings.text(["failure", "rate", "threshold"]), ["off", "none"].contains(text.lowercased()) {
            failureRateThreshold = nil
        } else if let rate = try settings.number(
            ["failure", "rate", "threshold"],
            check: { $0 > 0 && $0 <= 1 ? nil : "must be 0 < x ≤ 1, or off" }
        ) {
            failureRateThreshold = rate
        }
        if let calls = try settings.integer(["minimum", "calls"], in: 1...Int.max) { minimumCalls = calls }
        if let threshold = try settings.durationOrOff(["slow", "call", "threshold"]) { slowCallThreshold = threshold }
        if let factor = try settings.number(
            ["recovery", "factor"],
            check: { $0 > 0 && $0 <= 1 ? nil : "must be 0 < x ≤ 1" }
        ) {
            recoveryFactor = factor
        }
    }
}
