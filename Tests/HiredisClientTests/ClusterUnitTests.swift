import Testing

@testable import HiredisClient

/// Slot hashing, cluster configuration, topology parsing and stable shard ids. Needs no redis-server.
struct ClusterSlotTests {
    @Test func crc16MatchesTheClusterSpecificationVectors() {
        #expect(RedisClusterSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(RedisClusterSlot.of("123456789") == 12739)
        #expect(RedisClusterSlot.of("foo") == 12182)
        #expect(RedisClusterSlot.of("") == 0)
        #expect(RedisClusterSlot.of(RedisKey("foo")) == 12182)
        #expect(RedisClusterSlot.of(Array("foo".utf8)) == 12182)
    }

    @Test func hashTagsDecideTheSlot() {
        #expect(RedisClusterSlot.of("{user1000}.following") == RedisClusterSlot.of("{user1000}.followers"))
        #expect(RedisClusterSlot.of("{user1000}.following") == RedisClusterSlot.of("user1000"))
        // An empty tag does not count: the whole key is hashed.
        #expect(RedisClusterSlot.of("foo{}{bar}") == Int(RedisClusterSlot.crc16(Array("foo{}{bar}".utf8)) & 0x3FFF))
        #expect(RedisClusterSlot.of("foo{}{bar}") != RedisClusterSlot.of("bar"))
        // The tag runs from the first '{' to the first '}' after it.
        #expect(RedisClusterSlot.of("foo{{bar}}zap") == RedisClusterSlot.of("{bar"))
        #expect(RedisClusterSlot.of("foo{bar}{zap}") == RedisClusterSlot.of("bar"))
        // An unclosed '{' means no tag.
        #expect(RedisClusterSlot.of("foo{bar") == Int(RedisClusterSlot.crc16(Array("foo{bar".utf8)) & 0x3FFF))
    }

    @Test func aPatternHasASlotOnlyWhenItsLiteralPrefixHoldsATag() {
        #expect(RedisClusterSlot.of(pattern: "ns:{42}:*") == RedisClusterSlot.of("42"))
        #expect(RedisClusterSlot.of(pattern: "{42}") == RedisClusterSlot.of("42"))
        #expect(RedisClusterSlot.of(pattern: "ns:*{42}") == nil)
        #expect(RedisClusterSlot.of(pattern: "ns:{4?}") == nil)
        #expect(RedisClusterSlot.of(pattern: "ns:{4[0-9]}") == nil)
        #expect(RedisClusterSlot.of(pattern: "ns:{}*{42}") == nil)
        #expect(RedisClusterSlot.of(pattern: "*") == nil)
        #expect(RedisClusterSlot.of(pattern: "ns:{42*}") == nil)
        // An escaped brace is a literal one: keys matching "ns:\{42}*" start with "ns:{42}".
        #expect(RedisClusterSlot.of(pattern: "ns:\\{42}*") == RedisClusterSlot.of("42"))
        // An escaped wildcard is literal too, and stays in the tag.
        #expect(RedisClusterSlot.of(pattern: "ns:{a\\*b}*") == RedisClusterSlot.of("a*b"))
    }
}

struct ClusterConfigurationTests {
    @Test func urlGivesSeedsAndCredentials() throws {
        let configuration = try RedisClusterConfiguration(url: "redis://alice:s3cret@127.0.0.1:7000,localhost:7001/0")
        #expect(configuration.seeds == [.tcp(host: "127.0.0.1", port: 7000), .tcp(host: "localhost", port: 7001)])
        #expect(configuration.node.authentication == .init(username: "alice", password: "s3cret"))
        #expect(configuration.node.connectionCount == 2)
        #expect(configuration.maximumRedirects == 5)
        #expect(configuration.topologyRefreshInterval == .seconds(30))
        #expect(configuration.minimumRefreshInterval == .milliseconds(100))
        #expect(!configuration.readFromReplicas)
        #expect(!configuration.description.contains("s3cret"))
        let plain = try RedisClusterConfiguration(url: "redis://[::1]:7000")
        #expect(plain.seeds == [.tcp(host: "::1", port: 7000)])
        #expect(plain.node.authentication == nil)
    }

