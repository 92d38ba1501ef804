import ArgumentParser
import Hummingbird
import Logging
import Metrics
import Prometheus
import RedisCache
import ServiceLifecycle
import UnixSignals

/// A catalog service with the cache in front of a slow database: the cache and the HTTP server run in one
/// `ServiceGroup`, which shuts both down gracefully on SIGTERM or SIGINT.
@main
struct CatalogService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog-service",
        abstract: "An HTTP catalog over a slow database, cached in Redis, that keeps answering while Redis is down."
    )

    @Option(help: "The port to listen on (127.0.0.1).")
    var port: Int = 8080

    @Option(name: .customLong("redis"), help: "The Redis to cache in: redis://host:port[/db] or unix:///path.")
    var redisURL: String = "redis://127.0.0.1:6379"

    @Option(help: "How long each database query takes: 50ms, 1s, 0.")
    var databaseLatency: DurationArgument = DurationArgument(duration: .milliseconds(50))

    @Option(help: "How long an item stays cached: 60s, 500ms.")
    var itemTTL: DurationArgument = DurationArgument(duration: .seconds(60))

    @Flag(
        name: .customLong("health-503-when-degraded"),
        help: "Answer GET /health with 503 while the cache is degraded (200 with \"degraded\": true otherwise)."
    )
    var health503WhenDegraded = false

    @Option(help: "The lowest level logged (to standard error).")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard itemTTL.duration > .zero else { throw ValidationError("--item-ttl must be positive") }
    }

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "catalog-service")

        let cache = try ResilientCache(
            url: redisURL,
            configuration: ResilientCacheConfiguration(namespace: "catalog:"),
            logger: logger
        )
        let routes = CatalogRoutes(
            cache: cache,
            database: CatalogDatabase(latency: databaseLatency.duration),
            registry: registry,
            itemTTL: itemTTL.duration,
            unavailableWhenDegraded: health503WhenDegraded
        )
        let router = Router()
        router.middlewares.add(MetricsMiddleware())
        routes.add(to: router)
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port)),
            logger: logger
        )

        // A graceful shutdown stops the services in reverse order: the HTTP server first, finishing the requests
        // it has, then the cache, which replays what it journaled and closes its Redis client.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [cache, app],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

/// A duration on the command line: `50ms`, `2s`, `250us`, or `0`.
struct DurationArgument: ExpressibleByArgument, Sendable {
    var duration: Duration

    init(duration: Duration) { self.duration = duration }

    init?(argument: String) {
        let units: [(suffix: String, scale: Double)] = [("ms", 1e-3), ("us", 1e-6), ("s", 1)]
        let text = argument
        if text == "0" {
            self.duration = .zero
            return
        }
        guard let unit = units.first(where: { text.hasSuffix($0.suffix) }),
            let value = Double(text.dropLast(unit.suffix.count)), value >= 0, value.isFinite
        else { return nil }
        self.duration = .nanoseconds(Int64((value * unit.scale * 1e9).rounded()))
    }

    var defaultValueDescription: String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 { return "\(seconds)s" }
        return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000)ms"
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
