import ArgumentParser
import Foundation
import HiredisClient
import Histogram
import Logging
import RedisCache
import RedisTestSupport
import Resilience
import _LoadKit

/// Drives load through our client or cache against a live server and prints one JSON object:
/// `{"ops_per_sec":…, "p50_us":…, "p99_us":…, "max_us":…, "errors":…}`. `benchmarks/run` sets it beside
/// redis-benchmark on the same server, which `server` starts through the server harness.
@main
struct LoadGenerator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load-generator",
        abstract: "Drive load through HiredisClient or ResilientCache and report throughput and latency percentiles.",
        subcommands: [
            Throughput.self, Outage.self, FaultTimeline.self, FailureSweep.self, FencedGet.self, Server.self,
            ClusterServer.self, ClusterOutage.self,
        ],
        defaultSubcommand: Throughput.self
    )
}

struct Throughput: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "GET or SET of fixed-size values from N concurrent callers, through the bare client or the cache."
    )

    @Option(help: "Server URL.") var url: String
    @Option(help: "get, set or mget (10 keys).") var operation: String = "get"
    @Option(help: "client (bare RedisClient), cache (ResilientCache get/set) or fetch (ResilientCache.fetch).")
    var through: String = "client"
    @Option(help: "Commands per explicit pipeline (client only); 1 = none.") var pipeline: Int = 1
    @Option(help: "Concurrent callers.") var concurrency: Int = 50
    @Option(help: "Total requests.") var requests: Int = 100_000
    @Option(help: "Value size in bytes (SET).") var valueSize: Int = 100
    @Option(help: "Keys in the key space.") var keySpace: Int = 10_000
    @Option(help: "Connections in the pool (per node with --cluster; default 4, or the cluster client's 2).")
    var connections: Int?
    @Flag(help: "--url is a Redis Cluster (seed list): GET or SET through RedisClusterClient.") var cluster = false
    @Option(help: "Key names are this prefix and a 12-digit number (redis-benchmark's key:__rand_int__).")
    var keyPrefix: String = "key:"
    @Flag(help: "First SET every key of the key space to a value of --value-size bytes (not timed).")
    var populate = false
    @Option(help: "With a rediss:// URL: the CA file the server's certificate must chain to.") var tlsCa: String?
    @Option(help: "With a rediss:// URL: a client certificate (PEM) to present.") var tlsCert: String?
    @Option(help: "With a rediss:// URL: the client certificate's key (PEM).") var tlsKey: String?
    @Option(help: "With a rediss:// URL: the name the server's certificate must be for (default: the host).")
    var tlsServerName: String?
    @Flag(
        help: """
            Run each caller with a preference for one of the client's event loops (RedisClient.taskExecutors),             so its replies resume it on the loop's thread.
            """)
    var loopExecutors = false

    func run() async throws {
        if cluster {
            try await runOnCluster()
            return
        }
        let connections = self.connections ?? 4
        let client = try makeClient(url: url, connections: connections, timeout: .seconds(5)) { configuration in
            guard tlsCa != nil || tlsCert != nil || tlsKey != nil || tlsServerName != nil else { return }
            guard configuration.tls != nil else { throw ValidationError("--tls-* options need a rediss:// URL") }
            configuration.tls?.caFile = tlsCa
            configuration.tls?.certificateFile = tlsCert
            configuration.tls?.keyFile = tlsKey
            configuration.tls?.serverName = tlsServerName
        }
        let keys = (0..<keySpace).map { benchmarkKey($0, prefix: keyPrefix) }
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: valueSize)
        let isSet = operation == "set"
        guard ["get", "set", "mget"].contains(operation) else {
            throw ValidationError("operation must be get, set or mget")
        }
        guard pipeline == 1 || (through == "client" && operation != "mget") else {
            throw ValidationError("--pipeline works with --through client and get or set")
        }
        let call: @Sendable (Int) async throws -> Void
        let keyCount = keys.count
        switch (through, operation) {
        case ("client", "mget"):
            let redisKeys = keys.map { RedisKey($0) }
            call = { index in
                _ = try await client.mget((0..<10).map { redisKeys[(index &+ $0 &* 997) % keyCount] })
            }
        case ("client", _) where pipeline > 1:
            let size = pipeline
            call = { index in
                let commands = (0..<size).map { offset in
                    let key = Array(keys[(index &+ offset &* 997) % keyCount].utf8)
                    return isSet ? RedisCommand("SET", [key, value]) : RedisCommand("GET", [key])
                }
                for result in await client.pipeline(commands) { _ = try result.get() }
            }
        case ("client", _):
            // Keys start as Strings, as in a service (and as the cache receives them), so the comparison with
            // the cache includes the same String-to-bytes conversion on both sides.
            call = { index in
                if isSet {
                    try await client.set(RedisKey(keys[index]), value: value)
                } else {
                    _ = try await client.get(RedisKey(keys[index]))
                }
            }
        case ("cache", _), ("fetch", _):
            // Same keys as redis-benchmark (empty namespace), no TTL and no jitter: the same SET on the wire.
            var configuration = ResilientCacheConfiguration(namespace: "")
            configuration.defaultTTL = nil
            configuration.ttlJitter = 0
            let cache = ResilientCache(
                backend: RedisCacheBackend(client: client),
                configuration: configuration,
                logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
            )
            switch (through, operation) {
            case ("fetch", _):
                // Preloaded keys: every fetch is a hit, so this measures fetch's own path over get.
                call = { index in _ = try await cache.fetch(keys[index]) { value } }
            case (_, "mget"):
                call = { index in _ = try await cache.get(many: (0..<10).map { keys[(index &+ $0 &* 997) % keyCount] })
                }
            default:
                call = { index in
                    if isSet {
                        try await cache.set(keys[index], value)
                    } else {
                        _ = try await cache.get(keys[index])
                    }
                }
            }
        default:
            throw ValidationError("through must be client, cache or fetch")
        }
        for _ in 0..<connections * 2 { _ = try await client.ping() }
        if populate {
            let redisKeys = keys.map { RedisKey($0) }
            _ = await drive(concurrency: 50, requests: keySpace, keySpace: keySpace, sequential: true) { index in
                try await client.set(redisKeys[index], value: value)
            }
        }
        if loopExecutors && client.taskExecutors.isEmpty {
            throw ValidationError("--loop-executors needs the event-loop I/O model")
        }
        var result = await drive(
            concurrency: concurrency,
            requests: requests / pipeline,
            keySpace: keySpace,
            executors: loopExecutors ? client.taskExecutors : [],
            call
        )
        result.operations *= pipeline  // a pipeline call carries `pipeline` commands
        result.threads = clientThreadCount()
        await client.close()
        print(result.json)
    }

    /// GET or SET through a RedisClusterClient: the keys spread over the slots, so over every primary.
    private func runOnCluster() async throws {
        guard ["get", "set"].contains(operation), through == "client", pipeline == 1 else {
            throw ValidationError("--cluster measures get or set through the client, without --pipeline")
        }
        var configuration = try RedisClusterConfiguration(url: url)
        if let connections { configuration.node.connectionCount = connections }
        configuration.node.commandTimeout = .seconds(5)
        configuration.node.connectTimeout = .seconds(5)
        let client = try RedisClusterClient(
            configuration: configuration, logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
        let keys = (0..<keySpace).map { RedisKey(benchmarkKey($0, prefix: keyPrefix)) }
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: valueSize)
        // Learn the topology and open every primary's pool before timing, as the single-node run pings first.
        try await client.refreshTopology()
        for shard in client.shards {
            for _ in 0..<configuration.node.connectionCount * 2 { try await client.ping(shard: shard.id) }
        }
        if populate {
            _ = await drive(concurrency: 50, requests: keySpace, keySpace: keySpace, sequential: true) { index in
                try await client.set(keys[index], value: value)
            }
        }
        let isSet = operation == "set"
        var result = await drive(concurrency: concurrency, requests: requests, keySpace: keySpace) { index in
            if isSet {
                try await client.set(keys[index], value: value)
            } else {
                _ = try await client.get(keys[index])
            }
        }
        result.threads = clientThreadCount()
        await client.close()
        print(result.json)
    }
}