    @Test(arguments: [
        "redis://:s3cret@127.0.0.1:7000/1",
        "redis://:s3cret@127.0.0.1:7000,",
        "redis://:s3cret@127.0.0.1:7000,,127.0.0.1:7001",
        "redis://:s3cret@127.0.0.1:0",
        "redis://:s3cret@127.0.0.1:7000,127.0.0.1:99999",
        "unix:///tmp/redis.sock",
        "redis://:s3cret@",
        "redis://:s3cret@host with space:7000",
    ])
    func badURLsThrowInvalidURLWithoutThePassword(url: String) {
        #expect {
            _ = try RedisClusterConfiguration(url: url)
        } throws: { error in
            guard let error = error as? RedisClientError else { return false }
            return error.code == .invalidURL && !error.message.contains("s3cret") && error.message.contains("Cluster")
        }
    }

    @Test func invalidValuesThrowInvalidConfiguration() throws {
        #expect(throws: RedisClientError.self) { try RedisClusterConfiguration(seeds: []) }
        #expect(throws: RedisClientError.self) { try RedisClusterConfiguration(seeds: [.unix(path: "/tmp/x")]) }
        #expect(throws: RedisClientError.self) { try RedisClusterConfiguration(seeds: [.tcp(host: "h", port: 0)]) }
        var configuration = try RedisClusterConfiguration(seeds: [.tcp(host: "127.0.0.1", port: 7000)])
        try configuration.validate()
        configuration.maximumRedirects = -1
        #expect(throws: RedisClientError.self) { try configuration.validate() }
        configuration.maximumRedirects = 5
        configuration.node.database = 1
        #expect(throws: RedisClientError.self) {
            _ = try RedisClusterClient(configuration: configuration, logger: quietLogger)
        }
        configuration.node.database = 0
        configuration.topologyRefreshInterval = .zero
        let error = try #require(throws: RedisClientError.self) { try configuration.validate() }
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains("topologyRefreshInterval"))
    }
}

/// Replies as redis-server 7.0 sends them in RESP2.
enum ClusterReplies {
    static func node(
        _ id: String,
        port: Int,
        role: String = "master",
        health: String = "online",
        ip: String = "127.0.0.1",
        tlsPort: Int? = nil
    ) -> RedisReply {
        let tls: [RedisReply] = tlsPort.map { [.bulkString(bytes("tls-port")), .integer(Int64($0))] } ?? []
        return .array(
            [
                .bulkString(bytes("id")), .bulkString(bytes(id)),
                .bulkString(bytes("port")), .integer(Int64(port)),
            ] + tls + [
                .bulkString(bytes("ip")), .bulkString(bytes(ip)),
                .bulkString(bytes("endpoint")), .bulkString(bytes(ip)),
                .bulkString(bytes("role")), .bulkString(bytes(role)),
                .bulkString(bytes("replication-offset")), .integer(42),
                .bulkString(bytes("health")), .bulkString(bytes(health)),
            ])
    }

    static func shard(_ slots: [Int], _ nodes: [RedisReply]) -> RedisReply {
        .array([
            .bulkString(bytes("slots")), .array(slots.map { .integer(Int64($0)) }),
            .bulkString(bytes("nodes")), .array(nodes),
        ])
    }

    /// Three shards: a, b, c primaries (7000, 7001, 7002) with replicas d, e, f (7003…7005).
    static let threeShards = RedisReply.array([
        shard([5461, 10922], [node("b", port: 7001), node("e", port: 7004, role: "replica")]),
        shard([0, 5460], [node("a", port: 7000), node("d", port: 7003, role: "replica")]),
        shard([10923, 16383], [node("c", port: 7002), node("f", port: 7005, role: "replica", health: "loading")]),
    ])

    static func slotsNode(_ port: Int, _ id: String) -> RedisReply {
        .array([.bulkString(bytes("127.0.0.1")), .integer(Int64(port)), .bulkString(bytes(id)), .array([])])
    }
}

struct ClusterTopologyTests {
    @Test func clusterShardsReplyIsParsed() throws {
        let topology = try ClusterTopology.parse(shardsReply: ClusterReplies.threeShards, host: "10.0.0.1")
        #expect(topology.shards.count == 3)
        let (shards, next) = topology.numbered(known: [], nextID: 0)
        #expect(next == 3)
        #expect(shards.map(\.id) == [0, 1, 2])
        #expect(shards[0].slots == [0...5460])
        #expect(shards[0].primary == .tcp(host: "127.0.0.1", port: 7000))
        #expect(shards[0].replicas == [.tcp(host: "127.0.0.1", port: 7003)])
        #expect(shards[1].primary == .tcp(host: "127.0.0.1", port: 7001))
        // A replica that is not online serves no reads.
        #expect(shards[2].replicas.isEmpty)
        #expect(shards[2].nodeIDs == ["c", "f"])
        let table = ClusterRoutingTable(shards: shards)
        #expect(table.shardID(forSlot: 0) == 0)
        #expect(table.shardID(forSlot: 5461) == 1)
        #expect(table.shardID(forSlot: 16383) == 2)
        #expect(table.node(forSlot: 12182) == .tcp(host: "127.0.0.1", port: 7002))
    }

