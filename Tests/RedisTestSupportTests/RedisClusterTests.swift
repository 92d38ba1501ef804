import Foundation
import Glibc
import RedisTestSupport
import Testing
import _LoadKit

/// Each test starts its own local Redis Cluster (3 primaries + 3 replicas, 1 s node timeout) and tears it down:
/// real processes, real failovers, real slot migrations.
@Suite(.timeLimit(.minutes(2)))
struct RedisClusterTests {
    @Test func startsHealthyWithAReplicaPerPrimaryAndEverySlotCovered() async throws {
        try await RedisCluster.withCluster { cluster in
            #expect(cluster.nodes.count == 6)
            #expect(cluster.shardCount == 3)
            #expect(Set(cluster.nodes.map(\.port)).count == 6)
            #expect(cluster.seedURL == "redis://" + cluster.nodes.map { "127.0.0.1:\($0.port)" }.joined(separator: ","))
            #expect(cluster.seedEndpoints.map(\.port) == cluster.nodes.map(\.port))
            for node in cluster.nodes {
                let info = try await run(node, "CLUSTER", "INFO").string ?? ""
                #expect(info.contains("cluster_state:ok"), "port \(node.port)")
                #expect(info.contains("cluster_slots_ok:16384"), "port \(node.port)")
                #expect(info.contains("cluster_known_nodes:6"), "port \(node.port)")
                // Each node runs in its own directory with its own nodes.conf and a bus port of its own.
                #expect(FileManager.default.fileExists(atPath: node.directory + "/nodes.conf"))
                #expect(node.clusterBusPort != nil && node.clusterBusPort != node.port)
                #expect(
                    try await run(node, "CONFIG", "GET", "cluster-require-full-coverage").description.contains("no"))
            }
            var seen: Set<Int> = []
            for shard in 0..<3 {
                let primary = try await cluster.primary(ofShard: shard)
                let replicas = try await cluster.replicas(ofShard: shard)
                #expect(try cluster.nodes(ofShard: shard).map(\.port) == [primary.port] + replicas.map(\.port))
                #expect(replicas.count == 1)
                #expect(try await run(primary, "ROLE").description.hasPrefix("[\"master\""))
                let replicaRole = try await run(replicas[0], "ROLE")
                #expect(replicaRole.description.hasPrefix("[\"slave\", \"127.0.0.1\", :\(primary.port)"))
                seen.formUnion([primary.port, replicas[0].port])
                #expect(cluster.shard(of: primary) == shard)
            }
            #expect(seen.count == 6)
            // Shard N is the N-th primary by first slot: redis-cli gives 0-5460, 5461-10922, 10923-16383.
            #expect(try await cluster.shard(ofSlot: 0) == 0)
            #expect(try await cluster.shard(ofSlot: 5461) == 1)
            #expect(try await cluster.shard(ofSlot: 16383) == 2)
            await #expect(throws: RedisTestSupportError.self) { try await cluster.shard(ofSlot: 16384) }

            // slot(of:) is what Redis computes, for random keys and every kind of hash tag.
            let connection = try await RawConnection.connect(port: cluster.nodes[0].port)
            var generator = SystemRandomNumberGenerator()
            let alphabet = Array("ab{}:xyz019é-")
            let randomKeys = (0..<200).map { _ in
                String((0..<Int.random(in: 0...14, using: &generator)).map { _ in alphabet.randomElement()! })
            }
            let tagged = [
                "{user1000}.following", "{user1000}.followers", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "{}",
                "a{b", "}{x}", "{", "", "ключ{é}", "{a}", "a", "x{a}y",
            ]
            for key in randomKeys + tagged {
                let expected = try await command(connection, ["CLUSTER", "KEYSLOT", key])
                #expect(expected == .integer(cluster.slot(of: key)), "\(key)")
            }
            #expect(cluster.slot(of: "{user1000}.following") == cluster.slot(of: "{user1000}.followers"))

            // keys(inShard:) are served by that shard: SET on its primary is accepted, not redirected.
            for shard in 0..<3 {
                let keys = try await cluster.keys(inShard: shard, count: 5, prefix: "s\(shard):")
                #expect(keys.count == 5)
                let primary = try await cluster.primary(ofShard: shard)
                for key in keys {
                    #expect(try await cluster.shard(ofSlot: cluster.slot(of: key)) == shard)
                    #expect(try await run(primary, "SET", key, "v") == .simpleString("OK"))
                }
            }
            let inSlot = try RedisCluster.keys(inSlot: 777, count: 3)
            #expect(inSlot.allSatisfy { cluster.slot(of: $0) == 777 })

            // The fault vocabulary: proxy faults and unknown shards are refused with a clear error.
            let noProxy = await #expect(throws: RedisTestSupportError.self) { try await cluster.apply(.proxyReset) }
            #expect(noProxy?.code == .noProxy)
            let noShard = await #expect(throws: RedisTestSupportError.self) {
                try await cluster.apply(RedisFault(parsing: "kill-shard 3"))
            }
            #expect(noShard?.code == .noSuchShard)
            #expect(cluster.nodes.allSatisfy { $0.isRunning })
        }
    }

    @Test func killShardFailsOverToTheReplicaAndStartShardRejoinsTheOldPrimaryAsAReplica() async throws {
        try await RedisCluster.withCluster { cluster in
            let oldPrimary = try await cluster.primary(ofShard: 0)
            let replica = try #require(try await cluster.replicas(ofShard: 0).first)
            let key = try await cluster.keys(inShard: 0, count: 1)[0]
            #expect(try await run(oldPrimary, "SET", key, "before") == .simpleString("OK"))
            #expect(try await run(oldPrimary, "WAIT", "1", "2000") == .integer(1))
            let otherShardKey = try await cluster.keys(inShard: 1, count: 1)[0]

            let clock = ContinuousClock()
            let killed = clock.now
            try await cluster.apply(RedisFault(parsing: "kill-shard 0"))
            #expect(!oldPrimary.isRunning)
            // While shard 0 is down, shard 1 keeps serving its keys (full coverage is not required).
            let shard1 = try await cluster.primary(ofShard: 1)
            #expect(try await run(shard1, "SET", otherShardKey, "x") == .simpleString("OK"))

            try await cluster.waitForFailover(shard: 0, timeout: .seconds(15))
            let failover = clock.now - killed
            print("failover after kill-shard 0 took \(failover)")
            #expect(failover < .seconds(10))
            let newPrimary = try await cluster.primary(ofShard: 0)
            #expect(newPrimary === replica)
            #expect(try await run(newPrimary, "GET", key) == .bulkString("before"))
            #expect(try await cluster.replicas(ofShard: 0).isEmpty)

            let restarted = clock.now
            try await cluster.apply(.startShard(0))
            print("start-shard 0 rejoined after \(clock.now - restarted)")
            #expect(oldPrimary.isRunning)
            #expect(try await cluster.primary(ofShard: 0) === replica)
            #expect(try await cluster.replicas(ofShard: 0).map(\.port) == [oldPrimary.port])
            try await cluster.waitForClusterOK(timeout: .seconds(15))
            // The old primary came back with its node id (nodes.conf kept) and follows the promoted replica.
            #expect(try await run(oldPrimary, "CLUSTER", "MYID") == .bulkString(cluster.nodeID(of: oldPrimary)!))
            #expect(
                try await run(oldPrimary, "ROLE").description.hasPrefix("[\"slave\", \"127.0.0.1\", :\(replica.port)"))
            // It resynchronized from the new primary, so it has the key it lost when it was killed.
            let connection = try await RawConnection.connect(port: oldPrimary.port)
            _ = try await command(connection, ["READONLY"])
            #expect(try await command(connection, ["GET", key]) == .bulkString("before"))
        }
    }

    @Test func hangShardIsFailedOverAndResumeShardTurnsTheOldPrimaryIntoAReplica() async throws {
        try await RedisCluster.withCluster { cluster in
            let oldPrimary = try await cluster.primary(ofShard: 1)
            let replica = try #require(try await cluster.replicas(ofShard: 1).first)
            try await cluster.apply(RedisFault(parsing: "hang-shard 1"))
            #expect(oldPrimary.isHung)
            await #expect(throws: RedisTestSupportError.self) {
                let connection = try await RawConnection.connect(port: oldPrimary.port)
                _ = try await connection.command("PING", timeout: .milliseconds(200))
            }
            try await cluster.waitForFailover(shard: 1, timeout: .seconds(15))
            #expect(try await cluster.primary(ofShard: 1) === replica)

            try await cluster.apply(RedisFault(parsing: "resume-shard 1"))
            #expect(!oldPrimary.isHung)
            try await cluster.waitForClusterOK(timeout: .seconds(15))
            #expect(try await cluster.replicas(ofShard: 1).map(\.port) == [oldPrimary.port])
            #expect(try await run(oldPrimary, "ROLE").description.hasPrefix("[\"slave\""))
        }
    }

    @Test func aMigratedSlotsKeysAreOnTheTargetAndTheSourceAnswersMoved() async throws {
        try await RedisCluster.withCluster { cluster in
            let slot = 100
            #expect(try await cluster.shard(ofSlot: slot) == 0)
            let source = try await cluster.primary(ofShard: 0)
            let target = try await cluster.primary(ofShard: 1)
            let keys = try RedisCluster.keys(inSlot: slot, count: 25)
            for key in keys {
                #expect(try await run(source, "SET", key, "value of \(key)") == .simpleString("OK"))
            }

            let clock = ContinuousClock()
            let started = clock.now
            let moved = try await cluster.migrate(slot: slot, toShard: 1, pauseBetweenKeys: .milliseconds(4))
            #expect(moved == keys.count)
            // One key per MIGRATE with a pause after each: the slot stayed half moved for the whole time.
            #expect(clock.now - started >= .milliseconds(4 * keys.count))
            #expect(try await cluster.shard(ofSlot: slot) == 1)
            for key in keys {
                #expect(try await run(target, "GET", key) == .bulkString("value of \(key)"))
                #expect(try await run(source, "GET", key) == .error("MOVED \(slot) 127.0.0.1:\(target.port)"))
            }
            // Every node, replicas included, redirects to the target now.
            for node in cluster.nodes where node !== target {
                #expect(try await run(node, "GET", keys[0]) == .error("MOVED \(slot) 127.0.0.1:\(target.port)"))
            }
            await #expect(throws: RedisTestSupportError.self) { try await cluster.migrate(slot: slot, toShard: 1) }
        }
    }

    @Test func aKeyOfASlotHeldMigratingAnswersAskOnTheSourceOnceItMoved() async throws {
        try await RedisCluster.withCluster { cluster in
            let slot = 12000
            #expect(try await cluster.shard(ofSlot: slot) == 2)
            let keys = try RedisCluster.keys(inSlot: slot, count: 3, prefix: "ask:")
            let source = try await cluster.primary(ofShard: 2)
            for key in keys {
                #expect(try await run(source, "SET", key, "v") == .simpleString("OK"))
            }

            let migration = try await cluster.beginMigration(slot: slot, toShard: 0)
            let target = migration.target
            #expect(migration.source === source && migration.sourceShard == 2 && migration.targetShard == 0)
            #expect(target === (try await cluster.primary(ofShard: 0)))
            // Keys still on the source are served there; a key that is not answers ASK.
            #expect(try await run(source, "GET", keys[0]) == .bulkString("v"))
            let absent = keys[0] + ":absent"
            #expect(try await run(source, "GET", absent) == .error("ASK \(slot) 127.0.0.1:\(target.port)"))

            #expect(try await cluster.moveKeys(migration) == keys.count)
            for key in keys {
                #expect(try await run(source, "GET", key) == .error("ASK \(slot) 127.0.0.1:\(target.port)"))
                // The target serves the slot only to a client that says ASKING first.
                #expect(try await run(target, "GET", key) == .error("MOVED \(slot) 127.0.0.1:\(source.port)"))
                let connection = try await RawConnection.connect(port: target.port)
                #expect(try await command(connection, ["ASKING"]) == .simpleString("OK"))
                #expect(try await command(connection, ["GET", key]) == .bulkString("v"))
            }
            #expect(try await cluster.shard(ofSlot: slot) == 2)

            try await cluster.finishMigration(migration)
            #expect(try await cluster.shard(ofSlot: slot) == 0)
            #expect(try await run(source, "GET", keys[0]) == .error("MOVED \(slot) 127.0.0.1:\(target.port)"))
            #expect(try await run(target, "GET", keys[0]) == .bulkString("v"))
        }
    }

    @Test func stopAllThenStartAllHealsTheClusterWithTheDataGone() async throws {
        try await RedisCluster.withCluster { cluster in
            let key = try await cluster.keys(inShard: 2, count: 1)[0]
            let primary = try await cluster.primary(ofShard: 2)
            #expect(try await run(primary, "SET", key, "v") == .simpleString("OK"))
            let ids = cluster.nodes.map { cluster.nodeID(of: $0) }

            try await cluster.apply(.stop)
            #expect(cluster.nodes.allSatisfy { !$0.isRunning })
            try await cluster.apply(.start)
            #expect(cluster.nodes.allSatisfy { $0.isRunning })
            for node in cluster.nodes {
                #expect(try await run(node, "CLUSTER", "INFO").string?.contains("cluster_state:ok") == true)
            }
            // Same nodes, same roles and slots (nodes.conf survives), but no data: nothing is persisted.
            for (node, id) in zip(cluster.nodes, ids) {
                #expect(try await run(node, "CLUSTER", "MYID") == .bulkString(id!))
            }
            #expect(try await cluster.primary(ofShard: 2) === primary)
            #expect(try await run(primary, "GET", key) == .bulkString(nil))
            #expect(try await run(primary, "DBSIZE") == .integer(0))
        }
    }

    @Test func shutdownAndDroppingTheClusterLeaveNoRedisServerRunning() async throws {
        let cluster = try await RedisCluster.start()
        let pids = cluster.nodes.map(\.pid)
        let directories = cluster.nodes.map(\.directory)
        #expect(pids.allSatisfy { Glibc.kill($0, 0) == 0 })
        await cluster.shutdown()
        #expect(pids.allSatisfy { Glibc.kill($0, 0) == -1 })
        #expect(directories.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
        await cluster.shutdown()  // idempotent

        var dropped: RedisCluster? = try await RedisCluster.start()
        let droppedPids = try #require(dropped).nodes.map(\.pid)
        dropped = nil
        #expect(dropped == nil)
        #expect(droppedPids.allSatisfy { Glibc.kill($0, 0) == -1 })
    }
}

/// Sends one command to `node` on a fresh connection.
private func run(_ node: RedisServer, _ arguments: String...) async throws -> RawConnection.Reply {
    let connection = try await RawConnection.connect(port: node.port)
    defer { connection.close() }
    return try await command(connection, arguments)
}

private func command(_ connection: RawConnection, _ arguments: [String]) async throws -> RawConnection.Reply {
    try await connection.send(RawConnection.encode(arguments))
    return try await connection.readReply()
}
