import ArgumentParser
import HiredisClient
import Histogram

/// Runs a fixed number of requests from N concurrent callers and prints one JSON object:
/// `{"ops_per_sec":…, "p50_us":…, "p99_us":…, "max_us":…, "errors":…}`.
///
/// Keys are `key:%012d` over a key space, the same names `redis-benchmark -r` uses, so both tools read the same
/// data when `run` has preloaded it.
@main
struct LoadGenerator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load-generator",
        abstract: "Drive GET or SET load through HiredisClient and report throughput and latency percentiles."
    )

    @Option(help: "Server URL.") var url: String
    @Option(help: "get or set.") var operation: String = "get"
    @Option(help: "Concurrent callers.") var concurrency: Int = 50
    @Option(help: "Total requests.") var requests: Int = 100_000
    @Option(help: "Value size in bytes (SET).") var valueSize: Int = 100
    @Option(help: "Keys in the key space.") var keySpace: Int = 10_000
    @Option(help: "Connections in the pool.") var connections: Int = 4

    func run() async throws {
        var configuration = try RedisClientConfiguration(url: url)
        configuration.connectionCount = connections
        configuration.commandTimeout = .seconds(5)
        let client = RedisClient(configuration: configuration)
        let keys = (0..<keySpace).map(benchmarkKey)
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: valueSize)
        let isSet = operation == "set"
        guard isSet || operation == "get" else { throw ValidationError("operation must be get or set") }

        // Warm the connections so connecting is not measured.
        for _ in 0..<connections * 2 { _ = try await client.ping() }

        let perCaller = requests / concurrency
        let clock = ContinuousClock()
        let start = clock.now
        let results = await withTaskGroup(of: (Histogram<UInt64>, Int).self) { group in
            for caller in 0..<concurrency {
                group.addTask {
                    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                    var errors = 0
                    var state = UInt64(caller + 1) &* 0x9E37_79B9_7F4A_7C15
                    for _ in 0..<perCaller {
                        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                        let key = keys[Int((state >> 33) % UInt64(keys.count))]
                        let began = clock.now
                        do {
                            if isSet {
                                try await client.set(key, value: value)
                            } else {
                                _ = try await client.get(key)
                            }
                        } catch {
                            errors += 1
                        }
                        let elapsed = clock.now - began
                        _ = histogram.record(UInt64(elapsed.components.seconds) * 1_000_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000))
                    }
                    return (histogram, errors)
                }
            }
            var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            var errors = 0
            for await (histogram, callerErrors) in group {
                merged.add(histogram)
                errors += callerErrors
            }
            return (merged, errors)
        }
        let elapsed = clock.now - start
        await client.close()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let total = perCaller * concurrency
        let histogram = results.0
        func us(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1000 }
        print(
            """
            {"ops_per_sec": \(Int(Double(total) / seconds)), "p50_us": \(us(histogram.valueAtPercentile(50))), \
            "p99_us": \(us(histogram.valueAtPercentile(99))), "max_us": \(us(histogram.max)), \
            "errors": \(results.1), "requests": \(total)}
            """
        )
    }
}

/// `key:000000001234`, as redis-benchmark names keys with `-r`.
private func benchmarkKey(_ index: Int) -> RedisKey {
    let digits = String(index)
    return RedisKey("key:" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits)
}
