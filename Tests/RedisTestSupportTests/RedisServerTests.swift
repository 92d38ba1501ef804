import Foundation
import Glibc
import RedisTestSupport
import Testing

/// Each test starts its own real redis-server; these tests prove the faults are real, not simulated.
@Suite(.timeLimit(.minutes(1)))
struct RedisServerTests {
    @Test func startsOnAFreeLoopbackPortAndAnswersPing() async throws {
        try await RedisServer.withServer { server in
            #expect(server.port > 0)
            #expect(server.port != 6379)
            #expect(server.host == "127.0.0.1")
            #expect(server.url == "redis://127.0.0.1:\(server.port)")
            #expect(server.directory.contains("resilient-cache-test"))
            #expect(server.isRunning)

            let connection = try await RawConnection.connect(port: server.port)
            #expect(try await connection.command("PING") == .simpleString("PONG"))

            // The server answering is the process this RedisServer started, with the fixed configuration.
            let info = try await server.cliAsync("INFO", "server")
            #expect(info.contains("process_id:\(server.pid)"))
            #expect(info.contains("tcp_port:\(server.port)"))
            #expect(try await server.cliAsync("CONFIG", "GET", "save") == "save")
            #expect(try await server.cliAsync("CONFIG", "GET", "appendonly") == "appendonly\nno")
            #expect(try await server.cliAsync("CONFIG", "GET", "bind") == "bind\n127.0.0.1")
        }
    }

    @Test func shutdownKillsTheProcessAndRemovesItsDirectory() async throws {
        let server = try await RedisServer.start()
        let pid = server.pid
        let directory = server.directory
        #expect(FileManager.default.fileExists(atPath: directory + "/redis.log"))

        await server.shutdown()
        #expect(!server.isRunning)
        #expect(Glibc.kill(pid, 0) == -1)
        #expect(!FileManager.default.fileExists(atPath: directory))

        await server.shutdown()  // idempotent
        let error = #expect(throws: RedisTestSupportError.self) { try server.cli("PING") }
        #expect(error?.code == .serverShutDown)
        let restartError = await #expect(throws: RedisTestSupportError.self) { try await server.restart() }
        #expect(restartError?.code == .serverShutDown)
    }

