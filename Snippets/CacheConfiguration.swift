// A cache configured beyond the defaults: the Redis client's deadlines, the breaker, the journal. Nothing is
// contacted here: the cache starts while Redis is down, degraded, and recovers when Redis answers.

// snippet.hide
import HiredisClient
import Logging
import RedisCache
import Resilience

// snippet.show
func redisConfiguration() throws(RedisClientError) -> RedisClientConfiguration {
    var redis = try RedisClientConfiguration(url: "redis://:secret@127.0.0.1:6379/0")
    redis.commandTimeout = .milliseconds(100)  // no cache call waits longer than this on Redis
    redis.connectionCount = 4
    return redis
}

var configuration = ResilientCacheConfiguration(namespace: "catalog:")
configuration.defaultTTL = .seconds(300)
configuration.breaker.failureThreshold = 5
configuration.breaker.openBackoff.jitter = 0.1  // instances of a fleet do not re-probe in step
configuration.journalCapacity = 50_000
configuration.durableJournalDirectory = "/var/lib/catalog/cache-journal"  // one directory per process

let cache = try ResilientCache(
    redis: redisConfiguration(),
    configuration: configuration,
    logger: Logger(label: "catalog")
)
