import Configuration
import HiredisClient
import RedisCache
import RedisCacheConfiguration
import Resilience
import Testing

/// The settings read through swift-configuration: the same names as the environment, in camel case.
struct ConfigReaderTests {
    @Test func anInMemoryProviderSetsTheClientAndTheCache() throws {
        let config = ConfigReader(
            provider: InMemoryProvider(values: [
                "redis.url": "redis://cache:6380/2",
                "redis.password": ConfigValue("s3cret", isSecret: true),
                "redis.connections": 8,
                "redis.commandTimeout": "250ms",
                "cache.namespace": "catalog",
                "cache.negativeTtl": "10s",
                "cache.failureThreshold": 3,
                "cache.openDuration": "30s",
                "cache.ttlJitter": 0.2,
                "cache.degradeOnFailure": false,
            ])
        )
        let redis = try RedisClientConfiguration(config: config.scoped(to: "redis"))
        #expect(redis.endpoint == .tcp(host: "cache", port: 6380))
        #expect(redis.database == 2)
        #expect(redis.authentication?.password == "s3cret")
        #expect(redis.connectionCount == 8)
        #expect(redis.commandTimeout == .milliseconds(250))
        let cache = try ResilientCacheConfiguration(config: config.scoped(to: "cache"))
        #expect(cache.namespace == "catalog:")
        #expect(cache.negativeTTL == .seconds(10))
        #expect(cache.breaker.failureThreshold == 3)
        #expect(cache.breaker.openDuration == .seconds(30))
        #expect(cache.ttlJitter == 0.2)
        #expect(cache.degradeOnFailure == false)
    }

    @Test func theEnvironmentProviderReadsTheSameVariablesAsTheEnvironmentInitializers() throws {
        let environment = [
            "REDIS_URL": "redis://cache:6380", "REDIS_COMMAND_TIMEOUT": "300ms", "REDIS_CONNECT_TIMEOUT": "2s",
            "CACHE_DEFAULT_TTL": "2m", "CACHE_NEGATIVE_TTL": "5s", "CACHE_ROLLING_WINDOW": "4m",
            "CACHE_MAXIMUM_PROBE_INTERVAL": "500ms",
        ]
        let config = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        let redis = try RedisClientConfiguration(config: config.scoped(to: "redis"))
        let fromEnvironment = try RedisClientConfiguration(environment: environment)
        #expect(redis.endpoint == fromEnvironment.endpoint)
        #expect(redis.commandTimeout == .milliseconds(300))
        #expect(redis.commandTimeout == fromEnvironment.commandTimeout)
        #expect(redis.connectTimeout == .seconds(2))
        let cache = try ResilientCacheConfiguration(config: config.scoped(to: "cache"))
        #expect(cache.defaultTTL == .seconds(120))
        #expect(cache.negativeTTL == .seconds(5))
        #expect(cache.breaker.rollingWindow == .seconds(240))
        #expect(cache.maximumProbeInterval == .milliseconds(500))
    }

    @Test func aBadValueNamesTheKeyWithItsScope() throws {
        let config = ConfigReader(
            provider: InMemoryProvider(values: ["redis.commandTimeout": "soon", "cache.failureThreshold": 0])
        )
        let clientError = #expect(throws: RedisClientError.self) {
            try RedisClientConfiguration(config: config.scoped(to: "redis"))
        }
        #expect(clientError?.code == .invalidConfiguration)
        #expect(clientError?.message.contains("commandTimeout") == true)
        let cacheError = #expect(throws: CacheError.self) {
            try ResilientCacheConfiguration(config: config.scoped(to: "cache"))
        }
        #expect(cacheError?.code == .invalidConfiguration)
        #expect(cacheError?.message.contains("failureThreshold") == true)
    }
}
