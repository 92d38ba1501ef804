/// The keys matching a pattern, in batches, from repeated `SCAN` calls. See ``RedisClient/scan(match:count:)``.
public struct RedisScanSequence: AsyncSequence, Sendable {
    public typealias Element = [RedisKey]
    public typealias Failure = RedisClientError

    let client: RedisClient
    let pattern: String?
    let count: Int?

    public struct AsyncIterator: AsyncIteratorProtocol {
        let client: RedisClient
        let pattern: String?
        let count: Int?
        var cursor: UInt64 = 0
        var finished = false

        public mutating func next(
            isolation actor: isolated (any Actor)? = #isolation
        ) async throws(RedisClientError) -> [RedisKey]? {
            // SCAN may return empty batches before the end; skip them so callers only see keys.
            while !finished {
                let (next, keys) = try await client.scanStep(cursor: cursor, match: pattern, count: count)
                cursor = next
                finished = next == 0
                if !keys.isEmpty { return keys }
            }
            return nil
        }

        public mutating func next() async throws(RedisClientError) -> [RedisKey]? {
            try await next(isolation: nil)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(client: client, pattern: pattern, count: count)
    }
}
