import Tracing

/// Starts the client spans of a ``RedisClient``: one per command or pipeline, of kind `.client`, a child of the
/// caller's span (`ServiceContext.current`), with OpenTelemetry's database attributes.
///
/// Span names and `db.operation.name` are the command name (`GET`), or for a pipeline of two or more commands
/// `BATCH GET` when they are all one command and `BATCH` otherwise, with `db.operation.batch.size`. Keys, values
/// and other arguments never appear: they may be personal data or secrets (`AUTH`). Failures are recorded with
/// `recordError` and the status set to error; a `nil` reply is a reply, not a failure.
///
/// Made only when a real tracer is configured: without one the client holds `nil` and each call costs a pointer
/// check.
struct CommandTracer: Sendable {
    let tracer: any Tracer
    /// `db.system.name`, `server.address`, `server.port` (TCP only) and `db.namespace` (the database index).
    let connectionAttributes: SpanAttributes

    /// A tracer for `configuration`, or `nil` when its tracer is absent or the no-op one.
    init?(_ configuration: RedisClientConfiguration) {
        guard let tracer = activeTracer(configuration.tracer) else { return nil }
        self.tracer = tracer
        var attributes = SpanAttributes()
        attributes["db.system.name"] = "redis"
        switch configuration.endpoint.base {
        case .tcp(let host, let port):
            attributes["server.address"] = host
            attributes["server.port"] = port
        case .unix(let path):
            attributes["server.address"] = path
            attributes["network.transport"] = "unix"
        }
        attributes["db.namespace"] = String(configuration.database)
        self.connectionAttributes = attributes
    }

    /// Runs `body` (one command) inside its client span.
    func withSpan<T>(
        _ command: RedisCommand,
        _ body: () async throws(RedisClientError) -> T
    ) async throws(RedisClientError) -> T {
        let span = start(operation: command.description.uppercased(), batchSize: nil)
        defer { span.end() }
        do {
            return try await body()
        } catch {
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error))
            throw error
        }
    }

    /// Runs `body` (a pipeline) inside one client span; each failed command's error is recorded on it.
    func withSpan(
        pipeline commands: [RedisCommand],
        _ body: () async -> [Result<RedisReply, RedisClientError>]
    ) async -> [Result<RedisReply, RedisClientError>] {
        let names = commands.map { $0.description.uppercased() }
        let operation: String
        if names.count == 1 {
            operation = names[0]
        } else if names.allSatisfy({ $0 == names[0] }) {
            operation = "BATCH \(names[0])"
        } else {
            operation = "BATCH"
        }
        let span = start(operation: operation, batchSize: names.count > 1 ? names.count : nil)
        defer { span.end() }
        let results = await body()
        var failed = false
        for case .failure(let error) in results {
            span.recordError(error)
            failed = true
        }
        if failed { span.setStatus(SpanStatus(code: .error)) }
        return results
    }

    private func start(operation: String, batchSize: Int?) -> any Span {
        let span = tracer.startSpan(operation, context: ServiceContext.current ?? .topLevel, ofKind: .client)
        span.updateAttributes { attributes in
            attributes.merge(connectionAttributes)
            attributes["db.operation.name"] = operation
            if let batchSize { attributes["db.operation.batch.size"] = batchSize }
        }
        return span
    }
}

/// `tracer`, unless it is absent or the no-op tracer: what a client or cache holds to decide, with one pointer
/// check per call, whether to trace at all.
package func activeTracer(_ tracer: (any Tracer)?) -> (any Tracer)? {
    guard let tracer, !(tracer is NoOpTracer) else { return nil }
    return tracer
}
