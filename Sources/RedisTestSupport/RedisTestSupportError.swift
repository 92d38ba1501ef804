/// An error thrown by the test support: a server that would not start, a refused connection, a timeout.
///
/// The ``code`` says what happened and is stable; the ``message`` says it for a human and, when a
/// redis-server failed, carries the tail of its log so a failing test explains itself.
///
/// ```swift
/// do {
///     _ = try await RawConnection.connect(port: server.port)
/// } catch let error as RedisTestSupportError where error.code == .connectionRefused {
///     // The server is down, as the test wanted.
/// }
/// ```
public struct RedisTestSupportError: Error, CustomStringConvertible, Sendable {
    /// What went wrong. A struct over a private enum, so codes can be added without breaking users.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case serverStartFailed = "SERVER_START_FAILED"
            case serverShutDown = "SERVER_SHUT_DOWN"
            case commandFailed = "COMMAND_FAILED"
            case connectionRefused = "CONNECTION_REFUSED"
            case connectionReset = "CONNECTION_RESET"
            case connectionClosed = "CONNECTION_CLOSED"
            case timeout = "TIMEOUT"
            case protocolError = "PROTOCOL_ERROR"
            case systemCallFailed = "SYSTEM_CALL_FAILED"
            case proxyStopped = "PROXY_STOPPED"
            case noProxy = "NO_PROXY"
            case notACluster = "NOT_A_CLUSTER"
            case clusterStartFailed = "CLUSTER_START_FAILED"
            case noSuchShard = "NO_SUCH_SHARD"
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// redis-server could not be started (or restarted): it exited, never answered, or no port was free.
        public static var serverStartFailed: Self { Self(.serverStartFailed) }
        /// The ``RedisServer`` was shut down; it cannot be restarted or queried any more.
        public static var serverShutDown: Self { Self(.serverShutDown) }
        /// A helper process (`redis-cli`) could not be run or reported a failure.
        public static var commandFailed: Self { Self(.commandFailed) }
        /// Nothing listens on the address: the connection was refused.
        public static var connectionRefused: Self { Self(.connectionRefused) }
        /// The peer reset the connection (`ECONNRESET`).
        public static var connectionReset: Self { Self(.connectionReset) }
        /// The peer closed the connection (end of file).
        public static var connectionClosed: Self { Self(.connectionClosed) }
        /// The operation did not finish within its bound.
        public static var timeout: Self { Self(.timeout) }
        /// The bytes received are not a valid RESP reply.
        public static var protocolError: Self { Self(.protocolError) }
        /// A system call failed for another reason; the message names it and its `errno`.
        public static var systemCallFailed: Self { Self(.systemCallFailed) }
        /// The ``FaultProxy`` was stopped.
        public static var proxyStopped: Self { Self(.proxyStopped) }
        /// A proxy fault was applied to a server with no ``FaultProxy`` in front of it.
        public static var noProxy: Self { Self(.noProxy) }
        /// A shard fault (`kill-shard 0`) was applied to a single redis-server rather than a ``RedisCluster``.
        public static var notACluster: Self { Self(.notACluster) }
        /// A ``RedisCluster`` could not be created: a node did not start, `redis-cli --cluster create` failed, or
        /// the cluster did not become healthy in time.
        public static var clusterStartFailed: Self { Self(.clusterStartFailed) }
        /// A shard number outside the ``RedisCluster``'s shards, or a slot outside 0..<16384.
        public static var noSuchShard: Self { Self(.noSuchShard) }

        /// The stable string form, for instance `CONNECTION_REFUSED`.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation, with the redis-server log tail when there is one.
    public var message: String
    /// The `errno` of a failed system call, when the error comes from one.
    public var errno: Int32?
    /// The file that threw the error, for locating it in test output.
    public var file: String
    /// The line that threw the error.
    public var line: Int

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: What went wrong.
    ///   - message: A human-readable explanation.
    ///   - errno: The `errno` of the failed system call, if any.
    public init(
        _ code: Code,
        _ message: String,
        errno: Int32? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.errno = errno
        self.file = file
        self.line = line
    }

    public var description: String {
        "RedisTestSupportError(\(code)): \(message) [\(file):\(line)]"
    }
}
