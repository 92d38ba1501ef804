import HiredisClient
import Logging
import Testing

/// Invalid configuration values throw a coded error where they are given; none traps, none is accepted.
/// Needs no redis-server.
struct RedisClientConfigurationTests {
    /// One invalid value, the change that makes a valid configuration hold it, and the words the error must use.
    struct InvalidValue: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let mentions: String
        let change: @Sendable (inout RedisClientConfiguration) throws -> Void

        init(
            _ name: String,
            mentions: String,
            _ change: @escaping @Sendable (inout RedisClientConfiguration) throws -> Void
        ) {
            self.testDescription = name
            self.mentions = mentions
            self.change = change
        }
    }

    static let invalidValues: [InvalidValue] = [
        InvalidValue("port 0", mentions: "port 0") { $0.endpoint = .tcp(host: "127.0.0.1", port: 0) },
        InvalidValue("port 65536", mentions: "port 65536") { $0.endpoint = .tcp(host: "127.0.0.1", port: 65536) },
        InvalidValue("negative port", mentions: "port -1") { $0.endpoint = .tcp(host: "127.0.0.1", port: -1) },
        InvalidValue("empty host", mentions: "host is empty") { $0.endpoint = .tcp(host: "", port: 6379) },
        InvalidValue("host with a space", mentions: "host") { $0.endpoint = .tcp(host: "cache host", port: 6379) },
        InvalidValue("host with NUL", mentions: "host") { $0.endpoint = .tcp(host: "cache\0.internal", port: 6379) },
        InvalidValue("host with LF", mentions: "host") { $0.endpoint = .tcp(host: "cache\n", port: 6379) },
        InvalidValue("host with TAB", mentions: "host") { $0.endpoint = .tcp(host: "\tcache", port: 6379) },
        InvalidValue("host with DEL", mentions: "host") { $0.endpoint = .tcp(host: "cache\u{7F}", port: 6379) },
        InvalidValue("host too long", mentions: "255") {
            $0.endpoint = .tcp(host: String(repeating: "a", count: 256), port: 6379)
        },
        InvalidValue("empty socket path", mentions: "path is empty") { $0.endpoint = .unix(path: "") },
        InvalidValue("socket path with NUL", mentions: "NUL") { $0.endpoint = .unix(path: "/run/re\0dis.sock") },
        InvalidValue("socket path too long", mentions: "107") {
            $0.endpoint = .unix(path: "/" + String(repeating: "s", count: 120))
        },
        InvalidValue("empty password", mentions: "password is empty") { $0.authentication = .init(password: "") },
        InvalidValue("empty username", mentions: "username") {
            $0.authentication = .init(username: "", password: "pw")
        },
        InvalidValue("negative database", mentions: "database -1") { $0.database = -1 },
        InvalidValue("no connections", mentions: "connectionCount 0") { $0.connectionCount = 0 },
        InvalidValue("negative connections", mentions: "connectionCount -3") { $0.connectionCount = -3 },
        InvalidValue("a thread per connection, 100,000 of them", mentions: "connectionCount 100000") {
            $0.connectionCount = 100_000
        },
        InvalidValue("zero connect timeout", mentions: "connectTimeout") { $0.connectTimeout = .zero },
        InvalidValue("negative connect timeout", mentions: "connectTimeout") { $0.connectTimeout = .seconds(-1) },
        InvalidValue("zero command timeout", mentions: "commandTimeout") { $0.commandTimeout = .zero },
        InvalidValue("negative command timeout", mentions: "commandTimeout") {
            $0.commandTimeout = .milliseconds(-5)
        },
        InvalidValue("no pending commands", mentions: "maximumPendingCommands 0") { $0.maximumPendingCommands = 0 },
        InvalidValue("negative initial delay", mentions: "initialDelay") {
            $0.reconnect.initialDelay = .milliseconds(-1)
        },
        InvalidValue("maximum delay below initial", mentions: "maximumDelay") {
            $0.reconnect.maximumDelay = .milliseconds(1)
        },
        InvalidValue("multiplier below 1", mentions: "multiplier") { $0.reconnect.multiplier = 0.5 },
        InvalidValue("multiplier NaN", mentions: "multiplier") { $0.reconnect.multiplier = .nan },
        InvalidValue("multiplier infinite", mentions: "multiplier") { $0.reconnect.multiplier = .infinity },
    ]

    @Test(arguments: invalidValues)
    func anInvalidValueThrowsInvalidConfigurationAndStartsNoClient(_ value: InvalidValue) throws {
        var configuration = try RedisClientConfiguration(
            endpoint: .tcp(host: "127.0.0.1", port: 6379),
            authentication: .init(password: "the-password")
        )
        try value.change(&configuration)

        let validation = #expect(throws: RedisClientError.self) { try configuration.validate() }
        #expect(validation?.code == .invalidConfiguration)
        #expect(validation?.message.contains(value.mentions) == true, "\(validation?.message ?? "")")
        #expect(validation.map { !$0.description.contains("the-password") } == true)

        // Set on a property after init, the value is still caught before a client uses it.
        let client = #expect(throws: RedisClientError.self) {
            try RedisClient(configuration: configuration, logger: quietLogger)
        }
        #expect(client?.code == .invalidConfiguration)
        #expect(client?.message == validation?.message)
    }

    @Test(arguments: [
        RedisClientConfiguration.Endpoint.tcp(host: "127.0.0.1", port: 0),
        .tcp(host: "bad host", port: 6379),
        .tcp(host: "", port: 6379),
        .unix(path: ""),
    ])
    func theInitializerRejectsAnInvalidEndpoint(_ endpoint: RedisClientConfiguration.Endpoint) {
        let error = #expect(throws: RedisClientError.self) { try RedisClientConfiguration(endpoint: endpoint) }
        #expect(error?.code == .invalidConfiguration)
    }

    @Test func theInitializerRejectsEmptyCredentials() {
        let error = #expect(throws: RedisClientError.self) {
            try RedisClientConfiguration(authentication: .init(password: ""))
        }
        #expect(error?.code == .invalidConfiguration)
    }

    @Test func reconnectRejectsInvalidDelaysAtInit() {
        let negative = #expect(throws: RedisClientError.self) {
            try RedisClientConfiguration.Reconnect(initialDelay: .milliseconds(-1))
        }
        #expect(negative?.code == .invalidConfiguration)
        let inverted = #expect(throws: RedisClientError.self) {
            try RedisClientConfiguration.Reconnect(initialDelay: .seconds(3), maximumDelay: .seconds(2))
        }
        #expect(inverted?.code == .invalidConfiguration)
        let shrinking = #expect(throws: RedisClientError.self) {
            try RedisClientConfiguration.Reconnect(multiplier: 0.9)
        }
        #expect(shrinking?.code == .invalidConfiguration)
    }

    @Test func theDefaultsAndTheEdgesOfEachRangeAreValid() throws {
        var configuration = try RedisClientConfiguration()
        try configuration.validate()
        configuration.endpoint = .tcp(host: "::1", port: 65535)
        configuration.database = 0
        configuration.connectionCount = 1
        configuration.maximumPendingCommands = 1
        configuration.connectTimeout = .nanoseconds(1)
        configuration.reconnect = try .init(initialDelay: .zero, maximumDelay: .zero, multiplier: 1)
        try configuration.validate()
        configuration.endpoint = .unix(path: "/" + String(repeating: "s", count: 106))
        try configuration.validate()
        configuration.endpoint = .tcp(host: "cache.internal", port: 1)
        configuration.authentication = .init(username: "cache", password: "pw")
        try configuration.validate()
    }

    @Test(arguments: [
        "redis://cache host:6379",
        "redis://:pw@ca\tche:6379",
        "redis://host:0",
        "unix:///" + String(repeating: "s", count: 120),
    ])
    func aURLWithAnInvalidPartThrowsInvalidURL(url: String) {
        let error = #expect(throws: RedisClientError.self) { try RedisClientConfiguration(url: url) }
        #expect(error?.code == .invalidURL)
        #expect(error?.message.hasPrefix("invalid Redis URL: ") == true)
    }
}