    @Test func clusterSlotsReplyIsParsedIntoShardsByPrimary() throws {
        let reply = RedisReply.array([
            .array([
                .integer(0), .integer(99), ClusterReplies.slotsNode(7000, "a"), ClusterReplies.slotsNode(7003, "d"),
            ]),
            .array([.integer(100), .integer(16000), ClusterReplies.slotsNode(7001, "b")]),
            .array([
                .integer(16001), .integer(16383), ClusterReplies.slotsNode(7000, "a"),
                ClusterReplies.slotsNode(7003, "d"),
            ]),
        ])
        let topology = try ClusterTopology.parse(slotsReply: reply, host: "127.0.0.1")
        let (shards, _) = topology.numbered(known: [], nextID: 0)
        #expect(shards.count == 2)
        #expect(shards[0].slots == [0...99, 16001...16383])
        #expect(shards[0].replicas == [.tcp(host: "127.0.0.1", port: 7003)])
        #expect(shards[0].nodeIDs == ["a", "d"])
        #expect(shards[1].slots == [100...16000])
        #expect(shards[1].replicas.isEmpty)
    }

    @Test func aTLSClientTakesTheTLSPortOfANodeThatListsBoth() throws {
        let reply = RedisReply.array([
            ClusterReplies.shard(
                [0, 16383],
                [
                    ClusterReplies.node("a", port: 7000, tlsPort: 8000),
                    ClusterReplies.node("b", port: 7001, role: "replica", tlsPort: 8001),
                ])
        ])
        let plain = try ClusterTopology.parse(shardsReply: reply, host: "h").numbered(known: [], nextID: 0).0
        #expect(plain[0].primary == .tcp(host: "127.0.0.1", port: 7000))
        #expect(plain[0].replicas == [.tcp(host: "127.0.0.1", port: 7001)])
        let tls = try ClusterTopology.parse(shardsReply: reply, host: "h", tls: true).numbered(known: [], nextID: 0).0
        #expect(tls[0].primary == .tcp(host: "127.0.0.1", port: 8000))
        #expect(tls[0].replicas == [.tcp(host: "127.0.0.1", port: 8001)])
    }

    @Test func uncoveredSlotsRouteNowhereWhileCoveredOnesStillRoute() throws {
        let reply = RedisReply.array([ClusterReplies.shard([0, 100], [ClusterReplies.node("a", port: 7000)])])
        let (shards, _) = try ClusterTopology.parse(shardsReply: reply, host: "h").numbered(known: [], nextID: 0)
        let table = ClusterRoutingTable(shards: shards)
        #expect(table.shardID(forSlot: 50) == 0)
        #expect(table.shardID(forSlot: 101) == nil)
        #expect(table.node(forSlot: 101) == nil)
    }

