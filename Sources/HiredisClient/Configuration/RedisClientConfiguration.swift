/// How a ``RedisClient`` connects: where, as whom, and how long it waits.
///
/// Every time value is a `Duration`. Invalid values stop the program at init with a message saying which value
/// and why (they are programming errors, not runtime conditions).
///
/// ```swift
/// var configuration = try RedisClientConfiguration(url: "redis://:secret@127.0.0.1:6380/2")
/// configuration.commandTimeout = .milliseconds(250)
/// let client = RedisClient(configuration: configuration, logger: logger)
/// ```
public struct RedisClientConfiguration: Sendable, CustomStringConvertible {
    /// Where the server listens.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        enum Base: Sendable, Hashable {
            case tcp(host: String, port: Int)
            case unix(path: String)
        }

        let base: Base

        /// A TCP address; `host` is a name or an IP address.
        public static func tcp(host: String, port: Int = 6379) -> Endpoint {
            precondition((1...65535).contains(port), "Redis port must be in 1...65535, got \(port)")
            return Endpoint(base: .tcp(host: host, port: port))
        }

        /// A Unix domain socket path.
        public static func unix(path: String) -> Endpoint {
            precondition(!path.isEmpty, "Redis Unix socket path must not be empty")
            return Endpoint(base: .unix(path: path))
        }

        public var description: String {
            switch base {
            case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unix(let path): "unix:\(path)"
            }
        }
    }

    /// Credentials sent with `AUTH` on every new connection.
    public struct Authentication: Sendable, Hashable, CustomStringConvertible {
        /// An ACL user name (Redis 6+); `nil` authenticates as the default user with `requirepass`'s password.
        public var username: String?
        public var password: String

        public init(username: String? = nil, password: String) {
            self.username = username
            self.password = password
        }

        /// Never shows the password.
        public var description: String {
            "\(username ?? "default"):***"
        }
    }

    /// Capped exponential backoff between failed connection attempts.
    public struct Reconnect: Sendable, Hashable {
        /// Wait after the first failed attempt.
        public var initialDelay: Duration
        /// The longest wait between attempts.
        public var maximumDelay: Duration
        public var multiplier: Double

        /// 50 ms, doubling, at most 2 s.
        public init(
            initialDelay: Duration = .milliseconds(50),
            maximumDelay: Duration = .seconds(2),
            multiplier: Double = 2
        ) {
            precondition(initialDelay >= .zero, "Reconnect.initialDelay must not be negative")
            precondition(maximumDelay >= initialDelay, "Reconnect.maximumDelay must be at least initialDelay")
            precondition(multiplier >= 1, "Reconnect.multiplier must be at least 1, got \(multiplier)")
            self.initialDelay = initialDelay
            self.maximumDelay = maximumDelay
            self.multiplier = multiplier
        }
    }

    public var endpoint: Endpoint
    /// `AUTH` credentials, or `nil` for none.
    public var authentication: Authentication?
    /// The logical database selected with `SELECT` on every new connection. Default 0.
    public var database: Int {
        didSet { precondition(database >= 0, "database must not be negative, got \(database)") }
    }
    /// How many connections the pool keeps. Each has its own I/O thread. Default 4.
    public var connectionCount: Int {
        didSet { precondition(connectionCount >= 1, "connectionCount must be at least 1, got \(connectionCount)") }
    }
    /// How long establishing a connection (TCP or Unix connect, `AUTH`, `SELECT`) may take. Default 1 s.
    public var connectTimeout: Duration {
        didSet { precondition(connectTimeout > .zero, "connectTimeout must be positive") }
    }
    /// How long a command may wait for its reply, queueing and connecting included. Default 1 s.
    public var commandTimeout: Duration {
        didSet { precondition(commandTimeout > .zero, "commandTimeout must be positive") }
    }
    /// Enables TCP keepalive (hiredis's 15 s interval) so a silently dead peer is noticed. Default true.
    public var keepAlive: Bool
    public var reconnect: Reconnect
    /// Commands waiting to be written, across the pool, beyond which a call fails at once with
    /// ``RedisClientError/Code/poolExhausted`` instead of queueing without bound. Default 65,536.
    public var maximumPendingCommands: Int {
        didSet { precondition(maximumPendingCommands >= 1, "maximumPendingCommands must be at least 1") }
    }

    /// Lets one I/O thread at a time busy-poll briefly (for the next command for up to 50 µs, for a reply for up to
    /// 100 µs) instead of sleeping, but only while batches are small — callers that wait for each reply. It
    /// saves a thread wake-up per call, which on a VM costs tens of microseconds: a lone caller's throughput
    /// roughly doubles. The price is CPU: a thread may poll without pause while a lone caller keeps sending.
    /// Default true.
    public var busyPolling: Bool

    public init(endpoint: Endpoint = .tcp(host: "127.0.0.1", port: 6379), authentication: Authentication? = nil) {
        self.endpoint = endpoint
        self.authentication = authentication
        self.database = 0
        self.connectionCount = 4
        self.connectTimeout = .seconds(1)
        self.commandTimeout = .seconds(1)
        self.keepAlive = true
        self.reconnect = Reconnect()
        self.maximumPendingCommands = 65_536
        self.busyPolling = true
    }

    /// Reads `redis://[[user]:password@]host[:port][/db]` or `unix:///path/to/socket[?db=N]`.
    ///
    /// User name and password are percent-decoded. A malformed URL throws an error that names the part at fault
    /// and never repeats the password.
    public init(url: String) throws(RedisClientError) {
        self.init()
        try parse(url)
    }

    /// Describes the configuration without the password.
    public var description: String {
        var text = "RedisClientConfiguration(endpoint: \(endpoint), database: \(database)"
        if let authentication { text += ", auth: \(authentication)" }
        text += ", connections: \(connectionCount), connectTimeout: \(connectTimeout)"
        text += ", commandTimeout: \(commandTimeout))"
        return text
    }

    private mutating func parse(_ url: String) throws(RedisClientError) {
        func fail(_ why: String) -> RedisClientError {
            RedisClientError(.invalidURL, "invalid Redis URL: \(why)")
        }
        if url.hasPrefix("unix://") {
            var rest = Substring(url.dropFirst("unix://".count))
            var query: Substring = ""
            if let mark = rest.firstIndex(of: "?") {
                query = rest[rest.index(after: mark)...]
                rest = rest[..<mark]
            }
            guard rest.hasPrefix("/"), rest.count > 1 else {
                throw fail("unix:// needs an absolute socket path, e.g. unix:///run/redis.sock")
            }
            endpoint = .unix(path: String(rest))
            for pair in query.split(separator: "&") where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail("query item '\(pair)' is not name=value") }
                switch parts[0] {
                case "db":
                    guard let db = Int(parts[1]), db >= 0 else { throw fail("db must be a number >= 0") }
                    database = db
                default:
                    throw fail("unknown query item '\(parts[0])' (only db is known)")
                }
            }
            return
        }
        guard url.hasPrefix("redis://") else {
            throw fail("scheme must be redis:// or unix:// (rediss:// needs TLS, which hiredis 0.14.1 lacks)")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        if rest.contains("?") { throw fail("query items are not supported in redis:// URLs") }
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let parts = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw fail("user info must be user:password or :password") }
            guard let user = Self.percentDecode(parts[0]) else { throw fail("user name has a bad %-escape") }
            guard let password = Self.percentDecode(parts[1]) else { throw fail("password has a bad %-escape") }
            guard !password.isEmpty else { throw fail("password is empty") }
            authentication = Authentication(username: user.isEmpty ? nil : user, password: password)
        }
        var hostPort = rest
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else { throw fail("database '\(path)' is not a number >= 0") }
                database = db
            }
        }
        var host: Substring
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw fail("IPv6 host lacks ']'") }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("expected ':port' after IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.firstIndex(of: ":") {
            host = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = hostPort
        }
        guard !host.isEmpty else { throw fail("host is missing") }
        var port = 6379
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else {
                throw fail("port '\(portText)' is not a number in 1...65535")
            }
            port = parsed
        }
        endpoint = .tcp(host: String(host), port: port)
    }

    private static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
