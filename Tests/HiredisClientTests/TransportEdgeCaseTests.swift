import Foundation
import Logging
import RedisTestSupport
import Synchronization
import Testing

@testable import HiredisClient

/// What a hostile user tried against the transport: callers on loops when the client closes, replies hiredis
/// cannot read, commands that would change a shared connection, reply shapes, wrong-caller stress under timeouts
/// and cancellation, close while connecting or from a loop thread, CLIENT KILL mid-pipeline, the pending limit.
@Suite(.serialized)
struct TransportEdgeCaseTests {
    /// Waits until `counter` reaches `target` or `timeout` passes; returns the last value seen.
    private static func wait(for counter: CallCounter, toReach target: Int, timeout: Duration) async -> Int {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: timeout)
        while clock.now < end {
            if counter.value >= target { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return counter.value
    }

    /// Tasks that prefer a loop and keep yielding while the client is closed must all resume afterwards
    /// (the doc: "After close() the loops are gone and tasks that prefer them run on the global executor").
    @Test func tasksOnALoopExecutorAllResumeAfterClose() async throws {
        try await RedisServer.withServer { server in
            for round in 0..<5 {
                var configuration = try RedisClientConfiguration(
                    endpoint: .tcp(host: "127.0.0.1", port: server.port))
                configuration.connectionCount = 2
                let client = try RedisClient(configuration: configuration, logger: quietLogger)
                let executors = client.taskExecutors
                #expect(!executors.isEmpty)
                let tasks = 16
                let finished = CallCounter()
                let stop = CallCounter()
                let started = CallCounter()
                for index in 0..<tasks {
                    let executor = executors[index % executors.count]
                    Task.detached {
                        await withTaskExecutorPreference(executor) {
                            started.add()
                            while stop.value == 0 {
                                await Task.yield()
                            }
                            finished.add()
                        }
                    }
                }
                _ = await Self.wait(for: started, toReach: tasks, timeout: .seconds(5))
                try await Task.sleep(for: .milliseconds(20))
                await client.close()
                stop.set(1)
                let done = await Self.wait(for: finished, toReach: tasks, timeout: .seconds(5))
                #expect(done == tasks, "round \(round): \(tasks - done) task(s) that preferred a loop never resumed")
                if done != tasks { return }
            }
        }
    }

    /// A reply nested deeper than hiredis 0.14.1's reader supports (7 levels; `COMMAND DOCS` in RESP2, a Lua
    /// table 10 deep) cannot be read: the caller gets PROTOCOL_ERROR naming the limit, the connection is
    /// replaced (the commands in the same batch fail with it), and the client goes on working. A documented limit.
    @Test func aReplyNestedDeeperThanHiredisReadsIsAProtocolErrorAndTheClientRecovers() async throws {
        try await RedisServer.withServer { server in
            try await withClient(
                server,
                configure: {
                    $0.connectionCount = 1; $0.commandTimeout = .seconds(5)
                }
            ) {
                client in
                try await client.set("k", value: bytes("v"))
                let script = "return {{{{{{{{{{1}}}}}}}}}}"  // 10 levels
                let deep = await RedisClientError.caught {
                    _ = try await client.send("EVAL", [bytes(script), bytes("0")])
                }
                #expect(deep?.code == .protocolError)
                #expect(
                    deep?.message.contains("nested multi bulk replies with depth > 7") == true,
                    "\(String(describing: deep))")
                let docs = await RedisClientError.caught { _ = try await client.send("COMMAND", [bytes("DOCS")]) }
                #expect(docs?.code == .protocolError)
                // Seven levels are read.
                let seven = try await client.send("EVAL", [bytes("return {{{{{{{1}}}}}}}"), bytes("0")])
                var depth = 0
                var reply = seven
                while case .array(let elements) = reply, let first = elements.first {
                    depth += 1
                    reply = first
                }
                #expect(depth == 7 && reply == .integer(1))
                #expect(try await client.get("k") == bytes("v"))
            }
        }
    }

