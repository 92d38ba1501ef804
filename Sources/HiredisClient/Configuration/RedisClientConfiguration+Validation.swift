extension RedisClientConfiguration {
    /// Checks every value of the configuration.
    ///
    /// The initializers and ``RedisClient/init(configuration:logger:)`` call it, so a configuration made invalid
    /// through its properties is caught before a client uses it.
    ///
    /// - Throws: ``RedisClientError/Code/invalidConfiguration`` naming the first invalid value and why.
    public func validate() throws(RedisClientError) {
        if let problem {
            throw RedisClientError(.invalidConfiguration, "invalid Redis client configuration: \(problem)")
        }
    }

    /// The largest ``connectionCount``: each connection has a thread of its own.
    static let connectionCountRange = 1...1024

    /// What is wrong with the configuration, `nil` when nothing is. Never contains the password.
    var problem: String? {
        if let problem = endpoint.problem { return problem }
        if let problem = authentication?.problem { return problem }
        if let tls {
            if case .unix = endpoint.base { return "tls is set for a Unix socket endpoint, which takes no TLS" }
            if let problem = tls.problem { return problem }
        }
        if database < 0 { return "database \(database) is negative" }
        if !Self.connectionCountRange.contains(connectionCount) {
            return "connectionCount \(connectionCount) is not in \(Self.connectionCountRange)"
        }
        if connectTimeout <= .zero { return "connectTimeout \(connectTimeout) is not positive" }
        if commandTimeout <= .zero { return "commandTimeout \(commandTimeout) is not positive" }
        if maximumPendingCommands < 1 { return "maximumPendingCommands \(maximumPendingCommands) is less than 1" }
        return reconnect.problem
    }
}

extension RedisClientConfiguration.Endpoint {
    /// `sun_path` holds 108 bytes, the terminating NUL included; a longer path would be cut silently.
    static let maximumUnixPathLength = 107

    /// What is wrong with the endpoint, `nil` when nothing is.
    var problem: String? {
        switch base {
        case .tcp(let host, let port):
            if host.isEmpty { return "host is empty" }
            // Spaces and control characters (NUL, CR, LF…) are never part of a name or an address, and a NUL
            // would cut the C string that is resolved.
            if host.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) {
                return "host \(host.debugDescription) contains a space or a control character"
            }
            if host.utf8.count > 255 { return "host is longer than 255 bytes" }
            if !(1...65535).contains(port) { return "port \(port) is not in 1...65535" }
            return nil
        case .unix(let path):
            if path.isEmpty { return "Unix socket path is empty" }
            if path.utf8.contains(0) { return "Unix socket path \(path.debugDescription) contains a NUL byte" }
            if path.utf8.count > Self.maximumUnixPathLength {
                return "Unix socket path is longer than \(Self.maximumUnixPathLength) bytes"
            }
            return nil
        }
    }
}

extension RedisClientConfiguration.Authentication {
    /// What is wrong with the credentials, `nil` when nothing is. Never contains the password.
    var problem: String? {
        if password.isEmpty { return "password is empty" }
        if username?.isEmpty == true { return "username is empty (use nil for the default user)" }
        return nil
    }
}

extension RedisClientConfiguration.Reconnect {
    /// Checks the delays and the multiplier.
    ///
    /// - Throws: ``RedisClientError/Code/invalidConfiguration`` naming the invalid value.
    func validate() throws(RedisClientError) {
        if let problem {
            throw RedisClientError(.invalidConfiguration, "invalid Redis client configuration: \(problem)")
        }
    }

    /// What is wrong with the backoff, `nil` when nothing is.
    var problem: String? {
        if initialDelay < .zero { return "reconnect.initialDelay \(initialDelay) is negative" }
        if maximumDelay < initialDelay {
            return "reconnect.maximumDelay \(maximumDelay) is less than reconnect.initialDelay \(initialDelay)"
        }
        if !multiplier.isFinite || multiplier < 1 {
            return "reconnect.multiplier \(multiplier) is not a finite number of at least 1"
        }
        return nil
    }
}
