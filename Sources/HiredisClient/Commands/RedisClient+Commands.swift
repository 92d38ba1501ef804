/// Typed helpers for the commands a cache needs. Each is a thin layer over ``RedisClient/send(_:timeout:)``
/// that checks the reply's type.
extension RedisClient {
    /// `SET` conditions.
    public struct SetCondition: Sendable, Hashable {
        let word: String?
        /// Always set.
        public static let always = SetCondition(word: nil)
        /// Set only if the key does not exist (`NX`).
        public static let ifNotExists = SetCondition(word: "NX")
        /// Set only if the key exists (`XX`).
        public static let ifExists = SetCondition(word: "XX")
    }

    /// `GET key`: the value, or `nil` when the key does not exist.
    public func get(_ key: RedisKey, timeout: Duration? = nil) async throws(RedisClientError) -> [UInt8]? {
        var command = RedisCommand("GET")
        command.append(key)
        return try await optionalBytes(send(command, timeout: timeout), for: command)
    }

    /// `MGET key…`: one entry per key, `nil` where a key does not exist.
    public func mget(_ keys: [RedisKey], timeout: Duration? = nil) async throws(RedisClientError) -> [[UInt8]?] {
        precondition(!keys.isEmpty, "MGET needs at least one key")
        var command = RedisCommand("MGET")
        for key in keys { command.append(key) }
        let reply = try await send(command, timeout: timeout)
        guard let elements = reply.array, elements.count == keys.count else {
            throw unexpected(reply, for: command)
        }
        var values: [[UInt8]?] = []
        values.reserveCapacity(elements.count)
        for element in elements {
            values.append(try optionalBytes(element, for: command))
        }
        return values
    }

    /// `SET key value [PX ms] [NX|XX]`.
    ///
    /// - Parameters:
    ///   - expiration: the time to live, sent as `PX` in milliseconds (at least 1 ms); `nil` for none.
    ///   - condition: ``SetCondition/ifNotExists`` (`NX`) or ``SetCondition/ifExists`` (`XX`).
    /// - Returns: whether the value was set (false only when the condition was not met).
    @discardableResult
    public func set(
        _ key: RedisKey,
        value: [UInt8],
        expiration: Duration? = nil,
        condition: SetCondition = .always,
        timeout: Duration? = nil
    ) async throws(RedisClientError) -> Bool {
        var command = RedisCommand("SET")
        command.append(key)
        command.append(value)
        if let expiration {
            command.append("PX")
            command.append(max(1, expiration.wholeMilliseconds))
        }
        if let word = condition.word { command.append(word) }
        let reply = try await send(command, timeout: timeout)
        switch reply {
        case .simpleString: return true
        case .null: return false
        default: throw unexpected(reply, for: command)
        }
    }

    /// `DEL key…`: how many keys existed and were removed.
    @discardableResult
    public func del(_ keys: [RedisKey], timeout: Duration? = nil) async throws(RedisClientError) -> Int {
        try await integerCommand("DEL", keys, timeout: timeout)
    }

    /// `UNLINK key…`: like `DEL`, but the server frees memory in the background.
    @discardableResult
    public func unlink(_ keys: [RedisKey], timeout: Duration? = nil) async throws(RedisClientError) -> Int {
        try await integerCommand("UNLINK", keys, timeout: timeout)
    }

    /// `EXISTS key…`: how many of the keys exist (a key named twice counts twice).
    public func exists(_ keys: [RedisKey], timeout: Duration? = nil) async throws(RedisClientError) -> Int {
        try await integerCommand("EXISTS", keys, timeout: timeout)
    }

    /// `PEXPIRE key ms`: whether the key existed and now expires after `duration`.
    @discardableResult
    public func expire(
        _ key: RedisKey,
        after duration: Duration,
        timeout: Duration? = nil
    ) async throws(RedisClientError) -> Bool {
        var command = RedisCommand("PEXPIRE")
        command.append(key)
        command.append(duration.wholeMilliseconds)
        return try await integer(send(command, timeout: timeout), for: command) == 1
    }

    /// The time to live of a key, from `PTTL`.
    public enum TimeToLive: Sendable, Hashable {
        case missingKey
        case noExpiry
        case expires(in: Duration)
    }