    /// A client dropped without close(): its loop threads end.
    @Test func droppedClientLeavesNoLoopThreads() async throws {
        try await RedisServer.withServer { server in
            let before = ProcessThreads.names.filter { $0.hasPrefix("redis-loop") }.count
            do {
                let client = try RedisClient(
                    configuration: RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port)),
                    logger: quietLogger)
                for index in 0..<20 { try await client.set(RedisKey("d\(index)"), value: bytes("x")) }
            }
            var after = 0
            for _ in 0..<100 {
                after = ProcessThreads.names.filter { $0.hasPrefix("redis-loop") }.count
                if after <= before { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(after <= before, "\(ProcessThreads.names)")
            let clients = try server.cli("CLIENT", "LIST").split(whereSeparator: \.isNewline).count
            #expect(clients == 1, "connections of the dropped client are still open: \(clients - 1)")
        }
    }

    /// Commands that would make a shared connection reply out of step with its callers, or change it for the
    /// callers after them, are refused before they are sent: alone, or inside a pipeline whose other commands go.
    @Test(arguments: [IOModel.eventLoop, .threadPerConnection])
    func commandsThatWouldChangeASharedConnectionAreRefusedUnsent(model: IOModel) async throws {
        try await RedisServer.withServer { server in
            try await withClient(
                server,
                configure: {
                    $0.connectionCount = 1; $0.ioModel = model
                }
            ) { client in
                for words in [
                    ["SUBSCRIBE", "ch"], ["psubscribe", "c*"], ["SSUBSCRIBE", "ch"], ["UNSUBSCRIBE", "a", "b"],
                    ["MONITOR"], ["HELLO", "3"], ["CLIENT", "REPLY", "OFF"], ["client", "reply", "skip"],
                    ["SELECT", "1"], ["AUTH", "x"], ["RESET"], ["SYNC"],
                ] {
                    let command = RedisCommand(words[0], words.dropFirst().map { bytes($0) })
                    let error = await RedisClientError.caught { _ = try await client.send(command) }
                    #expect(error?.code == .unsupportedCommand, "\(words): \(String(describing: error))")
                }
                // Nothing of it reached the server: it counts only the commands below.
                let results = await client.pipeline([
                    RedisCommand("SET", [bytes("k"), bytes("v")]), RedisCommand("SUBSCRIBE", [bytes("ch")]),
                    RedisCommand("GET", [bytes("k")]),
                ])
                #expect(try results[0].get() == .simpleString("OK"))
                #expect((results[1].failureCode) == .unsupportedCommand)
                #expect(try results[2].get() == .bulkString(bytes("v")))
                // CLIENT commands other than REPLY go, and callers keep their own replies.
                #expect(try await client.send("CLIENT", [bytes("GETNAME")]) == .null)
                let stats = try server.cli("INFO", "commandstats")
                for name in ["subscribe", "psubscribe", "ssubscribe", "monitor", "hello", "select", "auth", "reset"] {
                    #expect(!stats.contains("cmdstat_\(name):"), "\(name) reached the server")
                }
                let wrong = CallCounter()
                await withTaskGroup(of: Void.self) { group in
                    for index in 0..<200 {
                        group.addTask {
                            let reply = try? await client.send("ECHO", [bytes("e\(index)")])
                            if reply != .bulkString(bytes("e\(index)")) { wrong.add() }
                        }
                    }
                }
                #expect(wrong.value == 0)
            }
        }
    }

    /// Replies of every shape the builder makes: nil and empty elements, errors inside arrays, a 64 MiB value.
    @Test func replyShapes() async throws {
        try await RedisServer.withServer { server in
            try await withClient(server, configure: { $0.commandTimeout = .seconds(30) }) { client in
                try await client.set("e", value: [])
                let values = try await client.mget(["e", "missing", "e"])
                #expect(values == [[], nil, []])
                let reply = try await client.send(
                    "EVAL", [bytes("return {1, redis.error_reply('boom'), 'x', false, {}}"), bytes("0")])
                guard case .array(let elements) = reply else {
                    Issue.record("not an array: \(reply)")
                    return
                }
                #expect(elements.count == 5, "\(elements)")
                if elements.count == 5 {
                    #expect(elements[0] == .integer(1))
                    if case .error(let error) = elements[1] {
                        #expect(error.message.hasSuffix("boom"))
                    } else {
                        Issue.record("\(elements[1])")
                    }
                    #expect(elements[2] == .bulkString(bytes("x")))
                    #expect(elements[3] == .null)
                    #expect(elements[4] == .array([]))
                }
                let big = [UInt8](repeating: 0x61, count: 64 << 20)
                try await client.set("big", value: big)
                let results = await withTaskGroup(of: Bool.self) { group in
                    for _ in 0..<3 { group.addTask { (try? await client.get("big")) == big } }
                    for _ in 0..<50 { group.addTask { (try? await client.get("e")) == [] } }
                    var ok = 0
                    for await result in group where result { ok += 1 }
                    return ok
                }
                #expect(results == 53)
            }
        }
    }

