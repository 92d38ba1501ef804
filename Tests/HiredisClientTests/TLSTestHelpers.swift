import HiredisClient
import Logging
import RedisTestSupport

/// A redis-server listening for TLS with `certificates`' server certificate (or `serverPair`), run for `body`.
func withTLSServer<T>(
    _ certificates: TestCertificates,
    serverPair: TestCertificates.Pair? = nil,
    authenticateClients: Bool = false,
    password: String? = nil,
    _ body: (RedisServer) async throws -> T
) async throws -> T {
    let tls = RedisServer.Options.TLS(
        certificates: certificates,
        server: serverPair,
        authenticateClients: authenticateClients
    )
    return try await RedisServer.withServer(.init(password: password, tls: tls), body)
}

/// A client of `server`'s TLS port (or of `port`, a proxy in front of it) that trusts `certificates`' CA.
func withTLSClient<T>(
    _ server: RedisServer,
    _ certificates: TestCertificates,
    port: Int? = nil,
    configure: (inout RedisClientConfiguration) -> Void = { _ in },
    _ body: (RedisClient) async throws -> T
) async throws -> T {
    try await withClient(
        server,
        configure: { configuration in
            configuration.endpoint = .tcp(host: "127.0.0.1", port: port ?? server.tlsPort!)
            configuration.tls = .init(caFile: certificates.caFile)
            configure(&configuration)
        },
        body
    )
}
