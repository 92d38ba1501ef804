import Tracing

/// How a ``RedisClient`` connects: where, as whom, and how long it waits.
///
/// Every time value is a `Duration`. An invalid value — a port outside 1...65535, a host with a space or a control
/// character, a negative database, no connections, a timeout that is not positive — throws
/// ``RedisClientError/Code/invalidConfiguration`` (``RedisClientError/Code/invalidURL`` from ``init(url:)``) from
/// the initializer that is given it, and from ``RedisClient/init(configuration:logger:)`` when it was set on a
/// property afterwards. Nothing traps, and nothing invalid is accepted silently. ``validate()`` runs the same
/// checks.
///
/// ```swift
/// var configuration = try RedisClientConfiguration(url: "redis://:secret@127.0.0.1:6380/2")
/// configuration.commandTimeout = .milliseconds(250)
/// let client = try RedisClient(configuration: configuration, logger: logger)
/// ```
public struct RedisClientConfiguration: Sendable, CustomStringConvertible {
    /// Where the server listens.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        enum Base: Sendable, Hashable {
            case tcp(host: String, port: Int)
            case unix(path: String)
        }

        let base: Base

        /// A TCP address; `host` is a name or an IP address. Checked by the configuration that holds it.
        public static func tcp(host: String, port: Int = 6379) -> Endpoint {
            Endpoint(base: .tcp(host: host, port: port))
        }

        /// A Unix domain socket path. Checked by the configuration that holds it.
        public static func unix(path: String) -> Endpoint {
            Endpoint(base: .unix(path: path))
        }

        public var description: String {
            switch base {
            case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unix(let path): "unix:\(path)"
            }
        }
    }

    /// Credentials sent with `AUTH` on every new connection.
    ///
    /// The password is kept so that it never shows: not in ``description``, and not in `dump`, `Mirror` or
    /// `String(reflecting:)` of the credentials or of anything holding them.
    public struct Authentication: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
        /// An ACL user name (Redis 6+); `nil` authenticates as the default user with `requirepass`'s password.
        public var username: String?
        /// The password, as given.
        public var password: String {
            get { redactedPassword.value }
            set { redactedPassword = RedactedPassword(newValue) }
        }
        private var redactedPassword: RedactedPassword

        public init(username: String? = nil, password: String) {
            self.username = username
            self.redactedPassword = RedactedPassword(password)
        }

        /// The user name and `***`.
        public var description: String {
            "\(username ?? "default"):***"
        }

        public var debugDescription: String {
            "Authentication(username: \(username.debugDescription), password: ***)"
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
        ///
        /// - Throws: ``RedisClientError/Code/invalidConfiguration`` for a negative delay, a maximum below the
        ///   initial delay, or a multiplier below 1 or not finite.
        public init(
            initialDelay: Duration = .milliseconds(50),
            maximumDelay: Duration = .seconds(2),
            multiplier: Double = 2
        ) throws(RedisClientError) {
            self.init(unchecked: initialDelay, maximumDelay, multiplier)
            try validate()
        }

        private init(unchecked initialDelay: Duration, _ maximumDelay: Duration, _ multiplier: Double) {
            self.initialDelay = initialDelay
            self.maximumDelay = maximumDelay
            self.multiplier = multiplier
        }

        static let standard = Reconnect(unchecked: .milliseconds(50), .seconds(2), 2)
    }

    public var endpoint: Endpoint
    /// TLS settings, or `nil` (the default) for a plain connection. A `rediss://` URL turns it on with the defaults
    /// of ``TLS``. Unix sockets take no TLS.
    public var tls: TLS?
    /// `AUTH` credentials, or `nil` for none.
    public var authentication: Authentication?
    /// The logical database selected with `SELECT` on every new connection. Default 0.
    public var database: Int
    /// How many connections the pool keeps, 1...1024. They share the client's event loops (one per core, at most
    /// 2, and no more than the connections). Default 4.
    public var connectionCount: Int
    /// How long establishing a connection (TCP or Unix connect, `AUTH`, `SELECT`) may take. Default 1 s.
    public var connectTimeout: Duration
    /// How long a command may wait for its reply, queueing and connecting included. Default 1 s.
    public var commandTimeout: Duration
    /// Enables TCP keepalive (probes after 15 s idle, every 5 s, 3 of them) so a silently dead peer is noticed.
    /// Default true.
    public var keepAlive: Bool
    public var reconnect: Reconnect
    /// Commands waiting to be written, across the pool, beyond which a call fails at once with
    /// ``RedisClientError/Code/poolExhausted`` instead of queueing without bound. Default 65,536.
    public var maximumPendingCommands: Int

    /// Lets one I/O thread at a time busy-poll briefly (an event loop for its next event for up to 100 µs; with
    /// thread-per-connection, for the next command for up to 50 µs and for a reply for up to 100 µs) instead of
    /// sleeping, but only while batches are small — callers that wait for each reply. It
    /// saves a thread wake-up per call, which on a VM costs tens of microseconds: a lone caller's throughput
    /// roughly doubles. The price is CPU: a thread may poll without pause while a lone caller keeps sending.
    /// Default true.
    public var busyPolling: Bool

    /// Where each command's client span goes (named by the command, with OpenTelemetry's database attributes),
    /// or `nil` for none. Default: the tracer bootstrapped in `InstrumentationSystem` when the configuration is
    /// made; with none bootstrapped, tracing is off and costs a pointer check per call.
    public var tracer: (any Tracer)? = InstrumentationSystem.tracer

    /// Sends `READONLY` on every new connection: set by ``RedisClusterClient`` on the clients of replicas it
    /// reads from, which otherwise redirect every read to their primary.
    var readOnly = false

    /// How the connections do their I/O; `nil` (the default) for ``IOModel/processDefault``, the event loop (see
    /// ``RedisConnection`` for why). Set by tests and benchmarks to compare the two.
    package var ioModel: IOModel?

    /// A configuration with the defaults for everything but the endpoint and the credentials.
    ///
    /// - Throws: ``RedisClientError/Code/invalidConfiguration`` when the endpoint or the credentials are invalid.
    public init(
        endpoint: Endpoint = .tcp(host: "127.0.0.1", port: 6379),
        authentication: Authentication? = nil
    ) throws(RedisClientError) {
        self.init(unchecked: endpoint, authentication: authentication)
        try validate()
    }

    private init(unchecked endpoint: Endpoint, authentication: Authentication?) {
        self.endpoint = endpoint
        self.authentication = authentication
        self.tls = nil
        self.database = 0
        self.connectionCount = 4
        self.connectTimeout = .seconds(1)
        self.commandTimeout = .seconds(1)
        self.keepAlive = true
        self.reconnect = .standard
        self.maximumPendingCommands = 65_536
        self.busyPolling = true
    }

    /// Reads `redis://[[user]:password@]host[:port][/db]`, the same with `rediss://` for TLS (``tls`` set to the
    /// defaults of ``TLS``: the system's trust store, verification on), or `unix:///path/to/socket[?db=N]`.
    ///
    /// User name and password are percent-decoded. A malformed URL, or one whose parts are invalid (a host with a
    /// space, a socket path too long), throws ``RedisClientError/Code/invalidURL`` with a message that names the
    /// part at fault and never repeats the password.
    public init(url: String) throws(RedisClientError) {
        self.init(unchecked: .tcp(host: "127.0.0.1", port: 6379), authentication: nil)
        try parse(url)
    }

    /// Describes the configuration without the password.
    public var description: String {
        var text = "RedisClientConfiguration(endpoint: \(endpoint), database: \(database)"
        if let tls { text += ", tls: on (\(tls))" }
        if let authentication { text += ", auth: \(authentication)" }
        text += ", connections: \(connectionCount), connectTimeout: \(connectTimeout)"
        text += ", commandTimeout: \(commandTimeout))"
        return text
    }
}
