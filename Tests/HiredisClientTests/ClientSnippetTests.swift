import HiredisClient
import Logging
import RedisTestSupport
import Testing

/// The opening of `Snippets/ClientBasics.swift` (which `swift build` only compiles), run against a real server,
/// verbatim but for the URL: the documented client example works, not only builds.
struct ClientSnippetTests {
    @Test func theClientBasicsSnippetRuns() async throws {
        try await RedisServer.withServer(.init(password: "secret")) { server in
            let url = "redis://:secret@127.0.0.1:\(server.port)/0"
            _ = try server.cli("SET", "session:1", "x")
            _ = try server.cli("SET", "session:2", "y")
            var printed: [String] = []
            func print(_ text: String) { printed.append(text) }

            // --- Snippets/ClientBasics.swift begins (URL from the test server) ---
            var configuration = try RedisClientConfiguration(url: url)
            configuration.commandTimeout = .milliseconds(250)
            configuration.connectionCount = 4
            let client = try RedisClient(configuration: configuration, logger: Logger(label: "app"))

            try await client.set("user:42", value: Array("Ada".utf8), expiration: .seconds(60))
            if let bytes = try await client.get("user:42") {
                print(String(decoding: bytes, as: UTF8.self))
            }
            for try await keys in client.scan(match: "session:*", count: 500) {
                try await client.unlink(keys)
            }
            await client.close()
            // --- Snippets/ClientBasics.swift: the scan; the rest of the snippet follows it there ---

            #expect(printed == ["Ada"])
            #expect(try server.cli("EXISTS", "session:1", "session:2") == "0")
        }
    }
}
