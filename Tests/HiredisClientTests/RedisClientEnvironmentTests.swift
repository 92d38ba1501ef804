import HiredisClient
import Testing

/// `RedisClientConfiguration(environment:prefix:)`: every variable, and errors that name the bad one.
struct RedisClientEnvironmentTests {
    @Test func anEmptyEnvironmentGivesTheDefaults() throws {
        let configuration = try RedisClientConfiguration(environment: [:])
        #expect(configuration.endpoint == .tcp(host: "127.0.0.1", port: 6379))
        #expect(configuration.commandTimeout == .seconds(1))
        #expect(configuration.connectionCount == 4)
        #expect(configuration.authentication == nil)
    }

    @Test func everyVariableSetsItsSetting() throws {
        let configuration = try RedisClientConfiguration(environment: [
            "REDIS_URL": "redis://cache.internal:6380/3",
            "REDIS_USERNAME": "app",
            "REDIS_PASSWORD": "s3cret",
            "REDIS_CONNECTIONS": "8",
            "REDIS_CONNECT_TIMEOUT": "2s",
            "REDIS_COMMAND_TIMEOUT": "250ms",
            "REDIS_KEEP_ALIVE": "off",
            "REDIS_MAXIMUM_PENDING_COMMANDS": "1000",
            "REDIS_BUSY_POLLING": "false",
            "UNRELATED": "ignored",
        ])
        #expect(configuration.endpoint == .tcp(host: "cache.internal", port: 6380))
        #expect(configuration.database == 3)
        #expect(configuration.authentication == .init(username: "app", password: "s3cret"))
        #expect(configuration.connectionCount == 8)
        #expect(configuration.connectTimeout == .seconds(2))
        #expect(configuration.commandTimeout == .milliseconds(250))
        #expect(configuration.keepAlive == false)
        #expect(configuration.maximumPendingCommands == 1000)
        #expect(configuration.busyPolling == false)
    }

    @Test func aPrefixSelectsTheVariablesAndEmptyValuesCountAsUnset() throws {
        let configuration = try RedisClientConfiguration(
            environment: [
                "SESSIONS_REDIS_URL": "unix:///run/redis.sock?db=1", "SESSIONS_REDIS_CONNECTIONS": "",
                "REDIS_CONNECTIONS": "9",
            ],
            prefix: "SESSIONS_REDIS_"
        )
        #expect(configuration.endpoint == .unix(path: "/run/redis.sock"))
        #expect(configuration.database == 1)
        #expect(configuration.connectionCount == 4)
    }

    @Test(arguments: [
        ("REDIS_URL", "http://cache:6379", RedisClientError.Code.invalidURL, "scheme"),
        ("REDIS_URL", "redis://:hunter2@cache:99999", .invalidURL, "port"),
        ("REDIS_COMMAND_TIMEOUT", "250", .invalidConfiguration, "unit"),
        ("REDIS_COMMAND_TIMEOUT", "0ms", .invalidConfiguration, "more than"),
        ("REDIS_COMMAND_TIMEOUT", "-1s", .invalidConfiguration, "unit"),
        ("REDIS_COMMAND_TIMEOUT", "fast", .invalidConfiguration, "unit"),
        ("REDIS_CONNECT_TIMEOUT", "1 fortnight", .invalidConfiguration, "unit"),
        ("REDIS_CONNECTIONS", "0", .invalidConfiguration, "1...1024"),
        ("REDIS_CONNECTIONS", "four", .invalidConfiguration, "whole number"),
        ("REDIS_CONNECTIONS", "2000", .invalidConfiguration, "1...1024"),
        ("REDIS_DATABASE", "-1", .invalidConfiguration, "not in"),
        ("REDIS_KEEP_ALIVE", "maybe", .invalidConfiguration, "true or false"),
        ("REDIS_USERNAME", "app", .invalidConfiguration, "without a password"),
    ])
    func aBadValueThrowsACodedErrorNamingTheVariable(
        variable: String,
        value: String,
        code: RedisClientError.Code,
        reason: String
    ) throws {
        let error = #expect(throws: RedisClientError.self) {
            try RedisClientConfiguration(environment: [variable: value])
        }
        #expect(error?.code == code)
        #expect(error?.message.contains(variable) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("hunter2") == false)
    }

    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("2s", .seconds(2)), ("1m", .seconds(60)), ("1.5s", .milliseconds(1500)),
        ("1h", .seconds(3600)), ("500us", .microseconds(500)), (" 3s ", .seconds(3)),
    ])
    func durationsTakeAUnit(text: String, expected: Duration) throws {
        let configuration = try RedisClientConfiguration(environment: ["REDIS_COMMAND_TIMEOUT": text])
        #expect(configuration.commandTimeout == expected)
    }
}
