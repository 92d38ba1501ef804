import Foundation
import HiredisClient
import RedisTestSupport
import Testing

/// TLS against a real redis-server with certificates made at test time: what is accepted, what is refused and
/// with which error.
@Suite(.serialized)
struct TLSConnectionTests {
    @Test func everyHelperWorksOverTLS() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates, password: "s3cret") { server in
                try await withTLSClient(server, certificates, configure: { $0.database = 2 }) {
                    (client: RedisClient) async throws in
                    #expect(try await client.ping() == "PONG")
                    try await client.set("a", value: bytes("1"))
                    try await client.set("b", value: [0, 13, 10, 255], expiration: .seconds(60))
                    #expect(try await client.get("a") == bytes("1"))
                    #expect(try await client.mget(["a", "b", "missing"]) == [bytes("1"), [0, 13, 10, 255], nil])
                    #expect(try await client.exists(["a", "b"]) == 2)
                    #expect(try await client.expire("a", after: .seconds(30)))
                    #expect(try await client.ttl("a") != .noExpiry)
                    var scanned: [String] = []
                    for try await keys in client.scan(match: "*") { scanned += keys.map(\.description) }
                    #expect(scanned.sorted() == ["a", "b"])
                    #expect(try await client.info("server").contains("redis_version"))
                    let results = await client.pipeline((0..<50).map { _ in RedisCommand("INCR", [bytes("counter")]) })
                    #expect(results.last.flatMap { try? $0.get() } == .integer(50))
                    #expect(try await client.unlink(["a"]) == 1)
                    #expect(try await client.del(["b", "counter"]) == 2)
                    // The database and the TLS port really are the ones used.
                    #expect(try await server.cliAsync("-n", "2", "DBSIZE") == "0")
                    let clients = try await server.cliAsync("CLIENT", "LIST")
                    #expect(clients.contains("db=2"))
                }
            }
        }
    }

    @Test(arguments: [IOModel.threadPerConnection, .eventLoop])
    func tenThousandConcurrentCallsOverTLSGetTheirOwnReplies(model: IOModel) async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                try await withTLSClient(
                    server, certificates,
                    configure: {
                        $0.commandTimeout = .seconds(10)
                        $0.ioModel = model
                    }
                ) {
                    (client: RedisClient) async throws in
                    try await tenThousandCallersEachReadTheirOwnWrite(client)
                    #expect(try await server.cliAsync("DBSIZE") == "10000")
                }
            }
        }
    }

    @Test func aRedissURLWithTheEnvironmentsCAConnects() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                let configuration = try RedisClientConfiguration(
                    environment: ["REDIS_URL": server.tlsURL!, "REDIS_TLS_CA_FILE": certificates.caFile]
                )
                #expect(configuration.tls?.caFile == certificates.caFile)
                #expect(configuration.description.contains("tls: on (verify)"))
                let client = try RedisClient(configuration: configuration, logger: quietLogger)
                #expect(try await client.ping() == "PONG")
                await client.close()
            }
        }
    }

    @Test func mutualTLSAcceptsAClientCertificateFromTheTrustedCA() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates, authenticateClients: true) { server in
                try await withTLSClient(
                    server, certificates,
                    configure: {
                        $0.tls?.certificateFile = certificates.client.certificateFile
                        $0.tls?.keyFile = certificates.client.keyFile
                    }
                ) { (client: RedisClient) async throws in
                    try await client.set("k", value: bytes("v"))
                    #expect(try await client.get("k") == bytes("v"))
                }
            }
        }
    }

    @Test(arguments: ["none", "other CA"])
    func mutualTLSRefusesAClientWithoutATrustedCertificate(certificate: String) async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates, authenticateClients: true) { server in
                try await withTLSClient(
                    server, certificates,
                    configure: {
                        if certificate == "other CA" {
                            $0.tls?.certificateFile = certificates.otherClient.certificateFile
                            $0.tls?.keyFile = certificates.otherClient.keyFile
                        }
                    }
                ) { (client: RedisClient) async throws in
                    let elapsed = await measure {
                        let error = await RedisClientError.caught { _ = try await client.ping() }
                        #expect(error?.code == .tlsHandshakeFailed, "\(String(describing: error))")
                    }
                    #expect(elapsed < .milliseconds(300), "refused after \(elapsed)")
                }
            }
        }
    }

    @Test func aServerCertificateFromAnotherCAIsRejectedFast() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                try await withTLSClient(server, certificates, configure: { $0.tls?.caFile = certificates.otherCAFile })
                { (client: RedisClient) async throws in
                    let elapsed = await measure {
                        let error = await RedisClientError.caught { _ = try await client.ping() }
                        #expect(error?.code == .tlsCertificateRejected, "\(String(describing: error))")
                        // OpenSSL's reason: redis-server sends its CA along, which is not the one trusted here.
                        #expect(error?.message.contains("self-signed certificate in certificate chain") == true)
                    }
                    #expect(elapsed < .milliseconds(200), "rejected after \(elapsed)")
                }
            }
        }
    }

    @Test func anExpiredServerCertificateIsRejected() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates, serverPair: certificates.expiredServer) { server in
                try await withTLSClient(server, certificates) { (client: RedisClient) async throws in
                    let error = await RedisClientError.caught { _ = try await client.ping() }
                    #expect(error?.code == .tlsCertificateRejected)
                    #expect(error?.message.contains("expired") == true, "\(String(describing: error))")
                }
            }
        }
    }

    @Test func aCertificateForAnotherNameIsRefused() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates, serverPair: certificates.wrongHostServer) { server in
                try await withTLSClient(server, certificates) { (client: RedisClient) async throws in
                    let error = await RedisClientError.caught { _ = try await client.ping() }
                    #expect(error?.code == .tlsHostnameMismatch, "\(String(describing: error))")
                }
                // The name it is for, given as the server name, is accepted.
                try await withTLSClient(server, certificates, configure: { $0.tls?.serverName = "wrong.example" }) {
                    (client: RedisClient) async throws in
                    #expect(try await client.ping() == "PONG")
                }
            }
            try await withTLSServer(certificates) { server in
                // By name: SNI and the check use "localhost", which the server certificate carries...
                try await withTLSClient(server, certificates, configure: { $0.tls?.serverName = "localhost" }) {
                    (client: RedisClient) async throws in
                    #expect(try await client.ping() == "PONG")
                }
                // ...and not "wrong.example".
                try await withTLSClient(server, certificates, configure: { $0.tls?.serverName = "wrong.example" }) {
                    (client: RedisClient) async throws in
                    let error = await RedisClientError.caught { _ = try await client.ping() }
                    #expect(error?.code == .tlsHostnameMismatch, "\(String(describing: error))")
                }
                // Without verification anything goes.
                try await withTLSClient(
                    server, certificates,
                    configure: { $0.tls = .init(caFile: certificates.otherCAFile, serverName: "x", verifyPeer: false) }
                ) { (client: RedisClient) async throws in
                    #expect(try await client.ping() == "PONG")
                }
            }
        }
    }

    @Test func aPlainServerIsAFailureWithinTheDeadlineNotAHang() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                // redis-server reads the ClientHello as the start of an inline command and waits for its end.
                try await withTLSClient(server, certificates, port: server.port) { (client: RedisClient) async throws in
                    let elapsed = await measure {
                        #expect(await RedisClientError.code { _ = try await client.ping() } == .timeout)
                    }
                    #expect(elapsed < .milliseconds(600), "failed after \(elapsed)")
                }
            }
        }
    }

    @Test func largeValuesCrossInPartialWritesAndReads() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await withTLSServer(certificates) { server in
                try await withTLSClient(
                    server, certificates,
                    configure: {
                        $0.connectionCount = 1
                        $0.commandTimeout = .seconds(10)
                    }
                ) { (client: RedisClient) async throws in
                    let values = (0..<8).map { index in
                        (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
                    }
                    // Eight 1 MiB values in one batch: far more than a socket buffer takes at once.
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for (index, value) in values.enumerated() {
                            group.addTask { try await client.set(RedisKey("big\(index)"), value: value) }
                        }
                        try await group.waitForAll()
                    }
                    try await withThrowingTaskGroup(of: Bool.self) { group in
                        for (index, value) in values.enumerated() {
                            group.addTask { try await client.get(RedisKey("big\(index)")) == value }
                        }
                        for try await same in group { #expect(same) }
                    }
                    #expect(try await client.mget((0..<8).map { RedisKey("big\($0)") }).map { $0 ?? [] } == values)
                }
            }
        }
    }
}

