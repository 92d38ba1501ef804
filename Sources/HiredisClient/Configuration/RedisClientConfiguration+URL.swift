extension RedisClientConfiguration {
    /// Sets the endpoint, credentials and database from `url`; every problem, the invalid values a URL can
    /// carry included, is an ``RedisClientError/Code/invalidURL``.
    mutating func parse(_ url: String) throws(RedisClientError) {
        try parseParts(url)
        if let problem = problem {
            throw RedisClientError(.invalidURL, "invalid Redis URL: \(problem)")
        }
    }

    private mutating func parseParts(_ url: String) throws(RedisClientError) {
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
        let scheme: String
        if url.hasPrefix("redis://") {
            scheme = "redis://"
        } else if url.hasPrefix("rediss://") {
            scheme = "rediss://"
            tls = TLS()
        } else {
            throw fail("scheme must be redis://, rediss:// or unix://")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        if rest.contains("?") { throw fail("query items are not supported in \(scheme) URLs") }
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