    @Test func malformedRepliesThrowUnexpectedReply() {
        for reply in [
            RedisReply.integer(1),
            .array([.array([.bulkString(bytes("slots"))])]),
            .array([ClusterReplies.shard([0], [ClusterReplies.node("a", port: 7000)])]),
            .array([ClusterReplies.shard([0, 16384], [ClusterReplies.node("a", port: 7000)])]),
        ] {
            #expect(throws: RedisClientError.self) { try ClusterTopology.parse(shardsReply: reply, host: "h") }
        }
        #expect(throws: RedisClientError.self) {
            try ClusterTopology.parse(slotsReply: .array([.array([.integer(0)])]), host: "h")
        }
    }

    @Test func aFailedOverShardKeepsItsID() throws {
        let (known, next) = try ClusterTopology.parse(shardsReply: ClusterReplies.threeShards, host: "h")
            .numbered(known: [], nextID: 0)
        // a (7000) died, d (7003) was promoted; the reply also lists a as a failed master.
        let afterFailover = RedisReply.array([
            ClusterReplies.shard(
                [0, 5460],
                [ClusterReplies.node("a", port: 7000, health: "fail"), ClusterReplies.node("d", port: 7003)]
            ),
            ClusterReplies.shard([5461, 10922], [ClusterReplies.node("b", port: 7001)]),
            ClusterReplies.shard([10923, 16383], [ClusterReplies.node("c", port: 7002)]),
        ])
        let (shards, _) = try ClusterTopology.parse(shardsReply: afterFailover, host: "h")
            .numbered(known: known, nextID: next)
        #expect(shards.map(\.id) == [0, 1, 2])
        #expect(shards[0].primary == .tcp(host: "127.0.0.1", port: 7003))
        #expect(shards[0].replicas.isEmpty)
    }

    @Test func aPrimaryThatFailedWithoutSuccessorStillStandsForItsShard() throws {
        let reply = RedisReply.array([
            ClusterReplies.shard(
                [0, 16383],
                [
                    ClusterReplies.node("a", port: 7000, health: "fail"),
                    ClusterReplies.node("d", port: 7003, role: "replica"),
                ]
            )
        ])
        let (shards, _) = try ClusterTopology.parse(shardsReply: reply, host: "h").numbered(known: [], nextID: 0)
        #expect(shards[0].primary == .tcp(host: "127.0.0.1", port: 7000))
    }

    @Test func reshardedShardsTakeTheIDOfTheShardThatOwnedMostOfTheirSlots() throws {
        let (known, next) = try ClusterTopology.parse(shardsReply: ClusterReplies.threeShards, host: "h")
            .numbered(known: [], nextID: 0)
        // Entirely new nodes (no shared id): x serves most of shard 2's old slots, y most of shard 0's,
        // and z a few slots that were shard 1's, which w took over with most of them.
        let resharded = RedisReply.array([
            ClusterReplies.shard([0, 5000], [ClusterReplies.node("y", port: 8001)]),
            ClusterReplies.shard([5001, 5470], [ClusterReplies.node("z", port: 8002)]),
            ClusterReplies.shard([5471, 10922], [ClusterReplies.node("w", port: 8003)]),
            ClusterReplies.shard([10923, 16383], [ClusterReplies.node("x", port: 8000)]),
        ])
        let (shards, newNext) = try ClusterTopology.parse(shardsReply: resharded, host: "h")
            .numbered(known: known, nextID: next)
        let byPort = Dictionary(uniqueKeysWithValues: shards.map { ($0.primary.description, $0.id) })
        #expect(byPort["127.0.0.1:8001"] == 0)
        #expect(byPort["127.0.0.1:8003"] == 1)
        #expect(byPort["127.0.0.1:8000"] == 2)
        // z's slots mostly belonged to shard 0, taken by y: it is a new shard.
        #expect(byPort["127.0.0.1:8002"] == 3)
        #expect(newNext == 4)
    }

    @Test func aNewShardGetsANewIDAndIDsAreNeverReused() throws {
        let (known, next) = try ClusterTopology.parse(shardsReply: ClusterReplies.threeShards, host: "h")
            .numbered(known: [], nextID: 0)
        let withNewShard = RedisReply.array([
            ClusterReplies.shard([0, 5460], [ClusterReplies.node("a", port: 7000)]),
            ClusterReplies.shard([5461, 10922], [ClusterReplies.node("b", port: 7001)]),
            ClusterReplies.shard([10923, 16000], [ClusterReplies.node("c", port: 7002)]),
            ClusterReplies.shard([16001, 16383], [ClusterReplies.node("g", port: 7006)]),
        ])
        let (shards, next2) = try ClusterTopology.parse(shardsReply: withNewShard, host: "h")
            .numbered(known: known, nextID: next)
        #expect(shards.map(\.id) == [0, 1, 2, 3])
        #expect(shards[3].primary == .tcp(host: "127.0.0.1", port: 7006))
        // Shard 3 leaves, another comes: it gets 4, not 3.
        let replaced = RedisReply.array([
            ClusterReplies.shard([0, 5460], [ClusterReplies.node("a", port: 7000)]),
            ClusterReplies.shard([5461, 10922], [ClusterReplies.node("b", port: 7001)]),
            ClusterReplies.shard([10923, 16383], [ClusterReplies.node("c", port: 7002)]),
        ])
        let (three, next3) = try ClusterTopology.parse(shardsReply: replaced, host: "h")
            .numbered(known: shards, nextID: next2)
        #expect(three.map(\.id) == [0, 1, 2])
        let (again, _) = try ClusterTopology.parse(shardsReply: withNewShard, host: "h")
            .numbered(known: three, nextID: next3)
        #expect(again.map(\.id) == [0, 1, 2, 4])
    }

    @Test func movedReroutesOneSlotToTheShardOfItsNewNode() throws {
        let (shards, _) = try ClusterTopology.parse(shardsReply: ClusterReplies.threeShards, host: "h")
            .numbered(known: [], nextID: 0)
        var table = ClusterRoutingTable(shards: shards)
        table.move(slot: 0, to: .tcp(host: "127.0.0.1", port: 7001))
        #expect(table.shardID(forSlot: 0) == 1)
        #expect(table.node(forSlot: 0) == .tcp(host: "127.0.0.1", port: 7001))
        #expect(table.shardID(forSlot: 1) == 0)
        table.move(slot: 1, to: .tcp(host: "127.0.0.1", port: 9999))
        #expect(table.node(forSlot: 1) == .tcp(host: "127.0.0.1", port: 9999))
    }
}
