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
    /// | `REDIS_TLS` | `true` | ``tls`` on or off, over the URL's scheme (`rediss://` turns it on) |
    /// | `REDIS_TLS_CA_FILE`, `REDIS_TLS_CA_DIRECTORY` | `/etc/redis/ca.crt` | ``TLS/caFile``, ``TLS/caDirectory`` |
    /// | `REDIS_TLS_CERT_FILE`, `REDIS_TLS_KEY_FILE` | `/etc/redis/client.crt` | ``TLS/certificateFile``, ``TLS/keyFile`` |
    /// | `REDIS_TLS_SERVER_NAME` | `cache.internal` | ``TLS/serverName`` |
    /// | `REDIS_TLS_VERIFY` | `true` | ``TLS/verifyPeer`` |
    ///
    /// Durations take a unit: `250ms`, `2s`, `1m`, `1h` (`us` too); flags `true`/`false`, `1`/`0`,
    /// `yes`/`no`, `on`/`off`. A `REDIS_TLS_*` setting while TLS is off (a `redis://` URL and no `REDIS_TLS=true`)
    /// is an error rather than ignored: the connection would go out in clear text.
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
        try applyTLS(settings)
    }

    private mutating func applyTLS(_ settings: SettingsSource) throws(SettingProblem) {
        if let on = try settings.flag(["tls"]) { tls = on ? (tls ?? TLS()) : nil }
        let paths: [([String], WritableKeyPath<TLS, String?>)] = [
            (["tls", "ca", "file"], \.caFile),
            (["tls", "ca", "directory"], \.caDirectory),
            (["tls", "cert", "file"], \.certificateFile),
            (["tls", "key", "file"], \.keyFile),
            (["tls", "server", "name"], \.serverName),
        ]
        for (words, path) in paths {
            guard let value = settings.text(words) else { continue }
            guard tls != nil else { throw Self.tlsOff(settings, words) }
            tls?[keyPath: path] = value
        }
        if let verify = try settings.flag(["tls", "verify"]) {
            guard tls != nil else { throw Self.tlsOff(settings, ["tls", "verify"]) }
            tls?.verifyPeer = verify
        }
    }

    private static func tlsOff(_ settings: SettingsSource, _ words: [String]) -> SettingProblem {
        SettingProblem(
            settings.name(words),
            "is set but TLS is off: use a rediss:// URL or set \(settings.name(["tls"])) to true"
        )
    }
}
