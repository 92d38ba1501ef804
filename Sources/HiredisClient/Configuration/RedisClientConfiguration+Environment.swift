extension RedisClientConfiguration {
    /// Reads the configuration from environment variables.
    ///
    /// Every variable is optional; what is unset (or set to the empty string) keeps the default of
    /// ``init(url:)``. With the default prefix `REDIS_`:
    ///
    /// | variable | example | sets |
    /// |---|---|---|
    /// | `REDIS_URL` | `redis://:secret@cache:6379/0` | ``endpoint``, ``authentication``, ``database`` (see ``init(url:)``) |
    /// | `REDIS_USERNAME`, `REDIS_PASSWORD` | `app`, `secret` | ``authentication``, over the URL's |
    /// | `REDIS_DATABASE` | `2` | ``database``, over the URL's |
    /// | `REDIS_CONNECTIONS` | `4` | ``connectionCount`` (1...1024) |
    /// | `REDIS_CONNECT_TIMEOUT` | `1s` | ``connectTimeout`` |
    /// | `REDIS_COMMAND_TIMEOUT` | `250ms` | ``commandTimeout`` |
    /// | `REDIS_KEEP_ALIVE` | `true` | ``keepAlive`` |
    /// | `REDIS_MAXIMUM_PENDING_COMMANDS` | `65536` | ``maximumPendingCommands`` |
    /// | `REDIS_BUSY_POLLING` | `false` | ``busyPolling`` |
    ///
    /// Durations take a unit: `250ms`, `2s`, `1m`, `1h` (`us` too); flags `true`/`false`, `1`/`0`,
    /// `yes`/`no`, `on`/`off`.
    ///
    /// ```swift
    /// // REDIS_URL=redis://cache:6379 REDIS_COMMAND_TIMEOUT=250ms
    /// let configuration = try RedisClientConfiguration(environment: ProcessInfo.processInfo.environment)
    /// ```
    ///
    /// - Parameters:
    ///   - environment: the variables to read, e.g. `ProcessInfo.processInfo.environment`.
    ///   - prefix: put before every variable name. Default `REDIS_`.
    /// - Throws: ``RedisClientError/Code/invalidConfiguration`` (``RedisClientError/Code/invalidURL`` for the
    ///   URL) with a message that starts with the variable's name and never repeats a password.
    public init(
        environment: [String: String],
        prefix: String = "REDIS_"
    ) throws(RedisClientError) {
        try self.init(settings: .environment(environment, prefix: prefix))
    }

    /// Reads the configuration from `settings`: the environment initializer and swift-configuration's.
    package init(settings: SettingsSource) throws(RedisClientError) {
        if let url = settings.text(["url"]) {
            do throws(RedisClientError) {
                try self.init(url: url)
            } catch {
                throw RedisClientError(.invalidURL, "\(settings.name(["url"])): \(error.message)")
            }
        } else {
            try self.init(endpoint: .tcp(host: "127.0.0.1", port: 6379))
        }
        do throws(SettingProblem) {
            try apply(settings)
        } catch {
            throw RedisClientError(.invalidConfiguration, "invalid Redis client configuration: \(error.message)")
        }
        try validate()
    }

    private mutating func apply(_ settings: SettingsSource) throws(SettingProblem) {
        let username = settings.text(["username"])
        if let password = settings.text(["password"]) {
            authentication = Authentication(username: username ?? authentication?.username, password: password)
        } else if let username {
            guard var credentials = authentication else {
                throw SettingProblem(settings.name(["username"]), "is set without a password")
            }
            credentials.username = username
            authentication = credentials
        }
        if let database = try settings.integer(["database"], in: 0...Int.max) { self.database = database }
        if let count = try settings.integer(["connections"], in: Self.connectionCountRange) { connectionCount = count }
        if let timeout = try settings.duration(["connect", "timeout"]) { connectTimeout = timeout }
        if let timeout = try settings.duration(["command", "timeout"]) { commandTimeout = timeout }
        if let keepAlive = try settings.flag(["keep", "alive"]) { self.keepAlive = keepAlive }
        if let pending = try settings.integer(["maximum", "pending", "commands"], in: 1...Int.max) {
            maximumPendingCommands = pending
        }
        if let busyPolling = try settings.flag(["busy", "polling"]) { self.busyPolling = busyPolling }
    }
}
