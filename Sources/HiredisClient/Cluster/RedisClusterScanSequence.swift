/// The keys matching a pattern, in batches, from `SCAN` on one cluster node after another. See
/// ``RedisClusterClient/scan(match:count:)`` and ``RedisClusterClient/scan(shard:match:count:)``.
///
/// The nodes are chosen when iteration starts, from the topology known then.
public struct RedisClusterScanSequence: AsyncSequence, Sendable {
    public typealias Element = [RedisKey]
    public typealias Failure = RedisClientError

    enum Target: Sendable {
        case allPrimaries
        case slot(Int)
        case shard(Int)
    }

    let client: RedisClusterClient
    let target: Target
    let pattern: String?
    let count: Int?

    public struct AsyncIterator: AsyncIteratorProtocol {
        let client: RedisClusterClient
        let target: Target
        let pattern: String?
        let count: Int?
        var nodes: [RedisClientConfiguration.Endpoint]?
        var cursor: UInt64 = 0

        public mutating func next(
            isolation actor: isolated (any Actor)? = #isolation
        ) async throws(RedisClientError) -> [RedisKey]? {
            if nodes == nil { nodes = try await client.scanNodes(target).reversed() }
            // SCAN may return empty batches before the end; skip them so callers only see keys.
            while let node = nodes?.last {
                let (next, keys) = try await client.nodeClient(node).scanStep(
                    cursor: cursor,
                    match: pattern,
                    count: count
                )
                cursor = next
                if next == 0 { nodes?.removeLast() }
                if !keys.isEmpty { return keys }
            }
            return nil
        }

        public mutating func next() async throws(RedisClientError) -> [RedisKey]? {
            try await next(isolation: nil)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(client: client, target: target, pattern: pattern, count: count)
    }
}
