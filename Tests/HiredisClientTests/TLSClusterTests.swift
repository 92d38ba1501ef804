import HiredisClient
import RedisTestSupport
import Testing

/// A cluster that speaks TLS to its clients and between its nodes (`tls-cluster yes`, `tls-replication yes`), as
/// managed TLS clusters do: the client learns the nodes' TLS ports from `CLUSTER SHARDS`, follows `MOVED` to
/// TLS ports, and finds the promoted replica after a failover, with a new handshake on every node it meets.
@Suite(.serialized)
struct TLSClusterTests {
    @Test func everyShardAnswersOverTLSAndMovesAndFailoversAreFollowed() async throws {
        try await TestCertificates.withCertificates { certificates in
            try await RedisCluster.withCluster(tls: certificates) { cluster in
                var configuration = try RedisClusterConfiguration(url: try #require(cluster.tlsSeedURL))
                configuration.node.tls?.caFile = certificates.caFile
                configuration.node.commandTimeout = .milliseconds(500)
                configuration.node.connectTimeout = .milliseconds(500)
                let client = try RedisClusterClient(configuration: configuration, logger: quietLogger)
                do {
                    try await Self.exercise(client, cluster)
                } catch {
                    await client.close()
                    throw error
                }
                await client.close()
            }
        }
    }

    static func exercise(_ client: RedisClusterClient, _ cluster: RedisCluster) async throws {
        let keys = (0..<300).map { RedisKey("tls:\($0)") }
        for key in keys { try await client.set(key, value: key.bytes) }
        for key in keys { #expect(try await client.get(key) == key.bytes) }
        #expect(try await client.mget(keys) == keys.map(\.bytes))

        // Every node the client routes to is a TLS port; every shard got keys.
        let tlsPorts = Set(cluster.nodes.compactMap(\.tlsPort))
        #expect(client.shards.count == 3)
        for shard in client.shards {
            for endpoint in [shard.primary] + shard.replicas {
                let isTLSPort = tlsPorts.contains { endpoint == .tcp(host: "127.0.0.1", port: $0) }
                #expect(isTLSPort, "shard \(shard.id) routes to \(endpoint), not a TLS port")
            }
            let owned = keys.filter { client.shardID(forKey: $0.description) == shard.id }
            #expect(!owned.isEmpty)
        }

        // A slot moves to another shard: MOVED names the new owner's TLS port, and the key is read from there.
        let key = keys[0]
        let slot = RedisCluster.slot(of: key.description)
        let sourceShard = try await cluster.shard(ofSlot: slot)
        let targetShard = (sourceShard + 1) % cluster.shardCount
        #expect(try await cluster.migrate(slot: slot, toShard: targetShard) >= 1)
        #expect(try await client.get(key) == key.bytes)
        let target = try await cluster.primary(ofShard: targetShard)
        #expect(primary(forSlot: slot, client) == .tcp(host: "127.0.0.1", port: try #require(target.tlsPort)))

        // The primary of another shard dies: its replica takes over, and the client finds it over TLS.
        let victimShard = (targetShard + 1) % cluster.shardCount
        let victimKeys = try await cluster.keys(inShard: victimShard, count: 5, prefix: "victim:").map { RedisKey($0) }
        for victimKey in victimKeys { try await client.set(victimKey, value: victimKey.bytes) }
        let replica = try #require(try await cluster.replicas(ofShard: victimShard).first)
        // Replicated before the kill, so the promoted replica has the keys.
        _ = try await client.send(
            RedisCommand("WAIT", [Array("1".utf8), Array("2000".utf8)]), key: victimKeys[0], timeout: .seconds(3))
        let killed = try await cluster.killShard(victimShard)
        try await cluster.waitForFailover(shard: victimShard)
        try await eventually(timeout: .seconds(10)) {
            (try? await client.get(victimKeys[0])) == victimKeys[0].bytes
        }
        for victimKey in victimKeys { #expect(try await client.get(victimKey) == victimKey.bytes) }
        let promoted = try #require(replica.tlsPort)
        let victimSlot = RedisCluster.slot(of: victimKeys[0].description)
        #expect(primary(forSlot: victimSlot, client) == .tcp(host: "127.0.0.1", port: promoted))
        #expect(killed.tlsPort != promoted)
    }

    /// The primary the client routes `slot` to.
    static func primary(forSlot slot: Int, _ client: RedisClusterClient) -> RedisClientConfiguration.Endpoint? {
        let shard = client.shardID(forSlot: slot)
        return client.shards.first { $0.id == shard }?.primary
    }
}
