// A cache as a service: created with the application's logger, run by a ServiceGroup beside the HTTP server,
// stopped with it. The group's graceful shutdown replays what the journal still holds and closes the Redis
// client the cache created.

// snippet.hide
import Logging
import RedisCache
import ServiceLifecycle

// snippet.show
let logger = Logger(label: "catalog")

var configuration = ResilientCacheConfiguration(namespace: "catalog:")
configuration.defaultTTL = .seconds(300)
let cache = try ResilientCache(url: "redis://127.0.0.1:6379", configuration: configuration, logger: logger)
let group = ServiceGroup(services: [cache], logger: logger)  // with your HTTP server beside it
try await group.run()
