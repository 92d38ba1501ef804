// The Redis client on its own: configuration from a URL, typed commands on bytes, a scan, an explicit
// pipeline, any other command, errors by code, and closing.

// snippet.hide
import HiredisClient
import Logging

// snippet.show
func clientConfiguration() throws(RedisClientError) -> RedisClientConfiguration {
    var configuration = try RedisClientConfiguration(url: "redis://:secret@127.0.0.1:6379/0")
    configuration.commandTimeout = .milliseconds(250)
    configuration.connectionCount = 4
    return configuration
}

let client = try RedisClient(configuration: clientConfiguration(), logger: Logger(label: "app"))

try await client.set("user:42", value: Array("Ada".utf8), expiration: .seconds(60))
if let bytes = try await client.get("user:42") {
    print(String(decoding: bytes, as: UTF8.self))
}
for try await keys in client.scan(match: "session:*", count: 500) {
    try await client.unlink(keys)
}

// Many commands of one caller in one write, a result each.
let pages = await client.pipeline((0..<16).map { RedisCommand("GET", [Array("page:\($0)".utf8)]) })
print(pages.count)

// Anything else, as bytes: the arguments go to hiredis as an argv, never through a format string.
let reply = try await client.send("HSET", [Array("user:42:profile".utf8), Array("name".utf8), Array("Ada".utf8)])
print(reply.integer ?? 0)

do {
    _ = try await client.get("user:42", timeout: .milliseconds(50))
} catch let error where error.code == .timeout {
    print("no answer within 50 ms")  // the call still returned on time
} catch {
    print(error.code, error.serverError?.code ?? "-")  // e.g. SERVER_ERROR WRONGTYPE
}

await client.close()