    /// `PTTL key`, typed.
    public func ttl(_ key: RedisKey, timeout: Duration? = nil) async throws(RedisClientError) -> TimeToLive {
        var command = RedisCommand("PTTL")
        command.append(key)
        let milliseconds = try await integer(send(command, timeout: timeout), for: command)
        switch milliseconds {
        case -2: return .missingKey
        case -1: return .noExpiry
        default: return .expires(in: .milliseconds(milliseconds))
        }
    }

    /// `PING`: returns the server's `PONG`.
    @discardableResult
    public func ping(timeout: Duration? = nil) async throws(RedisClientError) -> String {
        let command = RedisCommand("PING")
        let reply = try await send(command, timeout: timeout)
        guard let text = reply.string else { throw unexpected(reply, for: command) }
        return text
    }

    /// `INFO [section]`: the server's report as text.
    public func info(_ section: String? = nil, timeout: Duration? = nil) async throws(RedisClientError) -> String {
        var command = RedisCommand("INFO")
        if let section { command.append(section) }
        let reply = try await send(command, timeout: timeout)
        guard let text = reply.string else { throw unexpected(reply, for: command) }
        return text
    }

    /// One `SCAN cursor [MATCH pattern] [COUNT count]` step: the next cursor (0 when done) and a batch of keys.
    public func scanStep(
        cursor: UInt64,
        match pattern: String? = nil,
        count: Int? = nil,
        timeout: Duration? = nil
    ) async throws(RedisClientError) -> (cursor: UInt64, keys: [RedisKey]) {
        var command = RedisCommand("SCAN")
        command.append(String(cursor))
        if let pattern {
            command.append("MATCH")
            command.append(pattern)
        }
        if let count {
            command.append("COUNT")
            command.append(count)
        }
        let reply = try await send(command, timeout: timeout)
        guard let parts = reply.array, parts.count == 2, let cursorText = parts[0].string,
            let next = UInt64(cursorText), let keys = parts[1].array
        else { throw unexpected(reply, for: command) }
        var result: [RedisKey] = []
        result.reserveCapacity(keys.count)
        for key in keys {
            guard let bytes = key.bytes else { throw unexpected(reply, for: command) }
            result.append(RedisKey(bytes: bytes))
        }
        return (next, result)
    }

    /// Iterates every key matching `pattern` with `SCAN`, never `KEYS`, so the server is not blocked.
    ///
    /// SCAN's guarantees apply: a key present for the whole iteration is returned at least once (possibly more
    /// than once); keys added or removed meanwhile may or may not be.
    ///
    /// ```swift
    /// for try await batch in client.scan(match: "session:*", count: 500) {
    ///     try await client.unlink(batch)
    /// }
    /// ```
    public func scan(match pattern: String? = nil, count: Int? = nil) -> RedisScanSequence {
        RedisScanSequence(client: self, pattern: pattern, count: count)
    }

    private func integerCommand(
        _ name: String,
        _ keys: [RedisKey],
        timeout: Duration?
    ) async throws(RedisClientError) -> Int {
        precondition(!keys.isEmpty, "\(name) needs at least one key")
        var command = RedisCommand(name)
        for key in keys { command.append(key) }
        return Int(try await integer(send(command, timeout: timeout), for: command))
    }

    private func integer(_ reply: RedisReply, for command: RedisCommand) throws(RedisClientError) -> Int64 {
        guard let value = reply.integer else { throw unexpected(reply, for: command) }
        return value
    }
}

// Reading replies, for the single-server and the cluster commands alike.

/// The bytes of a bulk string, `nil` for a null reply.
///
/// - Throws: ``RedisClientError/Code/serverError`` for an error reply, ``RedisClientError/Code/unexpectedReply``
///   for any other.
func optionalBytes(_ reply: RedisReply, for command: RedisCommand) throws(RedisClientError) -> [UInt8]? {
    switch reply {
    case .bulkString(let bytes): return bytes
    case .null: return nil
    default: throw unexpected(reply, for: command)
    }
}

/// The error for a reply a command does not expect: the server's own error, or `UNEXPECTED_REPLY`.
func unexpected(_ reply: RedisReply, for command: RedisCommand) -> RedisClientError {
    if case .error(let serverError) = reply {
        return RedisClientError(.serverError, serverError.message, underlying: serverError)
    }
    return RedisClientError(.unexpectedReply, "unexpected reply to \(command): \(reply)")
}
