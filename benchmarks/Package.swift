// swift-tools-version:6.1

// The benchmarks live in their own package so the library's build (and CI's test run) never compiles the
// benchmark harness or its malloc interposer. Run them through `benchmarks/run`.

import PackageDescription

// A path dependency's identity is its folder's name, which is whatever the clone was called.
let root = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "resilient-cache")

let package = Package(
    name: "resilient-cache-benchmarks",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Drives load through our client against a live server and reports HdrHistogram percentiles;
        // `run` sets it beside redis-benchmark on the same server, which it also starts (`server`).
        .executableTarget(
            name: "LoadGenerator",
            dependencies: [
                .product(name: "HiredisClient", package: root),
                .product(name: "RedisCache", package: root),
                .product(name: "Resilience", package: root),
                .product(name: "RedisTestSupport", package: root),
                .product(name: "CacheTestKit", package: root),
                .product(name: "_LoadKit", package: root),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The breaker's guard in ns/op and mallocs/op (ordo-one's package-benchmark; suites/breaker.sh).
        .executableTarget(
            name: "BreakerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Resilience", package: root),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/BreakerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // A short, synchronous-main client run for valgrind (leak-check.sh).
        .executableTarget(
            name: "LeakCheck",
            dependencies: [
                .product(name: "HiredisClient", package: root),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)

for target in package.targets where [.executable, .test, .regular].contains(target.type) {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
