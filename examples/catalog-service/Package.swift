// swift-tools-version:6.1

// A service built on the cache, for real: a Hummingbird HTTP server over a slow database, the cache in front of
// it, Prometheus metrics, and one ServiceGroup. A package of its own, so the library's build and tests never
// compile Hummingbird and swift-nio. Run it through `scripts/example.sh` at the repository's root.

import PackageDescription

// A path dependency's identity is its folder's name, which is whatever the clone was called.
let root = String(Context.packageDirectory.split(separator: "/").dropLast(2).last ?? "resilient-cache")

let package = Package(
    name: "catalog-service",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: "../.."),
        // Without the default ConfigurationSupport trait: the example reads its settings from the command line,
        // and swift-configuration would only add to the build.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .executableTarget(
            name: "CatalogService",
            dependencies: [
                .product(name: "RedisCache", package: root),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        )
    ]
)

for target in package.targets where [.executable, .test, .regular].contains(target.type) {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
