import Configuration
import HiredisClient
import RedisCacheConfiguration
import Testing

/// The TLS settings read through swift-configuration, by the same names as `REDIS_TLS_*`.
struct TLSConfigReaderTests {
    @Test func tlsKeysSetTheClientsTLS() throws {
        let config = ConfigReader(
            provider: InMemoryProvider(values: [
                "redis.url": "rediss://cache:6380",
                "redis.tlsCaFile": "/etc/hosts",
                "redis.tlsServerName": "cache.internal",
                "redis.tlsVerify": true,
            ])
        )
        let redis = try RedisClientConfiguration(config: config.scoped(to: "redis"))
        #expect(redis.tls == .init(caFile: "/etc/hosts", serverName: "cache.internal", verifyPeer: true))
    }

    @Test func aTLSKeyWithoutTLSNamesTheKey() {
        let config = ConfigReader(
            provider: InMemoryProvider(values: ["redis.url": "redis://cache:6380", "redis.tlsCertFile": "/etc/hosts"])
        )
        let error = #expect(throws: RedisClientError.self) {
            try RedisClientConfiguration(config: config.scoped(to: "redis"))
        }
        #expect(error?.message.contains("tlsCertFile") == true, "\(String(describing: error))")
    }
}
