import Foundation
import Logging
import Metrics
import RedisTestSupport
import Testing

@testable import HiredisClient

/// The event-loop I/O model: a fixed set of `redis-loop-N` threads drives the connections of every client that
/// shares it, large values go through partial writes and reads, and a hung node does not hold up the others.
@Suite(.serialized)
struct EventLoopTests {
    /// The client's lasting threads by name: loops, I/O threads and deadline threads (not `redis-connect`, which
    /// lives only while a connection is made, nor `redis-close`).
    private static var lastingThreads: [String] {
        ProcessThreads.names.filter {
            $0.hasPrefix("redis-loop") || $0.hasPrefix("redis-io") || $0.hasPrefix("redis-deadline")
        }
    }

    /// Node clients as a cluster client makes them: sharing one watchdog and one group of loops.
    private static func nodeClient(
        _ server: RedisServer,
        watchdog: DeadlineWatchdog,
        loops: EventLoopGroup,
        configure: (inout RedisClientConfiguration) -> Void = { _ in }
    ) throws -> RedisClient {
        var configuration = try RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port))
        configuration.connectionCount = 2
        configuration.commandTimeout = .seconds(2)
        configuration.connectTimeout = .seconds(2)
        configure(&configuration)
        return RedisClient(
            validated: configuration,
            tlsContext: nil,
            logger: quietLogger,
            metricsFactory: NOOPMetricsHandler.instance,
            watchdog: watchdog,
            loops: loops
        )
    }

    /// As a cluster of `nodes` nodes with replica reads on: a node client for each, 2 connections each, all open.
    @Test(arguments: [10, 30])
    func nodeClientsShareTheSameTwoLoopThreadsHoweverManyNodes(nodes: Int) async throws {
        try await RedisServer.withServer { server in
            let before = Self.lastingThreads.count
            let watchdog = DeadlineWatchdog()
            let loops = EventLoopGroup(count: 2, busyPolling: true)
            let clients = try (0..<nodes).map { _ in try Self.nodeClient(server, watchdog: watchdog, loops: loops) }
            // Every client's two connections open and carry calls at once.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, client) in clients.enumerated() {
                    for call in 0..<8 {
                        group.addTask {
                            let key = RedisKey("node\(index):\(call)")
                            try await client.set(key, value: key.bytes)
                            #expect(try await client.get(key) == key.bytes)
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Every node's connections, and redis-cli's own.
            let clientList = try await server.cliAsync("CLIENT", "LIST")
            let count = clientList.split(whereSeparator: \.isNewline).count
            #expect(count >= 2 * nodes + 1, "\(clientList)")
            // Two loops and the deadline thread, for all the connections.
            #expect(Self.lastingThreads.count - before == 3, "\(Self.lastingThreads)")
            #expect(!Self.lastingThreads.contains { $0.hasPrefix("redis-io") })
            for client in clients { await client.close() }
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                IOThread.spawnDetached(name: "test-close") {
                    loops.stop()
                    watchdog.stop()
                    continuation.resume()
                }
            }
            #expect(Self.lastingThreads.count == before)
        }
    }

    @Test func aClusterClientKeepsItsThreadCountAfterConnectingToEveryNode() async throws {
        try await TestCluster.with { cluster in
            let before = Self.lastingThreads.count
            try await withClusterClient(cluster) { client in
                try await client.set("a", value: bytes("1"))
                let afterOneNode = Self.lastingThreads.count - before
                // Every node, primaries and replicas, gets a client and its connections.
                for server in cluster.servers {
                    let node = try client.client(for: .tcp(host: "127.0.0.1", port: server.port))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<4 { group.addTask { _ = try await node.ping() } }
                        try await group.waitForAll()
                    }
                }
                let afterAllNodes = Self.lastingThreads.count - before
                #expect(afterOneNode == EventLoopGroup.defaultLoopCount + 1)
                #expect(afterAllNodes == afterOneNode, "\(Self.lastingThreads)")
            }
            #expect(Self.lastingThreads.count == before)
        }
    }

    @Test func aHungNodeDoesNotDelayAHealthyOneOnTheSameLoop() async throws {
        try await RedisServer.withServer { hung in
            try await RedisServer.withServer { healthy in
                let watchdog = DeadlineWatchdog()
                // One loop, so both nodes' connections are on it.
                let loops = EventLoopGroup(count: 1, busyPolling: true)
                // SELECT makes the handshake wait for the server, so a connect to a hung node hangs after TCP.
                let connected = try Self.nodeClient(hung, watchdog: watchdog, loops: loops) {
                    $0.database = 1
                    $0.commandTimeout = .milliseconds(1500)
                }
                let connecting = try Self.nodeClient(hung, watchdog: watchdog, loops: loops) {
                    $0.database = 1
                    $0.commandTimeout = .milliseconds(1500)
                    $0.connectTimeout = .milliseconds(1500)
                }
                let other = try Self.nodeClient(healthy, watchdog: watchdog, loops: loops)
                #expect(try await connected.ping() == "PONG")
                #expect(try await other.ping() == "PONG")
                hung.hang()
                defer { hung.resume() }
                // One call waits for a reply from the hung node, another for its handshake.
                let inFlight = Task { await RedisClientError.code { _ = try await connected.get("x") } }
                let handshaking = Task { await RedisClientError.code { _ = try await connecting.get("x") } }
                try await Task.sleep(for: .milliseconds(50))
                let elapsed = try await measure {
                    for index in 0..<200 {
                        try await other.set(RedisKey("k\(index)"), value: bytes("v"))
                    }
                }
                #expect(elapsed < .milliseconds(1000), "200 calls to the healthy node took \(elapsed)")
                #expect(await inFlight.value == .timeout)
                #expect(await handshaking.value == .timeout)
                hung.resume()
                await connected.close()
                await connecting.close()
                await other.close()
                await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                    IOThread.spawnDetached(name: "test-close") {
                        loops.stop()
                        watchdog.stop()
                        continuation.resume()
                    }
                }
            }
        }
    }

    @Test(arguments: [IOModel.eventLoop, .threadPerConnection])
    func oneMebibyteValuesGoThroughPartialWritesAndReads(model: IOModel) async throws {
        try await RedisServer.withServer { server in
            try await withClient(
                server,
                configure: {
                    $0.ioModel = model
                    $0.connectionCount = 2
                    $0.commandTimeout = .seconds(10)
                }
            ) { (client: RedisClient) async throws in
                try await Self.largeValuesRoundTrip(client)
            }
        }
    }

    @Test(arguments: [IOModel.eventLoop, .threadPerConnection])
    func oneMebibyteValuesGoThroughPartialTLSWritesAndReads(model: IOModel) async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                try await withTLSClient(
                    server,
                    certificates,
                    configure: {
                        $0.ioModel = model
                        $0.connectionCount = 2
                        $0.commandTimeout = .seconds(10)
                    }
                ) { (client: RedisClient) async throws in
                    try await Self.largeValuesRoundTrip(client)
                }
            }
        }
    }

    /// A 32 MiB value written while the server is stopped fills the kernel's buffers on both sides: the write
    /// must stop (`EAGAIN`, or OpenSSL's `WANT_WRITE`), wait for `EPOLLOUT` and resume where it stopped, with
    /// the same bytes, once the server reads again.
    @Test(arguments: [false, true])
    func aValueLargerThanTheSocketBuffersResumesWhenTheServerReadsAgain(tls: Bool) async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                var configuration = try RedisClientConfiguration(
                    endpoint: .tcp(host: "127.0.0.1", port: tls ? server.tlsPort! : server.port)
                )
                if tls { configuration.tls = .init(caFile: certificates.caFile) }
                configuration.ioModel = .eventLoop
                configuration.connectionCount = 1
                configuration.commandTimeout = .seconds(20)
                let client = try RedisClient(configuration: configuration, logger: quietLogger)
                #expect(try await client.ping() == "PONG")
                var value = [UInt8](repeating: 0, count: 32 << 20)
                for index in value.indices { value[index] = UInt8(truncatingIfNeeded: index &* 7 &+ index >> 16) }
                server.hang()
                let write = Task { [value] in try await client.set("huge", value: value) }
                try await Task.sleep(for: .milliseconds(300))
                server.resume()
                #expect(try await write.value)
                #expect(try await client.get("huge") == value)
                await client.close()
            }
        }
    }

    /// Eight callers each write and read back their own 1 MiB value, twice over, with small calls among them: the
    /// socket buffers fill, writes resume where they stopped, and each reply spans many reads.
    /// A task that prefers one of the client's loops runs on that loop's thread, and each reply resumes it there:
    /// no thread of Swift's pool is woken for it. Once the client is closed, such a task runs elsewhere.
    @Test func aCallerThatPrefersALoopRunsThereAndItsRepliesResumeItThere() async throws {
        try await RedisServer.withServer { server in
            var configuration = try RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port))
            configuration.connectionCount = 4
            configuration.ioModel = .eventLoop
            let client = try RedisClient(configuration: configuration, logger: quietLogger)
            let executors = client.taskExecutors
            #expect(executors.count == EventLoopGroup.defaultLoopCount)
            for (index, executor) in executors.enumerated() {
                let threads = try await withTaskExecutorPreference(executor) {
                    var threads: [String] = [Self.currentThreadName]
                    for call in 0..<50 {
                        let key = RedisKey("preferred:\(index):\(call)")
                        try await client.set(key, value: key.bytes)
                        threads.append(Self.currentThreadName)
                        #expect(try await client.get(key) == key.bytes)
                        threads.append(Self.currentThreadName)
                    }
                    return threads
                }
                #expect(Set(threads) == ["redis-loop-\(index)"])
            }
            // Concurrent callers spread over the loops, each on its own loop, all answered.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<100 {
                    let executor = executors[caller % executors.count]
                    group.addTask(executorPreference: executor) {
                        let key = RedisKey("spread:\(caller)")
                        try await client.set(key, value: key.bytes)
                        #expect(try await client.get(key) == key.bytes)
                    }
                }
                try await group.waitForAll()
            }
            await client.close()
            let after = await withTaskExecutorPreference(executors[0]) {
                await Task.yield()
                return Self.currentThreadName
            }
            #expect(!after.hasPrefix("redis-loop"))
        }
    }

    private static var currentThreadName: String {
        let name = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
        return name?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
    }

    private static func largeValuesRoundTrip(_ client: RedisClient) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<8 {
                group.addTask {
                    for round in 0..<2 {
                        let key = RedisKey("large:\(caller)")
                        var value = [UInt8](repeating: 0, count: 1 << 20)
                        for index in value.indices {
                            value[index] = UInt8(truncatingIfNeeded: index &* 31 &+ caller &+ round)
                        }
                        try await client.set(key, value: value)
                        #expect(try await client.ping() == "PONG")
                        let read = try await client.get(key)
                        #expect(read == value, "caller \(caller) round \(round) read another value")
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
