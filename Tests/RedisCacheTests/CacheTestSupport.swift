import CacheTestKit
import HiredisClient
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import Testing

/// A breaker tuned for tests: opens after 5 failures, stays open 300 ms, probes every 50 ms.
func testBreakerConfiguration() -> CircuitBreakerConfiguration {
    CircuitBreakerConfiguration(
        failureThreshold: 5,
        successThreshold: 2,
        openDuration: .milliseconds(300),
        failureRateThreshold: nil,
        openBackoff: .init(multiplier: 1, maxOpenDuration: .milliseconds(300)),
        activeProbeInterval: .milliseconds(50),
        activeProbeTimeout: .milliseconds(500)
    )
}

/// A running cache over a real server through a counting backend, torn down when `body` ends.
///
/// - Parameters:
///   - commandTimeout: the client's deadline for every call.
func withCache<T>(
    _ server: RedisServer,
    commandTimeout: Duration = .milliseconds(200),
    configure: (inout ResilientCacheConfiguration) -> Void = { _ in },
    _ body: (ResilientCache, FailingCacheBackend, RedisClient) async throws -> T
) async throws -> T {
    var clientConfiguration = try RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port))
    if let password = server.options.password { clientConfiguration.authentication = .init(password: password) }
    clientConfiguration.commandTimeout = commandTimeout
    clientConfiguration.connectTimeout = commandTimeout
    clientConfiguration.reconnect = try .init(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(100))
    let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    let client = try RedisClient(configuration: clientConfiguration, logger: quiet)
    // No faults: the wrapper only counts the calls that reach Redis.
    let counting = FailingCacheBackend(wrapping: RedisCacheBackend(client: client))
    var configuration = ResilientCacheConfiguration(namespace: "test:", breaker: testBreakerConfiguration())
    configuration.ttlJitter = 0
    configure(&configuration)
    let cache = ResilientCache(backend: counting, configuration: configuration, logger: quiet)
    let running = Task { await cache.run() }
    defer {
        cache.shutdown()
        running.cancel()
    }
    do {
        let result = try await body(cache, counting, client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func measure(_ body: () async throws -> Void) async rethrows -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    try await body()
    return clock.now - start
}

/// Polls `condition` until it holds, recording an issue after `timeout`.
func eventually(
    timeout: Duration = .seconds(5),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("condition not met within \(timeout)", sourceLocation: sourceLocation)
}

/// The value of `field` in `INFO` output.
func infoField(_ info: String, _ field: String) -> String? {
    for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix(field + ":") {
        return String(line.dropFirst(field.count + 1))
    }
    return nil
}
