/// An error from ``RedisClient``: what went wrong, in a code a program can switch on, and a message a person can
/// read.
///
/// The codes are stable; new ones may be added, so `switch` over them with a `default`. A password never appears
/// in the message.
///
/// ```swift
/// do {
///     _ = try await client.get("user:42")
/// } catch let error where error.code == .timeout {
///     // the server did not answer within the command timeout
/// }
/// ```
public struct RedisClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is; ``description`` is the stable string, e.g. `TIMEOUT`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case connectionRefused = "CONNECTION_REFUSED"
            case connectionFailed = "CONNECTION_FAILED"
            case timeout = "TIMEOUT"
            case connectionLost = "CONNECTION_LOST"
            case protocolError = "PROTOCOL_ERROR"
            case serverError = "SERVER_ERROR"
            case poolExhausted = "POOL_EXHAUSTED"
            case closed = "CLOSED"
            case cancelled = "CANCELLED"
            case invalidURL = "INVALID_URL"
            case invalidConfiguration = "INVALID_CONFIGURATION"
            case unexpectedReply = "UNEXPECTED_REPLY"
            case tooManyRedirects = "TOO_MANY_REDIRECTS"
            case tlsHandshakeFailed = "TLS_HANDSHAKE_FAILED"
            case tlsCertificateRejected = "TLS_CERTIFICATE_REJECTED"
            case tlsHostnameMismatch = "TLS_HOSTNAME_MISMATCH"
            case unsupportedCommand = "UNSUPPORTED_COMMAND"
        }

        let base: Base

        /// Nothing listens at the address (TCP `ECONNREFUSED`, or a Unix socket path that does not exist).
        public static let connectionRefused = Code(base: .connectionRefused)
        /// Connecting failed for another reason (address resolution, authentication, `SELECT`).
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The connect timeout or the command timeout passed before the server answered.
        public static let timeout = Code(base: .timeout)
        /// The connection broke while the command was in flight (reset, EOF, or closed after another command on
        /// it timed out).
        public static let connectionLost = Code(base: .connectionLost)
        /// The server sent bytes that are not RESP.
        public static let protocolError = Code(base: .protocolError)
        /// The server answered with an error reply; ``RedisClientError/serverError`` holds it.
        public static let serverError = Code(base: .serverError)
        /// More commands are queued than ``RedisClientConfiguration/maximumPendingCommands`` allows.
        public static let poolExhausted = Code(base: .poolExhausted)
        /// The client was closed.
        public static let closed = Code(base: .closed)
        /// The calling task was cancelled.
        public static let cancelled = Code(base: .cancelled)
        /// A `redis://`, `rediss://` or `unix://` URL could not be parsed, or holds an invalid value.
        public static let invalidURL = Code(base: .invalidURL)
        /// A value of ``RedisClientConfiguration`` is out of range or malformed (a port of 0, a host with a space,
        /// a negative database, no connections, a timeout that is not positive…).
        public static let invalidConfiguration = Code(base: .invalidConfiguration)
        /// The reply's type does not fit the command (a client bug or an unexpected server).
        public static let unexpectedReply = Code(base: .unexpectedReply)
        /// A cluster kept redirecting a command (`MOVED`, `ASK`, `TRYAGAIN`) more often than
        /// ``RedisClusterConfiguration/maximumRedirects`` allows: its slots are moving, or its nodes disagree.
        public static let tooManyRedirects = Code(base: .tooManyRedirects)
        /// The TLS handshake failed for another reason than the server's certificate: the server refused the
        /// client's certificate (or its absence), speaks no TLS, or no protocol version or cipher was agreed.
        public static let tlsHandshakeFailed = Code(base: .tlsHandshakeFailed)
        /// The server's certificate did not verify against the configured CA: unknown issuer, expired, not yet
        /// valid, revoked… The message carries OpenSSL's reason.
        public static let tlsCertificateRejected = Code(base: .tlsCertificateRejected)
        /// The server's certificate verified but is not for the name (or address) it was reached by, or the
        /// configured ``RedisClientConfiguration/TLS/serverName``.
        public static let tlsHostnameMismatch = Code(base: .tlsHostnameMismatch)
        /// The command would change how its connection replies or what it is, and the pool's connections are
        /// shared by every caller, so it was not sent: `SUBSCRIBE` and the other (un)subscribe commands, `MONITOR`,
        /// `SYNC`/`PSYNC`, `HELLO`, `CLIENT REPLY`, `RESET`, `SELECT`, `AUTH`. Credentials and the database belong
        /// in ``RedisClientConfiguration``.
        public static let unsupportedCommand = Code(base: .unsupportedCommand)

        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A description for people; never contains a password.
    public var message: String
    /// What caused this error, when something did: the server's ``RedisServerError`` for
    /// ``Code/serverError`` (and for a failed `AUTH` or `SELECT`), or the error a command would have failed
    /// with had its deadline not passed first (for a ``Code/timeout``).
    public var underlying: (any Error & Sendable)?
    /// Where the error was created.
    public var file: String
    public var line: Int

    public init(
        _ code: Code,
        _ message: String,
        underlying: (any Error & Sendable)? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    /// The server's error reply, when it caused this error (``Code/serverError``, or a failed `AUTH` or
    /// `SELECT`): its ``RedisServerError/code`` says which (`WRONGTYPE`, `OOM`, `LOADING`…).
    public var serverError: RedisServerError? {
        underlying as? RedisServerError
    }

    public var description: String {
        "\(code): \(message)"
    }

    /// Errors compare by code, message and server error, not by where they were made.
    public static func == (lhs: RedisClientError, rhs: RedisClientError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.serverError == rhs.serverError
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}

/// An error reply from the server, such as `WRONGTYPE Operation against a key holding the wrong kind of value`.
public struct RedisServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The first word of the reply: `ERR`, `WRONGTYPE`, `LOADING`, `OOM`, `NOAUTH`, `BUSY`, `MASTERDOWN`, …
    public var code: String
    /// The whole reply text, code included.
    public var message: String

    public init(message: String) {
        self.message = message
        if let space = message.firstIndex(of: " ") {
            self.code = String(message[..<space])
        } else {
            self.code = message
        }
    }

    public var description: String { message }
}
