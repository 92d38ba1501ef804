import Foundation

extension RedisCluster {
    // MARK: - Slots

    /// The slot of `key`, as Redis computes it: CRC16 (XMODEM) of the key's bytes, modulo 16384.
    ///
    /// When the key has a hash tag, only the tag is hashed: the bytes between the first `{` and the first `}`
    /// after it, if there is at least one byte between them (`{user1000}.following` and
    /// `{user1000}.followers` share a slot). `foo{}{bar}` has an empty first tag, so the whole key is hashed.
    public static func slot(of key: String) -> Int {
        let bytes = Array(key.utf8)
        var hashed = bytes[...]
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
            let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
            close > open + 1
        {
            hashed = bytes[(open + 1)..<close]
        }
        return Int(crc16(hashed)) % slotCount
    }

    /// The slot of `key`; see ``slot(of:)-swift.type.method``.
    public func slot(of key: String) -> Int {
        Self.slot(of: key)
    }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection, as in Redis's `crc16.c`.
    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }

    /// `count` key names (`prefix0`, `prefix7`, …) whose slots `shard` serves now.
    ///
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard` for a shard the cluster does not have or one
    ///   that serves no slot, `commandFailed` when no node answers.
    public func keys(inShard shard: Int, count: Int, prefix: String = "key:") async throws -> [String] {
        let members = Set(try members(ofShard: shard).map { nodeIDs[$0] })
        let owners = try await currentView().slotOwners
        guard owners.contains(where: { $0.map(members.contains) == true }) else {
            throw RedisTestSupportError(.noSuchShard, "shard \(shard) serves no slot")
        }
        var keys: [String] = []
        var number = 0
        while keys.count < count {
            let key = prefix + String(number)
            if let owner = owners[Self.slot(of: key)], members.contains(owner) {
                keys.append(key)
            }
            number += 1
        }
        return keys
    }

    /// `count` key names in `slot`, sharing a hash tag: `{prefixN}:0`, `{prefixN}:1`, …
    ///
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard` for a slot outside 0..<16384.
    public static func keys(inSlot slot: Int, count: Int, prefix: String = "key:") throws(RedisTestSupportError)
        -> [String]
    {
        try checkSlot(slot)
        var number = 0
        while Self.slot(of: prefix + String(number)) != slot {
            number += 1
        }
        let tag = "{" + prefix + String(number) + "}:"
        return (0..<count).map { tag + String($0) }
    }

    static func checkSlot(_ slot: Int) throws(RedisTestSupportError) {
        guard (0..<slotCount).contains(slot) else {
            throw RedisTestSupportError(.noSuchShard, "no slot \(slot): slots are 0 to \(slotCount - 1)")
        }
    }

    // MARK: - Migration

    /// A slot being moved from one shard's primary to another's, between ``beginMigration(slot:toShard:)`` and
    /// ``finishMigration(_:)``.
    ///
    /// While it lasts, the source answers a command on a key of the slot it no longer holds with
    /// `-ASK slot host:port`, and the target serves such a key only after `ASKING`.
    public struct SlotMigration: Sendable {
        /// The slot being moved.
        public let slot: Int
        /// The primary that served the slot.
        public let source: RedisServer
        /// The primary that will serve it.
        public let target: RedisServer
        /// The source's shard.
        public let sourceShard: Int
        /// The target's shard.
        public let targetShard: Int
        let sourceID: String
        let targetID: String
    }

    /// Moves `slot` and its keys to `shard`'s primary with the documented sequence, and returns how many keys
    /// moved.
    ///
    /// `CLUSTER SETSLOT slot IMPORTING` on the target, `MIGRATING` on the source, `CLUSTER GETKEYSINSLOT` and
    /// `MIGRATE … KEYS` until the source has none left, then `CLUSTER SETSLOT slot NODE target` on the target,
    /// the source and every other primary. Afterwards the source answers `-MOVED` for the slot's keys.
    ///
    /// - Parameters:
    ///   - slot: The slot to move.
    ///   - shard: The shard to move it to.
    ///   - pauseBetweenKeys: A pause after each key, so callers run against a slot that is half moved for a
    ///     while (keys then move one `MIGRATE` at a time); zero moves them in batches of 100.
    /// - Returns: The number of keys moved.
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard` (also when `shard` already serves `slot`),
    ///   `commandFailed` when Redis refuses a step, `timeout` when the cluster does not agree on the new owner.
    @discardableResult
    public func migrate(slot: Int, toShard shard: Int, pauseBetweenKeys: Duration = .zero) async throws -> Int {
        let migration = try await beginMigration(slot: slot, toShard: shard)
        let moved = try await moveKeys(migration, pauseBetweenKeys: pauseBetweenKeys)
        try await finishMigration(migration)
        return moved
    }

    /// Puts `slot` into the migrating state toward `shard`'s primary, and moves no key yet.
    ///
    /// `CLUSTER SETSLOT slot IMPORTING source-id` on the target, then `CLUSTER SETSLOT slot MIGRATING target-id`
    /// on the source. Keys still on the source are served there; one that is not answers `-ASK`. Move keys with
    /// ``moveKeys(_:batchSize:pauseBetweenKeys:)`` and end with ``finishMigration(_:)``.
    ///
    /// - Throws: ``RedisTestSupportError`` with code `noSuchShard` (also when `shard` already serves `slot`), or
    ///   `commandFailed` when Redis refuses a step.
    public func beginMigration(slot: Int, toShard shard: Int) async throws -> SlotMigration {
        try Self.checkSlot(slot)
        let members = try members(ofShard: shard)
        let view = try await currentView()
        guard let sourceID = view.slotOwners[slot], let sourceIndex = nodeIndex(ofID: sourceID),
            let sourceShard = shardMembers.firstIndex(where: { $0.contains(sourceIndex) })
        else {
            throw RedisTestSupportError(.noSuchShard, "no node of the cluster serves slot \(slot):\n\(view.text)")
        }
        guard sourceShard != shard else {
            throw RedisTestSupportError(.noSuchShard, "shard \(shard) already serves slot \(slot)")
        }
        let target = try primary(among: members, in: view, shard: shard)
        let targetID = nodeID(of: target)!
        let migration = SlotMigration(
            slot: slot,
            source: nodes[sourceIndex],
            target: target,
            sourceShard: sourceShard,
            targetShard: shard,
            sourceID: sourceID,
            targetID: targetID
        )
        try await Self.checkedCommand(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID], on: target)
        try await Self.checkedCommand(
            ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID], on: migration.source)
        return migration
    }

    /// Moves the keys of a migrating slot from the source to the target (`CLUSTER GETKEYSINSLOT`, then
    /// `MIGRATE host port "" 0 5000 KEYS …`) until the source has none left, and returns how many moved.
    ///
    /// - Parameters:
    ///   - migration: What ``beginMigration(slot:toShard:)`` returned.
    ///   - batchSize: How many keys one `MIGRATE` moves when there is no pause.
    ///   - pauseBetweenKeys: A pause after each key (keys then move one at a time).
    /// - Throws: ``RedisTestSupportError`` with code `commandFailed` when Redis refuses a step.
    @discardableResult
    public func moveKeys(
        _ migration: SlotMigration,
        batchSize: Int = 100,
        pauseBetweenKeys: Duration = .zero
    ) async throws -> Int {
        let perMigrate = pauseBetweenKeys > .zero ? 1 : max(1, batchSize)
        var moved = 0
        while true {
            let reply = try await Self.checkedCommand(
                ["CLUSTER", "GETKEYSINSLOT", String(migration.slot), String(perMigrate)], on: migration.source)
            guard case .array(let items?) = reply else {
                throw RedisTestSupportError(.commandFailed, "CLUSTER GETKEYSINSLOT answered \(reply)")
            }
            let keys = items.compactMap(\.string)
            if keys.isEmpty {
                return moved
            }
            // A TLS cluster (`tls-cluster yes`) migrates over TLS, to the target's TLS port.
            let port = migration.target.tlsPort ?? migration.target.port
            try await Self.checkedCommand(
                ["MIGRATE", migration.target.host, String(port), "", "0", "5000", "KEYS"] + keys,
                on: migration.source,
                timeout: .seconds(10)
            )
            moved += keys.count
            if pauseBetweenKeys > .zero {
                try await Task.sleep(for: pauseBetweenKeys)
            }
        }
    }

    /// Ends a migration: `CLUSTER SETSLOT slot NODE target-id` on the target, the source and every other running
    /// primary, then waits until every reachable node sees the target serving the slot (at most 30 seconds).
    ///
    /// Move the keys first (``moveKeys(_:batchSize:pauseBetweenKeys:)``): Redis refuses to assign the slot away
    /// from a source that still holds keys in it.
    ///
    /// - Throws: ``RedisTestSupportError`` with code `commandFailed` when Redis refuses, `timeout` when the
    ///   cluster does not agree in time.
    public func finishMigration(_ migration: SlotMigration) async throws {
        let assign = ["CLUSTER", "SETSLOT", String(migration.slot), "NODE", migration.targetID]
        try await Self.checkedCommand(assign, on: migration.target)
        try await Self.checkedCommand(assign, on: migration.source)
        let topology = try await currentView()
        for entry in topology.entries where entry.isPrimary && !entry.isFailing {
            guard let index = nodeIndex(ofID: entry.id), entry.id != migration.sourceID,
                entry.id != migration.targetID, nodes[index].isRunning, !nodes[index].isHung
            else { continue }
            try await Self.checkedCommand(assign, on: nodes[index])
        }
        try await waitUntil(
            "slot \(migration.slot) served by port \(migration.target.port)", timeout: Self.healthTimeout
        ) {
            for index in reachableIndices {
                guard let nodeView = try? await view(of: nodes[index]) else {
                    return "port \(nodes[index].port) did not answer CLUSTER NODES"
                }
                if nodeView.slotOwners[migration.slot] != migration.targetID {
                    return "port \(nodes[index].port) does not see the new owner yet"
                }
            }
            return nil
        }
    }
}