/// The client's threads in this process now: those named `redis-*` (I/O threads, the deadline thread).
func clientThreadCount() -> Int {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.filter { task in
        let name = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
        return name.hasPrefix("redis-")
    }.count
}

struct Outage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: """
            Latency of GET while the server is hung (SIGSTOP; the command starts and hangs a server of its own): \
            through the cache once its breaker is open, or through the bare client, where every call pays the \
            command timeout.
            """
    )

    @Option(help: "cache (breaker open: fast-fail) or client (no breaker).") var through: String = "cache"
    @Option(help: "Requests to time.") var requests: Int = 100_000
    @Option(help: "Command timeout in milliseconds.") var timeoutMs: Int = 100

    func run() async throws {
        guard ["cache", "client"].contains(through) else { throw ValidationError("through must be cache or client") }
        try await RedisTestbed.withTestbed { testbed in
            try await testbed.apply(.hang)
            let result = try await measure(url: testbed.url)
            try await testbed.apply(.resume)
            print(result.json)
        }
    }

    private func measure(url: String) async throws -> Result {
        let client = try makeClient(url: url, connections: 4, timeout: .milliseconds(timeoutMs))
        let call: @Sendable (Int) async throws -> Void
        if through == "cache" {
            var configuration = ResilientCacheConfiguration(namespace: "")
            configuration.breaker.openDuration = .seconds(600)  // stay open for the whole measurement
            let cache = ResilientCache(
                backend: RedisCacheBackend(client: client),
                configuration: configuration,
                logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
            )
            // Open the breaker the honest way: calls that time out on the hung server.
            while cache.circuit.state != .open { _ = try await cache.get("key:000000000001") }
            call = { _ in
                guard try await cache.get("key:000000000001") == nil else { fatalError("a hung server answered") }
            }
        } else {
            call = { _ in
                do {
                    _ = try await client.get("key:000000000001")
                } catch let error as RedisClientError where error.code == .timeout || error.code == .connectionLost {
                    return  // each call pays the full timeout: the figure this mode measures
                }
                fatalError("a hung server answered")
            }
        }
        let result = await drive(concurrency: 1, requests: requests, keySpace: 1, call)
        await client.close()
        return result
    }
}

