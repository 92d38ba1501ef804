// A short client run for `valgrind --leak-check=full` (benchmarks/leak-check.sh): connect, pipelined
// commands, a timed-out command (its connection is cut and re-made), a refused reconnect after close, and
// shutdown. Arguments: URL [CA-FILE [CERT-FILE KEY-FILE]]: with a `rediss://` URL the same run goes over TLS,
// trusting CA-FILE and presenting the client certificate when given. A synchronous main waiting on a semaphore, because valgrind 3.19 cannot follow the sigsuspend
// that Dispatch parks the main thread in under an async main.
import Dispatch
import HiredisClient
import Logging

let url = CommandLine.arguments.dropFirst().first ?? "redis://127.0.0.1:6379"
let done = DispatchSemaphore(value: 0)

Task.detached {
    do {
        var configuration = try RedisClientConfiguration(url: url)
        let files = Array(CommandLine.arguments.dropFirst(2))
        if files.count >= 1 { configuration.tls?.caFile = files[0] }
        if files.count >= 3 {
            configuration.tls?.certificateFile = files[1]
            configuration.tls?.keyFile = files[2]
        }
        configuration.commandTimeout = .seconds(20)  // valgrind runs everything many times slower
        let client = try RedisClient(configuration: configuration, logger: Logger(label: "leak-check"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<2_000 {
                group.addTask {
                    try await client.set(RedisKey("leak:\(index)"), value: Array(repeating: 7, count: 100))
                    _ = try await client.get(RedisKey("leak:\(index)"))
                }
            }
            try await group.waitForAll()
        }
        for try await batch in client.scan(match: "leak:*", count: 200) { try await client.unlink(batch) }
        do {
            _ = try await client.send("DEBUG", [Array("SLEEP".utf8), Array("2".utf8)], timeout: .milliseconds(500))
        } catch {
            print("expected timeout:", error)
        }
        print("after reconnect:", try await client.ping())
        await client.close()
        do {
            try await client.ping()
        } catch {
            print("expected closed:", error)
        }
    } catch {
        print("unexpected error:", error)
    }
    done.signal()
}
done.wait()