    /// Timeouts, cancellations and a server that stalls, under concurrent load: a reply is never handed to the
    /// wrong caller.
    @Test(arguments: [false, true])
    func repliesNeverGoToTheWrongCaller(onLoops: Bool) async throws {
        try await RedisServer.withServer(.init(enableDebugCommand: true)) { server in
            try await withClient(
                server,
                configure: {
                    $0.connectionCount = 2; $0.commandTimeout = .milliseconds(40)
                }
            ) {
                client in
                let keys = 200
                _ = await client.pipeline((0..<keys).map { RedisCommand("SET", [bytes("k\($0)"), bytes("v\($0)")]) })
                let wrong = CallCounter()
                let ok = CallCounter()
                let failed = CallCounter()
                let stop = CallCounter()
                let executors = client.taskExecutors
                let stalls = Task.detached {
                    while stop.value == 0 {
                        _ = try? server.cli("DEBUG", "SLEEP", "0.06")
                        try? await Task.sleep(for: .milliseconds(30))
                    }
                }
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<32 {
                        group.addTask {
                            let body = { @Sendable () async in
                                var n = worker
                                let end = ContinuousClock.now.advanced(by: .seconds(3))
                                while ContinuousClock.now < end {
                                    n = (n &* 1_103_515_245 &+ 12345) & 0x7fff_ffff
                                    let key = n % keys
                                    let cancelAfter = n % 3 == 0
                                    let task = Task { [n, key] in
                                        do {
                                            if n % 5 == 0 {
                                                let results = await client.pipeline([
                                                    RedisCommand("GET", [bytes("k\(key)")]),
                                                    RedisCommand("ECHO", [bytes("e\(n)")]),
                                                ])
                                                if case .success(let r) = results[0], r != .bulkString(bytes("v\(key)"))
                                                {
                                                    wrong.add()
                                                }
                                                if case .success(let r) = results[1], r != .bulkString(bytes("e\(n)")) {
                                                    wrong.add()
                                                }
                                                return
                                            }
                                            let value = try await client.get(RedisKey("k\(key)"))
                                            if value != bytes("v\(key)") {
                                                wrong.add()
                                            } else {
                                                ok.add()
                                            }
                                        } catch {
                                            failed.add()
                                        }
                                    }
                                    if cancelAfter {
                                        try? await Task.sleep(for: .microseconds(n % 2000))
                                        task.cancel()
                                    }
                                    await task.value
                                }
                            }
                            if onLoops, !executors.isEmpty {
                                await withTaskExecutorPreference(executors[worker % executors.count]) { await body() }
                            } else {
                                await body()
                            }
                        }
                    }
                }
                stop.set(1)
                await stalls.value
                #expect(wrong.value == 0)
                #expect(ok.value > 0)
                #expect(failed.value > 0)
                // And the client still works.
                let k7 = try await client.get("k7")
                #expect(k7 == bytes("v7"))
            }
        }
    }

    /// close() while a connect (AUTH) is in flight to a hung server returns promptly and every caller is answered.
    @Test func closeWhileConnectingToAHungServer() async throws {
        try await RedisServer.withServer(.init(password: "secret")) { server in
            var configuration = try RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port))
            configuration.authentication = .init(password: "secret")
            configuration.connectTimeout = .seconds(20)
            configuration.commandTimeout = .seconds(20)
            let client = try RedisClient(configuration: configuration, logger: quietLogger)
            server.hang()
            defer { server.resume() }
            let answered = CallCounter()
            let callers = 10
            for _ in 0..<callers {
                Task.detached {
                    _ = try? await client.get("x")
                    answered.add()
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            let took = await measure { await client.close() }
            #expect(took < .seconds(2), "close took \(took)")
            let done = await Self.wait(for: answered, toReach: callers, timeout: .seconds(2))
            #expect(done == callers)
        }
    }

    /// A task on the client's own loop closes the client: no deadlock.
    @Test func closeFromTheLoopThread() async throws {
        try await RedisServer.withServer { server in
            let client = try RedisClient(
                configuration: RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port)),
                logger: quietLogger)
            let executor = try #require(client.taskExecutors.first)
            let done = CallCounter()
            Task.detached {
                await withTaskExecutorPreference(executor) {
                    _ = try? await client.ping()
                    await client.close()
                    done.set(1)
                }
            }
            #expect(await Self.wait(for: done, toReach: 1, timeout: Duration.seconds(5)) == 1)
        }
    }

    /// A task on client A's loop uses client B; then A is closed while B keeps working from that task.
    @Test func taskOnOneClientsLoopUsesAnother() async throws {
        try await RedisServer.withServer { server in
            let a = try RedisClient(
                configuration: RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port)),
                logger: quietLogger)
            let b = try RedisClient(
                configuration: RedisClientConfiguration(endpoint: .tcp(host: "127.0.0.1", port: server.port)),
                logger: quietLogger)
            let executor = try #require(a.taskExecutors.first)
            let result = CallCounter()
            Task.detached {
                await withTaskExecutorPreference(executor) {
                    do {
                        try await b.set("ab", value: bytes("1"))
                        _ = try await a.get("ab")
                        await a.close()
                        for _ in 0..<100 { _ = try await b.get("ab") }
                        result.set(1)
                    } catch {
                        result.set(2)
                    }
                }
            }
            #expect(await Self.wait(for: result, toReach: 1, timeout: Duration.seconds(5)) == 1)
            await b.close()
        }
    }

    /// CLIENT KILL during a large pipelined batch: every command is answered, none with another's reply.
    @Test func clientKillDuringALargePipeline() async throws {
        try await RedisServer.withServer { server in
            try await withClient(
                server,
                configure: {
                    $0.connectionCount = 1; $0.commandTimeout = .seconds(10)
                }
            ) {
                client in
                for round in 0..<5 {
                    let count = 20_000
                    let commands = (0..<count).map { RedisCommand("ECHO", [bytes("r\(round)-\($0)")]) }
                    async let killer: Void = {
                        try? await Task.sleep(for: .milliseconds(5))
                        _ = try? server.cli("CLIENT", "KILL", "TYPE", "normal")
                    }()
                    let results = await client.pipeline(commands)
                    await killer
                    #expect(results.count == count)
                    for (index, result) in results.enumerated() {
                        if case .success(let reply) = result, reply != .bulkString(bytes("r\(round)-\(index)")) {
                            Issue.record("wrong reply at \(index): \(reply)")
                            return
                        }
                    }
                }
                let pong = try await client.ping()
                #expect(pong == "PONG")
            }
        }
    }

    /// The pending limit: more callers than maximumPendingCommands against a hung server are refused fast.
    @Test func pendingLimitAgainstAHungServer() async throws {
        try await RedisServer.withServer { server in
            try await withClient(
                server,
                configure: {
                    $0.connectionCount = 1
                    $0.maximumPendingCommands = 10
                    $0.commandTimeout = .seconds(2)
                }
            ) { client in
                let pong = try await client.ping()
                #expect(pong == "PONG")
                server.hang()
                defer { server.resume() }
                let timeoutsSeen = CallCounter()
                let othersSeen = CallCounter()
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<100 {
                        group.addTask {
                            let code = await RedisClientError.code { _ = try await client.get("x") }
                            if code == .timeout { timeoutsSeen.add() } else { othersSeen.add() }
                        }
                    }
                }
                let timeouts = timeoutsSeen.value
                // The limit counts commands waiting to be written; the batch in flight comes on top.
                #expect(timeouts <= 20, "timeouts \(timeouts), others \(othersSeen.value)")
                #expect(othersSeen.value >= 80, "timeouts \(timeouts), others \(othersSeen.value)")
            }
        }
    }
}

final class CallCounter: Sendable {
    private let atomic = Atomic<Int>(0)
    var value: Int { atomic.load(ordering: .relaxed) }
    func add() { atomic.wrappingAdd(1, ordering: .relaxed) }
    func set(_ value: Int) { atomic.store(value, ordering: .relaxed) }
}

extension Result where Failure == RedisClientError {
    /// The error's code, `nil` for a success.
    var failureCode: RedisClientError.Code? {
        if case .failure(let error) = self { error.code } else { nil }
    }
}
