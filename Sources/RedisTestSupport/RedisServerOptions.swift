extension RedisServer {
    /// How a ``RedisServer`` configures the redis-server it starts.
    ///
    /// The defaults give a plain server without persistence and with `DEBUG` enabled, which is what most
    /// tests want. Whatever the options, the server binds 127.0.0.1 on a free port (never 6379), runs in
    /// the foreground, logs to `redis.log` in its own temporary directory and writes nothing else to disk.
    ///
    /// ```swift
    /// let options = RedisServer.Options(
    ///     password: "secret",
    ///     aclUsers: [.init(name: "alice", password: "wonderland", rules: "~cache:* +@all")],
    ///     maxmemory: "1mb",
    ///     maxmemoryPolicy: "noeviction"
    /// )
    /// try await RedisServer.withServer(options) { server in
    ///     // server.url == "redis://:secret@127.0.0.1:\(server.port)"
    /// }
    /// ```
    public struct Options: Sendable, Hashable {
        /// A user created with `--user`, for tests of ACL authentication (`AUTH name password`).
        public struct ACLUser: Sendable, Hashable {
            /// The user name.
            public var name: String
            /// The user's password (it may contain spaces).
            public var password: String
            /// ACL rules separated by spaces, as in `ACL SETUSER`: `"~* +@all"`, `"~cache:* +get +set"`.
            public var rules: String

            /// Creates a user that is enabled (`on`) and has `password`.
            ///
            /// - Parameters:
            ///   - name: The user name.
            ///   - password: The password (`>password` in ACL syntax).
            ///   - rules: Key patterns and command permissions; the default grants everything.
            public init(name: String, password: String, rules: String = "~* +@all") {
                self.name = name
                self.password = password
                self.rules = rules
            }
        }

        /// TLS on a port of its own (``RedisServer/tlsPort``), beside the plain port that readiness checks,
        /// ``RedisServer/cli(_:timeout:)`` and the faults keep using.
        public struct TLS: Sendable, Hashable {
            /// The server's certificate chain (PEM).
            public var certificateFile: String
            /// Its private key (PEM).
            public var keyFile: String
            /// The CA that client certificates must chain to (`tls-ca-cert-file`).
            public var caFile: String
            /// `tls-auth-clients yes`: refuse clients without a certificate from ``caFile``. Default `false`.
            public var authenticateClients: Bool

            public init(certificateFile: String, keyFile: String, caFile: String, authenticateClients: Bool = false) {
                self.certificateFile = certificateFile
                self.keyFile = keyFile
                self.caFile = caFile
                self.authenticateClients = authenticateClients
            }

            /// The server certificate of `certificates` (or `server`), trusting their CA for client certificates.
            public init(
                certificates: TestCertificates,
                server: TestCertificates.Pair? = nil,
                authenticateClients: Bool = false
            ) {
                let pair = server ?? certificates.server
                self.init(
                    certificateFile: pair.certificateFile,
                    keyFile: pair.keyFile,
                    caFile: certificates.caFile,
                    authenticateClients: authenticateClients
                )
            }
        }

        /// The `requirepass` of the default user; `nil` (the default) leaves it without a password.
        public var password: String?
        /// Users to create besides the default user.
        public var aclUsers: [ACLUser]
        /// Also listen on a Unix socket (`redis.sock` in the server's directory, mode 700).
        public var unixSocket: Bool
        /// The `maxmemory` limit, for instance `"1mb"`; `nil` means no limit.
        public var maxmemory: String?
        /// The `maxmemory-policy`, for instance `"noeviction"` (writes then fail with `OOM`).
        public var maxmemoryPolicy: String?
        /// Start with `--enable-debug-command yes`, since Redis 7 refuses `DEBUG SLEEP` otherwise. Default `true`.
        public var enableDebugCommand: Bool
        /// More `redis-server` arguments, for instance `["--hz", "100"]`.
        ///
        /// They come after the defaults (`--save ""`, `--appendonly no`, `--protected-mode no`), so they
        /// can override them, and before the fixed options (`--bind`, `--port`, `--dir`, `--logfile`,
        /// `--daemonize`, `--unixsocket`), which they cannot. Keep `loglevel` at `notice` or more verbose:
        /// readiness is read from the log.
        public var extraArguments: [String]
        /// Run as a Redis Cluster node: `cluster-enabled yes`, `cluster-config-file nodes.conf` in the server's
        /// own directory, and a cluster bus port of its own (``RedisServer/clusterBusPort``). Default `false`.
        ///
        /// Port and bus port are chosen once and kept across ``RedisServer/restart()``, and so is the directory
        /// with `nodes.conf`: a restarted node keeps its node id and rejoins the cluster it knew. Cluster settings
        /// such as `cluster-node-timeout` go in ``extraArguments``; ``RedisCluster`` sets them.
        public var clusterEnabled: Bool
        /// Also listen for TLS on ``RedisServer/tlsPort``; `nil` (the default) for none.
        public var tls: TLS?

        /// Creates options; every parameter has the default a plain test server wants.
        public init(
            password: String? = nil,
            aclUsers: [ACLUser] = [],
            unixSocket: Bool = false,
            maxmemory: String? = nil,
            maxmemoryPolicy: String? = nil,
            enableDebugCommand: Bool = true,
            extraArguments: [String] = [],
            clusterEnabled: Bool = false,
            tls: TLS? = nil
        ) {
            self.password = password
            self.aclUsers = aclUsers
            self.unixSocket = unixSocket
            self.maxmemory = maxmemory
            self.maxmemoryPolicy = maxmemoryPolicy
            self.enableDebugCommand = enableDebugCommand
            self.extraArguments = extraArguments
            self.clusterEnabled = clusterEnabled
            self.tls = tls
        }

        /// The redis-server command line for these options.
        func arguments(
            port: Int,
            directory: String,
            unixSocketPath: String?,
            clusterBusPort: Int? = nil,
            tlsPort: Int? = nil
        ) -> [String] {
            // An empty argument is what `--save ""` is on a shell command line: no RDB snapshots.
            var arguments = ["--save", "", "--appendonly", "no", "--protected-mode", "no"]
            if let password {
                arguments += ["--requirepass", password]
            }
            for user in aclUsers {
                // redis-server quotes each argument that is not an option name, so every rule must be its
                // own argument: "~* +@all" as one would be read as a single, invalid rule.
                let rules = user.rules.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                arguments += ["--user", user.name, "on", ">" + user.password] + rules
            }
            if let maxmemory {
                arguments += ["--maxmemory", maxmemory]
            }
            if let maxmemoryPolicy {
                arguments += ["--maxmemory-policy", maxmemoryPolicy]
            }
            if enableDebugCommand {
                arguments += ["--enable-debug-command", "yes"]
            }
            arguments += extraArguments
            // Last, so nothing above can move the server off loopback, onto another port or out of its directory.
            arguments += [
                "--bind", "127.0.0.1",
                "--port", String(port),
                "--dir", directory,
                "--daemonize", "no",
                "--logfile", directory + "/" + RedisServer.logFileName,
            ]
            if let unixSocketPath {
                arguments += ["--unixsocket", unixSocketPath, "--unixsocketperm", "700"]
            }
            if let tls, let tlsPort {
                arguments += [
                    "--tls-port", String(tlsPort),
                    "--tls-cert-file", tls.certificateFile,
                    "--tls-key-file", tls.keyFile,
                    "--tls-ca-cert-file", tls.caFile,
                    "--tls-auth-clients", tls.authenticateClients ? "yes" : "no",
                ]
            }
            if clusterEnabled, let clusterBusPort {
                // The bus port is explicit: the default (port + 10000) is out of range for a port the kernel
                // hands out above 55535, and may be taken by someone else. nodes.conf is relative to --dir.
                arguments += [
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-port", String(clusterBusPort),
                ]
            }
            return arguments
        }
    }
}
