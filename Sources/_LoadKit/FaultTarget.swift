/// A redis-server that ``RedisFault``s can be applied to, and the address its clients use.
///
/// `RedisTestSupport` implements it twice: `RedisTestbed`, a server the harness started and, for the proxy faults, a
/// fault proxy in front of it; and `RedisCluster`, a local Redis Cluster taking the shard faults (`kill-shard 0`…). Code that injects faults without starting processes itself (the demo's
/// runner) is written against this protocol, so it does not link the process launcher.
///
/// ```swift
/// try await target.apply(.hang)
/// try await Task.sleep(for: .seconds(2))
/// try await target.apply(.resume)
/// ```
public protocol FaultTarget: AnyObject, Sendable, CustomStringConvertible {
    /// Where clients connect: the proxy when there is one, else the server.
    var host: String { get }
    /// Where clients connect: the proxy when there is one, else the server.
    var port: Int { get }
    /// Whether there is a proxy for the proxy faults.
    var hasProxy: Bool { get }

    /// Applies `fault` and returns when it has run its course: the signal taken effect, a restarted server
    /// answering, the proxy switched, a fault that ends by itself over.
    func apply(_ fault: RedisFault) async throws

    /// Stops the server (and the proxy) for good.
    func shutdown() async
}
