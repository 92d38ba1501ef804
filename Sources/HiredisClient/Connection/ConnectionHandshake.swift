/// What a new connection sends before any command: `AUTH` with the configured credentials, then `SELECT` of
/// the configured database, then `READONLY` on a cluster replica that serves reads.
enum ConnectionHandshake {
    /// Runs the handshake on `transport`, whose deadline bounds all the steps.
    ///
    /// - Parameters:
    ///   - transportError: turns a failed read or write into the error to report; the connection knows whether
    ///     it cut the socket on purpose.
    /// - Returns: the error of the step that failed, `nil` when all succeeded.
    static func run(
        on transport: RedisTransport,
        configuration: RedisClientConfiguration,
        transportError: (RedisClientError) -> RedisClientError
    ) -> RedisClientError? {
        // Built for each connect, never kept: AUTH's words hold the password.
        var commands: [RedisCommand] = []
        if let authentication = configuration.authentication {
            var auth = RedisCommand("AUTH")
            if let username = authentication.username { auth.append(username) }
            auth.append(authentication.password)
            commands.append(auth)
        }
        if configuration.database != 0 {
            var select = RedisCommand("SELECT")
            select.append(configuration.database)
            commands.append(select)
        }
        if configuration.readOnly { commands.append(RedisCommand("READONLY")) }
        for command in commands { transport.append(command) }
        for command in commands {
            let result: Result<RedisReply, RedisClientError>
            do {
                result = try transport.readReply()
            } catch {
                var error = transportError(error)
                if error.code == .timeout {
                    error.message = "no answer to \(command) within the connect timeout"
                }
                return error
            }
            if case .failure(let error) = result {
                // AUTH's error text names no password; keep the server's words and say which step failed.
                return RedisClientError(
                    .connectionFailed,
                    "\(command) failed: \(error.serverError?.message ?? error.message)",
                    underlying: error.serverError
                )
            }
        }
        return nil
    }
}

extension ConnectionHandshake {
    /// Connects, runs the TLS handshake, authenticates and selects the database, all within the connect timeout,
    /// blocking the calling thread.
    ///
    /// - Parameters:
    ///   - publish: called with the socket's descriptor once it is connected (so that a cut, a deadline or
    ///     `close()`, can end the handshakes at once), and with -1 before the descriptor is closed on failure.
    ///   - transportError: turns a failed read or write into the error to report.
    /// - Returns: the transport, ready for commands, or the error of the step that failed.
    static func establish(
        configuration: RedisClientConfiguration,
        tlsContext: TLSContext?,
        publish: (Int32) -> Void,
        transportError: (RedisClientError) -> RedisClientError
    ) -> Result<RedisTransport, RedisClientError> {
        let deadline = monotonicDeadline(after: configuration.connectTimeout)
        let socket: Socket
        do {
            socket = try Socket.connect(to: configuration.endpoint, deadline: deadline)
        } catch {
            return .failure(error)
        }
        if configuration.keepAlive, configuration.endpoint.isTCP {
            socket.enableKeepAlive()
        }
        let made: RedisTransport
        do {
            var tls: TLSSession?
            if let tlsContext, case .tcp(let host, _) = configuration.endpoint.base {
                tls = try TLSSession(context: tlsContext, socket: socket, host: host, endpoint: configuration.endpoint)
            }
            made = RedisTransport(socket: socket, tls: tls)
        } catch {
            return .failure(error)
        }
        publish(made.fileDescriptor)
        made.deadline = deadline
        var failure: RedisClientError?
        do {
            try made.startTLS(until: deadline)
        } catch {
            failure = transportError(error)
        }
        failure = failure ?? run(on: made, configuration: configuration, transportError: transportError)
        if let failure {
            // Forget the socket before the transport closes it: its number may be reused at once.
            publish(-1)
            return .failure(failure)
        }
        made.deadline = .max
        return .success(made)
    }
}
