// swift-tools-version:6.1

import PackageDescription

let package = Package(
    name: "resilient-cache",
    products: [
        .library(name: "HiredisClient", targets: ["HiredisClient"]),
        .library(name: "RedisTestSupport", targets: ["RedisTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // Debian's libhiredis-dev (0.14.1). No pkgConfig: hiredis.pc carries -D_FILE_OFFSET_BITS=64, which
        // SwiftPM warns about, and headers and library are on the default paths anyway.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "HiredisClient",
            dependencies: [
                "CHiredis",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "RedisTestSupport"
        ),
        .testTarget(
            name: "HiredisClientTests",
            dependencies: [
                "HiredisClient",
                "RedisTestSupport",
                .product(name: "Logging", package: "swift-log"),
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
