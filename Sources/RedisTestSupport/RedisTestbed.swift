import _LoadKit

/// A redis-server and, when asked for, a ``FaultProxy`` in front of it: the address clients use, and every
/// ``RedisFault``.
///
/// The chaos soak, the demo and the benchmarks all need the same thing: a server to inject faults into, with the
/// network faults of a proxy when the fault list has any, and clients pointed at the proxy then. Prefer
/// ``withTestbed(_:proxy:isolation:_:)``, which shuts both down however the body ends.
///
/// ```swift
/// try await RedisTestbed.withTestbed(proxy: true) { testbed in
///     let client = try makeClient(url: testbed.url)
///     try await testbed.apply(.proxyBlackhole)
///     // ... calls time out ...
///     try await testbed.apply(.proxyClear)
/// }
/// ```
public final class RedisTestbed: FaultTarget {
    /// The server.
    public let server: RedisServer
    /// The proxy in front of the server, when the testbed was started with one.
    public let proxy: FaultProxy?
    /// The server's version (`7.0.15`), read from `INFO server` at start; `nil` if it could not be read.
    public let version: String?

    private init(server: RedisServer, proxy: FaultProxy?, version: String?) {
        self.server = server
        self.proxy = proxy
        self.version = version
    }

    /// Starts a server (and a proxy in front of it) and returns once the server answers.
    ///
    /// - Parameters:
    ///   - options: How to configure the server; keep ``RedisServer/Options-swift.struct/enableDebugCommand``
    ///     for `sleep`.
    ///   - proxy: Whether to put a ``FaultProxy`` in front of the server, for the proxy faults.
    /// - Returns: The running testbed. Call ``shutdown()`` when done.
    public static func start(_ options: RedisServer.Options = .init(), proxy: Bool = false) async throws
        -> RedisTestbed
    {
        let server = try await RedisServer.start(options)
        let faultProxy: FaultProxy?
        do {
            faultProxy = proxy ? try FaultProxy.start(upstreamPort: server.tlsPort ?? server.port) : nil
        } catch {
            await server.shutdown()
            throw error
        }
        let info = try? await server.cliAsync("INFO", "server", timeout: .seconds(5))
        return RedisTestbed(server: server, proxy: faultProxy, version: info.flatMap(Self.redisVersion))
    }

    /// Starts a testbed, runs `body` with it and shuts it down, also when `body` throws.
    ///
    /// - Parameters:
    ///   - options: How to configure the server.
    ///   - proxy: Whether to put a ``FaultProxy`` in front of the server.
    ///   - isolation: The caller's actor, inherited so `body` may touch its state.
    ///   - body: What runs against the testbed.
    /// - Returns: What `body` returns.
    public static func withTestbed<T>(
        _ options: RedisServer.Options = .init(),
        proxy: Bool = false,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisTestbed) async throws -> T
    ) async throws -> T {
        let testbed = try await start(options, proxy: proxy)
        do {
            let result = try await body(testbed)
            await testbed.shutdown()
            return result
        } catch {
            await testbed.shutdown()
            throw error
        }
    }

    /// Where clients connect: the proxy when there is one, else the server; always `127.0.0.1`.
    public var host: String { proxy?.host ?? server.host }

    /// Where clients connect: the proxy's port when there is one, else the server's (its TLS port when it listens
    /// for TLS; the proxy then forwards to that port).
    public var port: Int { proxy?.port ?? server.tlsPort ?? server.port }

    /// Whether a proxy is in front of the server.
    public var hasProxy: Bool { proxy != nil }

    /// `redis://127.0.0.1:PORT` of where clients connect, with the server's password if it has one.
    public var url: String {
        let url = server.url(host: host, port: port)
        return server.tlsPort == nil ? url : "rediss://" + url.dropFirst("redis://".count)
    }

    /// Applies `fault` to the server or the proxy; see ``RedisServer/apply(_:proxy:)``.
    public func apply(_ fault: RedisFault) async throws {
        try await server.apply(fault, proxy: proxy)
    }

    /// Stops the proxy and shuts the server down. Idempotent.
    public func shutdown() async {
        proxy?.stop()
        await server.shutdown()
    }

    /// `redis-server 7.0.15 on 127.0.0.1:PORT, pid PID`, and the proxy's address when there is one.
    public var description: String {
        var text = "redis-server\(version.map { " " + $0 } ?? "") on \(server.host):\(server.port), pid \(server.pid)"
        if let tlsPort = server.tlsPort { text += ", TLS on port \(tlsPort)" }
        if let proxy {
            text += ", behind a fault proxy on \(proxy.host):\(proxy.port)"
        }
        return text
    }

    /// `7.0.15` from the `redis_version:` line of `INFO server`.
    static func redisVersion(_ info: String) -> String? {
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("redis_version:") {
            return String(line.dropFirst("redis_version:".count).trimmingWhitespace())
        }
        return nil
    }
}