    @Test func withServerShutsTheServerDownWhenTheBodyThrows() async throws {
        struct BodyFailed: Error {}
        var started: (pid: Int32, directory: String)?
        do {
            try await RedisServer.withServer { server in
                started = (server.pid, server.directory)
                throw BodyFailed()
            }
            Issue.record("withServer should rethrow the body's error")
        } catch is BodyFailed {
            // expected
        }
        let (pid, directory) = try #require(started)
        #expect(Glibc.kill(pid, 0) == -1)
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test func concurrentServersGetDistinctPorts() async throws {
        try await RedisServer.withServer { first in
            try await RedisServer.withServer { second in
                #expect(first.port != second.port)
                _ = try await first.cliAsync("SET", "owner", "first")
                #expect(try await second.cliAsync("GET", "owner") == "")
            }
        }
    }

    @Test func hangMakesPingTimeOutAndResumeAnswersIt() async throws {
        try await RedisServer.withServer { server in
            let connection = try await RawConnection.connect(port: server.port)
            #expect(try await connection.command("PING") == .simpleString("PONG"))

            server.hang()
            #expect(server.isHung)
            #expect(server.isRunning)
            let started = ContinuousClock.now
            let error = await #expect(throws: RedisTestSupportError.self) {
                try await connection.command("PING", timeout: .milliseconds(300))
            }
            let waited = ContinuousClock.now - started
            #expect(error?.code == .timeout)
            #expect(waited >= .milliseconds(300))
            #expect(waited < .seconds(3))

            // The kernel still completes connects for a stopped process; only answers stop.
            let second = try await RawConnection.connect(port: server.port)
            let secondError = await #expect(throws: RedisTestSupportError.self) {
                try await second.command("PING", timeout: .milliseconds(200))
            }
            #expect(secondError?.code == .timeout)

            server.resume()
            #expect(!server.isHung)
            // The PINGs sent while hung are answered now, then new ones as usual.
            #expect(try await connection.readReply(timeout: .seconds(5)) == .simpleString("PONG"))
            #expect(try await second.readReply(timeout: .seconds(5)) == .simpleString("PONG"))
            #expect(try await connection.command("PING") == .simpleString("PONG"))
        }
    }

    @Test func killRefusesConnectionsAndRestartAnswersOnTheSamePort() async throws {
        try await RedisServer.withServer { server in
            let port = server.port
            let oldPid = server.pid
            let connection = try await RawConnection.connect(port: port)
            #expect(try await connection.command("SET", "key", "value") == .simpleString("OK"))

            await server.kill()
            #expect(!server.isRunning)
            #expect(Glibc.kill(oldPid, 0) == -1)
            let lost = await #expect(throws: RedisTestSupportError.self) {
                try await connection.command("PING", timeout: .seconds(2))
            }
            #expect(lost?.code == .connectionClosed || lost?.code == .connectionReset)
            let refused = await #expect(throws: RedisTestSupportError.self) {
                try await RawConnection.connect(port: port)
            }
            #expect(refused?.code == .connectionRefused)

            try await server.restart()
            #expect(server.isRunning)
            #expect(server.port == port)
            #expect(server.pid != oldPid)
            let fresh = try await RawConnection.connect(port: port)
            #expect(try await fresh.command("PING") == .simpleString("PONG"))
            // Nothing is persisted: the restarted server starts empty.
            #expect(try await fresh.command("GET", "key") == .bulkString(nil))
        }
    }

    @Test func stopTerminatesGracefullyAndRestartBringsItBack() async throws {
        try await RedisServer.withServer { server in
            await server.stop()
            #expect(!server.isRunning)
            let log = try String(contentsOfFile: server.logPath, encoding: .utf8)
            #expect(log.contains("Received SIGTERM"))
            let refused = await #expect(throws: RedisTestSupportError.self) {
                try await RawConnection.connect(port: server.port)
            }
            #expect(refused?.code == .connectionRefused)
            let cliError = await #expect(throws: RedisTestSupportError.self) { try await server.cliAsync("PING") }
            #expect(cliError?.code == .commandFailed)

            try await server.restart()
            #expect(try await server.cliAsync("PING") == "PONG")
        }
    }

    @Test func restartReplacesAHungServer() async throws {
        try await RedisServer.withServer { server in
            let hungPid = server.pid
            server.hang()
            try await server.restart()
            #expect(!server.isHung)
            #expect(server.pid != hungPid)
            #expect(Glibc.kill(hungPid, 0) == -1)
            let connection = try await RawConnection.connect(port: server.port)
            #expect(try await connection.command("PING") == .simpleString("PONG"))
        }
    }

    @Test func passwordRequiresAuthentication() async throws {
        try await RedisServer.withServer(.init(password: "s3cret pass")) { server in
            #expect(server.url == "redis://:s3cret%20pass@127.0.0.1:\(server.port)")
            let connection = try await RawConnection.connect(port: server.port)
            let reply = try await connection.command("PING")
            #expect(reply.string?.hasPrefix("NOAUTH") == true, "got \(reply)")
            #expect(try await connection.command("AUTH", "wrong") != .simpleString("OK"))
            #expect(try await connection.command("AUTH", "s3cret pass") == .simpleString("OK"))
            #expect(try await connection.command("PING") == .simpleString("PONG"))
            // cli authenticates by itself.
            #expect(try await server.cliAsync("PING") == "PONG")
        }
    }

    @Test func aclUserAuthenticatesWithNameAndPassword() async throws {
        let alice = RedisServer.Options.ACLUser(name: "alice", password: "wonder land", rules: "~cache:* +@all")
        try await RedisServer.withServer(.init(aclUsers: [alice])) { server in
            let connection = try await RawConnection.connect(port: server.port)
            let wrong = try await connection.command("AUTH", "alice", "nope")
            #expect(wrong.string?.hasPrefix("WRONGPASS") == true, "got \(wrong)")
            #expect(try await connection.command("AUTH", "alice", "wonder land") == .simpleString("OK"))
            #expect(try await connection.command("ACL", "WHOAMI") == .bulkString("alice"))
            #expect(try await connection.command("SET", "cache:a", "1") == .simpleString("OK"))
            // The rules were applied one by one: keys outside ~cache:* are denied.
            let denied = try await connection.command("SET", "other", "1")
            #expect(denied.string?.hasPrefix("NOPERM") == true, "got \(denied)")
        }
    }

    @Test func unixSocketIsCreatedAndAnswers() async throws {
        try await RedisServer.withServer(.init(unixSocket: true)) { server in
            let path = try #require(server.unixSocketPath)
            #expect(path.hasPrefix(server.directory))
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
            #expect(info.st_mode & 0o777 == 0o700)
            let connection = try await RawConnection.connect(unixSocketPath: path)
            #expect(try await connection.command("PING") == .simpleString("PONG"))
        }
        try await RedisServer.withServer { server in
            #expect(server.unixSocketPath == nil)
        }
    }

    @Test func maxmemoryWithNoevictionRejectsALargeSetWithOOM() async throws {
        try await RedisServer.withServer(.init(maxmemory: "1mb", maxmemoryPolicy: "noeviction")) { server in
            #expect(try await server.cliAsync("CONFIG", "GET", "maxmemory") == "maxmemory\n1048576")
            // One command that pushes used memory past the limit (it is admitted: the check comes first)...
            _ = try await server.cliAsync("SETRANGE", "filler", "2000000", "x")
            // ...and every write after it is refused.
            let reply = try await server.cliAsync("SET", "big", String(repeating: "v", count: 100_000))
            #expect(reply.hasPrefix("OOM"), "got \(reply)")
            #expect(try await server.cliAsync("EXISTS", "big") == "0")
        }
    }

    @Test func debugCommandIsEnabledByDefaultAndCanBeDisabled() async throws {
        try await RedisServer.withServer { server in
            let reply = try await server.cliAsync("DEBUG", "SLEEP", "0")
            #expect(reply == "OK")
        }
        try await RedisServer.withServer(.init(enableDebugCommand: false)) { server in
            let reply = try await server.cliAsync("DEBUG", "SLEEP", "0")
            #expect(reply.contains("DEBUG command not allowed"), "got \(reply)")
        }
    }

    @Test func cliRunsCommandsBlockingAndAsync() async throws {
        try await RedisServer.withServer { server in
            #expect(try server.cli("SET", "greeting", "hello world") == "OK")
            #expect(try server.cli("GET", "greeting") == "hello world")
            #expect(try await server.cliAsync("DBSIZE") == "1")
            #expect(try await server.cliAsync("GET", "missing") == "")
            let stats = try await server.cliAsync("INFO", "stats")
            #expect(stats.contains("total_commands_processed:"))
        }
    }

    @Test func cliTimesOutOnABusyServer() async throws {
        try await RedisServer.withServer { server in
            let started = ContinuousClock.now
            let error = await #expect(throws: RedisTestSupportError.self) {
                try await server.cliAsync("DEBUG", "SLEEP", "3", timeout: .milliseconds(300))
            }
            #expect(error?.code == .timeout)
            #expect(ContinuousClock.now - started < .seconds(2))
        }
    }

    @Test func clientKillThroughCliClosesARawConnection() async throws {
        try await RedisServer.withServer { server in
            let connection = try await RawConnection.connect(port: server.port)
            #expect(try await connection.command("CLIENT", "SETNAME", "victim") == .simpleString("OK"))
            let addresses = try await server.cliAsync("CLIENT", "LIST")
                .split(separator: "\n")
                .filter { $0.contains("name=victim") }
            #expect(addresses.count == 1)
            #expect(try await server.cliAsync("CLIENT", "KILL", "TYPE", "normal") == "1")
            let error = await #expect(throws: RedisTestSupportError.self) {
                try await connection.readReply(timeout: .seconds(2))
            }
            #expect(error?.code == .connectionClosed)
        }
    }

    @Test func clientPauseDelaysReplies() async throws {
        try await RedisServer.withServer { server in
            let connection = try await RawConnection.connect(port: server.port)
            #expect(try await server.cliAsync("CLIENT", "PAUSE", "500", "ALL") == "OK")
            let started = ContinuousClock.now
            #expect(try await connection.command("PING", timeout: .seconds(3)) == .simpleString("PONG"))
            #expect(ContinuousClock.now - started >= .milliseconds(300))
        }
    }
}