struct Result {
    var operations: Int
    var seconds: Double
    var histogram: Histogram<UInt64>
    var errors: Int
    /// The client's `redis-*` threads after the run, when counted.
    var threads: Int? = nil

    var json: String {
        func us(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1000 }
        return """
            {"ops_per_sec": \(Int(Double(operations) / seconds)), "p50_us": \(us(histogram.valueAtPercentile(50))), \
            "p99_us": \(us(histogram.valueAtPercentile(99))), "max_us": \(us(histogram.max)), \
            "errors": \(errors), "requests": \(operations)\(threads.map { ", \"threads\": \($0)" } ?? "")}
            """
    }
}

func makeClient(
    url: String,
    connections: Int,
    timeout: Duration,
    adjust: (inout RedisClientConfiguration) throws -> Void = { _ in }
) throws -> RedisClient {
    var configuration = try RedisClientConfiguration(url: url)
    configuration.connectionCount = connections
    configuration.commandTimeout = timeout
    configuration.connectTimeout = timeout
    try adjust(&configuration)
    return try RedisClient(
        configuration: configuration, logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
}

/// Runs `requests` calls from `concurrency` callers, each picking keys from its own seeded generator (or, with
/// `sequential`, caller `c` taking keys `c`, `c + concurrency`, … so every key is called once), and times each call.
func drive(
    concurrency: Int,
    requests: Int,
    keySpace: Int,
    sequential: Bool = false,
    executors: [any TaskExecutor] = [],
    _ call: @escaping @Sendable (Int) async throws -> Void
) async -> Result {
    struct Caller: Sendable {
        var random: SplitMix64
        var next: Int
        var histogram = makeHistogram()
        var errors = 0
    }
    let perCaller = sequential ? (requests + concurrency - 1) / concurrency : requests / concurrency
    let clock = ContinuousClock()
    let start = clock.now
    let callers = CallerLoop(callers: concurrency)
    let states = await callers.run(
        callsPerCaller: perCaller,
        executors: executors,
        state: { Caller(random: SplitMix64(seed: UInt64($0 + 1) &* 0x9E37_79B9_7F4A_7C15), next: $0) }
    ) { caller in
        let index: Int
        if sequential {
            index = caller.next
            caller.next += concurrency
            if index >= keySpace { return }
        } else {
            index = Int(caller.random.next() % UInt64(keySpace))
        }
        let began = clock.now
        do {
            try await call(index)
        } catch {
            caller.errors += 1
        }
        _ = caller.histogram.record(nanoseconds(clock.now - began))
    }
    let elapsed = clock.now - start
    var histogram = makeHistogram()
    for state in states { histogram.add(state.histogram) }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Result(
        operations: perCaller * concurrency,
        seconds: seconds,
        histogram: histogram,
        errors: states.reduce(0) { $0 + $1.errors }
    )
}

/// An empty latency histogram in nanoseconds, up to a minute, three significant digits.
func makeHistogram() -> Histogram<UInt64> {
    Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
}

func nanoseconds(_ duration: Duration) -> UInt64 {
    let (seconds, attoseconds) = duration.components
    return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
}

/// `key:000000001234`, as redis-benchmark names keys with `-r`.
func benchmarkKey(_ index: Int, prefix: String = "key:") -> String {
    let digits = String(index)
    return prefix + String(repeating: "0", count: max(0, 12 - digits.count)) + digits
}
