import Logging
import RedisCache
import Resilience
import Testing

/// `ResilientCacheConfiguration(environment:prefix:)`: every variable, and errors that name the bad one.
struct ResilientCacheEnvironmentTests {
    @Test func anEmptyEnvironmentGivesTheDefaults() throws {
        let configuration = try ResilientCacheConfiguration(environment: [:])
        let defaults = ResilientCacheConfiguration()
        #expect(configuration.namespace == defaults.namespace)
        #expect(configuration.defaultTTL == defaults.defaultTTL)
        #expect(configuration.negativeTTL == nil)
        #expect(configuration.breaker.failureThreshold == 5)
        #expect(configuration.breaker.openDuration == .seconds(60))
    }

    @Test func everyVariableSetsItsSetting() throws {
        let configuration = try ResilientCacheConfiguration(environment: [
            "CACHE_NAMESPACE": "catalog",
            "CACHE_DEFAULT_TTL": "5m",
            "CACHE_TTL_JITTER": "0.2",
            "CACHE_NEGATIVE_TTL": "10s",
            "CACHE_DEGRADE_ON_FAILURE": "false",
            "CACHE_MAXIMUM_VALUE_SIZE": "1024",
            "CACHE_JOURNAL_CAPACITY": "500",
            "CACHE_REPLAY_BATCH_SIZE": "50",
            "CACHE_DURABLE_JOURNAL_DIRECTORY": "/var/lib/app/journal",
            "CACHE_PROBE_INTERVAL": "500ms",
            "CACHE_MAXIMUM_PROBE_INTERVAL": "1s",
            "CACHE_PROBE_TIMEOUT": "300ms",
            "CACHE_SHUTDOWN_REPLAY_TIMEOUT": "0s",
            "CACHE_FAILURE_THRESHOLD": "3",
            "CACHE_SUCCESS_THRESHOLD": "2",
            "CACHE_OPEN_DURATION": "30s",
            "CACHE_MAXIMUM_OPEN_DURATION": "5m",
            "CACHE_ROLLING_WINDOW": "2m",
            "CACHE_FAILURE_RATE_THRESHOLD": "off",
            "CACHE_MINIMUM_CALLS": "20",
            "CACHE_SLOW_CALL_THRESHOLD": "200ms",
            "CACHE_RECOVERY_FACTOR": "0.25",
        ])
        #expect(configuration.namespace == "catalog:")
        #expect(configuration.defaultTTL == .seconds(300))
        #expect(configuration.ttlJitter == 0.2)
        #expect(configuration.negativeTTL == .seconds(10))
        #expect(configuration.degradeOnFailure == false)
        #expect(configuration.maximumValueSize == 1024)
        #expect(configuration.journalCapacity == 500)
        #expect(configuration.replayBatchSize == 50)
        #expect(configuration.durableJournalDirectory == "/var/lib/app/journal")
        #expect(configuration.probeInterval == .milliseconds(500))
        #expect(configuration.maximumProbeInterval == .seconds(1))
        #expect(configuration.probeTimeout == .milliseconds(300))
        #expect(configuration.shutdownReplayTimeout == .zero)
        let breaker = configuration.breaker
        #expect(breaker.failureThreshold == 3)
        #expect(breaker.successThreshold == 2)
        #expect(breaker.openDuration == .seconds(30))
        #expect(breaker.openBackoff.maxOpenDuration == .seconds(300))
        #expect(breaker.rollingWindow == .seconds(120))
        #expect(breaker.failureRateThreshold == nil)
        #expect(breaker.minimumCalls == 20)
        #expect(breaker.slowCallThreshold == .milliseconds(200))
        #expect(breaker.recoveryFactor == 0.25)
    }

    @Test func noneTurnsTheDefaultTTLOffAndALongOpenDurationRaisesTheCap() throws {
        let configuration = try ResilientCacheConfiguration(
            environment: ["APP_CACHE_DEFAULT_TTL": "none", "APP_CACHE_OPEN_DURATION": "20m"],
            prefix: "APP_CACHE_"
        )
        #expect(configuration.defaultTTL == nil)
        #expect(configuration.breaker.openDuration == .seconds(1200))
        #expect(configuration.breaker.openBackoff.maxOpenDuration == .seconds(1200))
    }

    @Test(arguments: [
        ("CACHE_DEFAULT_TTL", "300", "unit"),
        ("CACHE_DEFAULT_TTL", "0s", "more than"),
        ("CACHE_NEGATIVE_TTL", "soon", "unit"),
        ("CACHE_TTL_JITTER", "1.5", "0 ≤ x < 1"),
        ("CACHE_TTL_JITTER", "a lot", "not a number"),
        ("CACHE_FAILURE_THRESHOLD", "0", "not in"),
        ("CACHE_FAILURE_THRESHOLD", "five", "whole number"),
        ("CACHE_OPEN_DURATION", "-30s", "unit"),
        ("CACHE_FAILURE_RATE_THRESHOLD", "2", "0 < x ≤ 1"),
        ("CACHE_RECOVERY_FACTOR", "0", "0 < x ≤ 1"),
        ("CACHE_MAXIMUM_PROBE_INTERVAL", "10ms", "shorter than CACHE_PROBE_INTERVAL"),
        ("CACHE_DEGRADE_ON_FAILURE", "sometimes", "true or false"),
        ("CACHE_MAXIMUM_OPEN_DURATION", "1s", "shorter than the open duration"),
    ])
    func aBadValueThrowsInvalidConfigurationNamingTheVariable(variable: String, value: String, reason: String) throws {
        let error = #expect(throws: CacheError.self) {
            try ResilientCacheConfiguration(environment: [variable: value])
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.code.description == "INVALID_CONFIGURATION")
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(variable) == true, "\(error?.message ?? "")")
    }
}

/// `ResilientCache(environment:)` with `REDIS_CLUSTER_URL`: a cache over a cluster, contacted only when used.
struct ResilientCacheClusterEnvironmentTests {
    let logger = Logging.Logger(label: "test", factory: { _ in Logging.SwiftLogNoOpLogHandler() })

    @Test func aClusterURLMakesAShardedCache() throws {
        let cache = try ResilientCache(
            environment: ["REDIS_CLUSTER_URL": "redis://127.0.0.1:1,127.0.0.1:2", "REDIS_COMMAND_TIMEOUT": "50ms"],
            logger: logger
        )
        #expect(cache.health().shards == [], "sharded, with no shard known before the first call")
        let plain = try ResilientCache(environment: ["REDIS_URL": "redis://127.0.0.1:1"], logger: logger)
        #expect(plain.health().shards == nil)
    }

    @Test func aBadClusterURLOrADatabaseIsRefusedNamingTheVariable() throws {
        #expect {
            try ResilientCache(environment: ["REDIS_CLUSTER_URL": "redis://h:1,,h:2"], logger: logger)
        } throws: { error in
            "\(error)".contains("REDIS_CLUSTER_URL")
        }
        #expect {
            try ResilientCache(
                environment: ["REDIS_CLUSTER_URL": "redis://h:1", "REDIS_DATABASE": "2"], logger: logger)
        } throws: { error in
            "\(error)".contains("REDIS_DATABASE") && "\(error)".contains("only database 0")
        }
    }
}