/// TLS settings: URLs, environment, validation.
struct TLSConfigurationTests {
    @Test func rediss() throws {
        let configuration = try RedisClientConfiguration(url: "rediss://:pw@cache.internal:6380/1")
        #expect(configuration.tls == RedisClientConfiguration.TLS())
        #expect(configuration.tls?.verifyPeer == true)
        #expect(configuration.endpoint == .tcp(host: "cache.internal", port: 6380))
        #expect(configuration.database == 1)
        #expect(try RedisClientConfiguration(url: "redis://cache:6379").tls == nil)

        let cluster = try RedisClusterConfiguration(url: "rediss://:pw@10.0.0.1:7000,10.0.0.2:7001")
        #expect(cluster.node.tls == RedisClientConfiguration.TLS())
        #expect(cluster.seeds.count == 2)
        #expect(cluster.description.contains("tls: on"))
        #expect(try RedisClusterConfiguration(url: "redis://10.0.0.1:7000").node.tls == nil)
    }

    @Test func tlsSettingsWithoutTLSAreAnErrorNotIgnored() {
        #expect(throws: RedisClientError.self) {
            try RedisClientConfiguration(environment: ["REDIS_URL": "redis://h:1", "REDIS_TLS_CA_FILE": "/etc/hosts"])
        }
        let on = try? RedisClientConfiguration(
            environment: ["REDIS_URL": "redis://h:1", "REDIS_TLS": "true", "REDIS_TLS_VERIFY": "false"]
        )
        #expect(on?.tls?.verifyPeer == false)
        let off = try? RedisClientConfiguration(environment: ["REDIS_URL": "rediss://h:1", "REDIS_TLS": "off"])
        #expect(off != nil && off?.tls == nil)
    }

    @Test(arguments: [
        (RedisClientConfiguration.TLS(caFile: "/nonexistent/ca.crt"), "tls.caFile"),
        (RedisClientConfiguration.TLS(caDirectory: "/etc/hosts"), "tls.caDirectory"),
        (RedisClientConfiguration.TLS(certificateFile: "/etc/hosts"), "tls.keyFile"),
        (RedisClientConfiguration.TLS(certificateFile: "/nonexistent", keyFile: "/etc/hosts"), "tls.certificateFile"),
        (RedisClientConfiguration.TLS(serverName: "a b"), "tls.serverName"),
    ])
    func invalidTLSSettingsNameTheSetting(tls: RedisClientConfiguration.TLS, setting: String) throws {
        var configuration = try RedisClientConfiguration()
        configuration.tls = tls
        let error = #expect(throws: RedisClientError.self) { try configuration.validate() }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(setting) == true, "\(String(describing: error))")
    }

    @Test func aFileOpenSSLCannotUseFailsTheClientNotEveryConnect() throws {
        var configuration = try RedisClientConfiguration(url: "rediss://127.0.0.1:6380")
        configuration.tls?.caFile = "/etc/hostname"
        let error = #expect(throws: RedisClientError.self) {
            _ = try RedisClient(configuration: configuration, logger: quietLogger)
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("tls.caFile") == true, "\(String(describing: error))")
    }

    @Test func aUnixSocketTakesNoTLS() throws {
        var configuration = try RedisClientConfiguration(endpoint: .unix(path: "/tmp/redis.sock"))
        configuration.tls = .init()
        #expect(throws: RedisClientError.self) { try configuration.validate() }
    }
}
