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
