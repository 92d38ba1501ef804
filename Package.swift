// swift-tools-version:6.1

import PackageDescription

let package = Package(
    name: "resilient-cache",
    products: [
        .library(name: "HiredisClient", targets: ["HiredisClient"]),
        .library(name: "Resilience", targets: ["Resilience"]),
        .library(name: "RedisCache", targets: ["RedisCache"]),
        // The cache and client settings read through swift-configuration, apart so the core does not depend on it.
        .library(name: "RedisCacheConfiguration", targets: ["RedisCacheConfiguration"]),
        .library(name: "RedisTestSupport", targets: ["RedisTestSupport"]),
        .library(name: "CacheTestKit", targets: ["CacheTestKit"]),
        .library(name: "ResilienceTestKit", targets: ["ResilienceTestKit"]),
        // Not API: the benchmarks, a package of their own, share the fault vocabulary and the caller loop.
        .library(name: "_LoadKit", targets: ["_LoadKit"]),
        .executable(name: "resilient-cache", targets: ["resilient-cache"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.1.0"),
    ],
    targets: [
        // Debian's libhiredis-dev (0.14.1). No pkgConfig: hiredis.pc carries -D_FILE_OFFSET_BITS=64, which
        // SwiftPM warns about, and headers and library are on the default paths anyway.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // Debian's libssl-dev (OpenSSL 3): TLS for the client's own transport, hiredis being only its codec.
        .systemLibrary(
            name: "COpenSSL",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(
            name: "HiredisClient",
            dependencies: [
                "CHiredis",
                "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The circuit breaker: no Redis in sight.
        .target(
            name: "Resilience",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "RedisCache",
            dependencies: [
                "HiredisClient",
                "Resilience",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // `init(config: ConfigReader)` for the client and cache settings: the same names and parsing as the
        // environment initializers of the core, read from any swift-configuration provider.
        .target(
            name: "RedisCacheConfiguration",
            dependencies: [
                "RedisCache",
                "HiredisClient",
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        // The server harness: real redis-server processes on free loopback ports, the faults a test or the demo
        // injects into them, a fault-injecting TCP proxy and a raw RESP connection. Knows nothing of the cache.
        .target(
            name: "RedisTestSupport",
            dependencies: ["_LoadKit"]
        ),
        // For tests of code built on the cache: a backend that fails on purpose and counts its calls.
        .target(
            name: "CacheTestKit",
            dependencies: ["RedisCache", "_LoadKit"]
        ),
        // The live demo's workload, fault schedule, reports and timeline plot, kept out of the executable so
        // tests can run the workload against a real server. It injects faults through `FaultTarget` and never
        // starts a process itself: its unit tests do not link the process launcher.
        .target(
            name: "DemoKit",
            dependencies: [
                "RedisCache",
                "HiredisClient",
                "Resilience",
                "_LoadKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // `resilient-cache demo`: argument parsing and signal handling over DemoKit, and the embedded
        // redis-server from the server harness.
        .executableTarget(
            name: "resilient-cache",
            dependencies: [
                "DemoKit",
                "HiredisClient",
                "RedisTestSupport",
                "_LoadKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/ResilientCacheCLI"
        ),
        // A manual clock for deterministic tests of anything built on the breaker.
        .target(
            name: "ResilienceTestKit"
        ),
        // What a load run is made of, with no process and no cache: the fault vocabulary and the FaultTarget it
        // is applied to, the caller loop, fault timing, a seeded random number generator, durations as text. The
        // demo ships it, so it is no test kit; the underscore says it is not API.
        .target(
            name: "_LoadKit"
        ),
        // The breaker's own tests: a manual clock, no Redis, no sleeps.
        .testTarget(
            name: "ResilienceTests",
            dependencies: [
                "Resilience",
                "ResilienceTestKit",
                "_LoadKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "HiredisClientTests",
            dependencies: [
                "HiredisClient",
                "RedisTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]
        ),
        // Needs no redis-server: the journal, glob matching and the degradation table over a failing backend.
        .testTarget(
            name: "RedisCacheUnitTests",
            dependencies: [
                "RedisCache",
                "Resilience",
                "CacheTestKit",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The chaos soak: every fault in turn under load, about a minute.
        .testTarget(
            name: "ChaosTests",
            dependencies: [
                "RedisCache",
                "HiredisClient",
                "Resilience",
                "RedisTestSupport",
                "_LoadKit",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Needs no redis-server: reading the settings through swift-configuration providers.
        .testTarget(
            name: "RedisCacheConfigurationTests",
            dependencies: [
                "RedisCacheConfiguration",
                "RedisCache",
                "HiredisClient",
                "Resilience",
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .testTarget(
            name: "RedisTestSupportTests",
            dependencies: ["RedisTestSupport", "_LoadKit"]
        ),
        // Needs no redis-server: option and schedule parsing, the report formats, the plot.
        .testTarget(
            name: "DemoKitUnitTests",
            dependencies: ["DemoKit", "Resilience", "_LoadKit"]
        ),
        // Needs no redis-server: durations, the fault vocabulary, the caller loop and fault timing.
        .testTarget(
            name: "LoadKitTests",
            dependencies: ["_LoadKit"]
        ),
        // Runs the demo's workload against a real redis-server with faults.
        .testTarget(
            name: "DemoKitTests",
            dependencies: ["DemoKit", "HiredisClient", "RedisTestSupport", "Resilience", "_LoadKit"]
        ),
        .testTarget(
            name: "RedisCacheTests",
            dependencies: [
                "RedisCache",
                "HiredisClient",
                "Resilience",
                "RedisTestSupport",
                "CacheTestKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]
        ),
    ]
)

for target in package.targets where [.executable, .test, .regular].contains(target.type) {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    // https://github.com/apple/swift-evolution/blob/main/proposals/0335-existential-any.md
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    // https://github.com/swiftlang/swift-evolution/blob/main/proposals/0444-member-import-visibility.md
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
