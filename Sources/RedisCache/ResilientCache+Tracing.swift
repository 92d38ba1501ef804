import HiredisClient
import Resilience
import Synchronization
import Tracing

// Spans of the cache's operations. Each operation's backend call goes through `call(_:_:)` below instead of
// `recovery.call` directly: with no tracer configured that is the whole difference (one pointer check); with
// one, the call runs inside a span named `cache.<operation>`, which is the current `ServiceContext` for the
// call, so the Redis client's command spans are its children, and it is itself a child of the caller's span.
//
// Attributes: `cache.namespace`, `cache.circuit.state` (after the call: `closed`, `open`, `half_open`), and
// `cache.result` — `hit` / `miss` / `fenced` / `degraded` for reads, `degraded` for writes that did not reach
// the backend (those are journaled, which `cache.journaled` says). Errors are recorded with `recordError`; the
// status is set to error only for errors the caller sees (a refused request, a failing `compute`), not for a
// degraded call, which the caller sees as a miss or a success. No key, pattern or value is ever an attribute.

extension ResilientCache {
    /// `unit.call(body)`, inside a span when tracing is on. Inlined, so that with tracing off the call has no
    /// async frame more than before: that frame showed in the fence-only GET benchmark.
    @inline(__always)
    func call<T>(
        _ operation: CacheOperation,
        _ unit: Recovery,
        _ body: () async throws(CacheError) -> T
    ) async -> Guarded<T> {
        guard let tracer else { return await unit.call(body) }
        return await traced(operation, unit, tracer: tracer, body) { _ in nil }
    }

    /// A read of one key: the span says `hit` or `miss`.
    @inline(__always)
    func call(
        _ operation: CacheOperation,
        _ unit: Recovery,
        _ body: () async throws(CacheError) -> [UInt8]?
    ) async -> Guarded<[UInt8]?> {
        guard let tracer else { return await unit.call(body) }
        return await traced(operation, unit, tracer: tracer, body) { value in value == nil ? .miss : .hit }
    }

    /// A read of a key the invalidation journal fences: no backend call, but a span that says `fenced`.
    func traceFencedRead(_ unit: Recovery) {
        guard let tracer else { return }
        let span = tracer.startSpan(CacheOperation.get.spanName, context: ServiceContext.current ?? .topLevel)
        annotate(span, unit, result: .fenced, isLookup: true)
        span.end()
    }

    /// Runs a whole `fetch` inside a `cache.fetch` span; its result is the result of its own lookup.
    func traceFetch<T>(_ tracer: any Tracer, _ body: () async throws -> T) async throws -> T {
        let span = tracer.startSpan("cache.fetch", context: ServiceContext.current ?? .topLevel)
        defer { span.end() }
        var context = span.context
        let lookup = FetchLookup()
        context[FetchLookup.Key.self] = lookup
        do {
            let value = try await ServiceContext.$current.withValue(context) { try await body() }
            annotate(span, nil, result: lookup.result)
            return value
        } catch {
            annotate(span, nil, result: lookup.result)
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error))
            throw error
        }
    }

    private func traced<T>(
        _ operation: CacheOperation,
        _ unit: Recovery,
        tracer: any Tracer,
        _ body: () async throws(CacheError) -> T,
        result: (T) -> CacheSpanResult?
    ) async -> Guarded<T> {
        let span = tracer.startSpan(operation.spanName, context: ServiceContext.current ?? .topLevel)
        defer { span.end() }
        let outcome = await ServiceContext.$current.withValue(span.context) { await unit.call(body) }
        switch outcome {
        case .success(let value):
            annotate(span, unit, result: result(value), isLookup: operation == .get)
        case .degraded(let error):
            annotate(span, unit, result: .degraded, isLookup: operation == .get)
            if operation.journalsWhenDegraded { span.attributes["cache.journaled"] = true }
            span.recordError(error)
        case .refused(let error):
            annotate(span, unit, result: nil)
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error))
        }
        return outcome
    }

    /// `unit` is the recovery unit the call went through; `nil` for a whole `fetch`, whose lookup says its own.
    private func annotate(_ span: any Span, _ unit: Recovery?, result: CacheSpanResult?, isLookup: Bool = false) {
        let state = (unit ?? units.all[0]).breaker.state.name
        let shard = unit?.shard
        span.updateAttributes { attributes in
            attributes["cache.namespace"] = configuration.namespace
            attributes["cache.circuit.state"] = state
            if let shard { attributes["cache.shard"] = shard }
            if let result { attributes["cache.result"] = result.rawValue }
        }
        // The lookup of a `fetch` tells the enclosing `cache.fetch` span how it ended (only the first: a
        // `compute` that reads the cache itself does not overwrite it).
        if isLookup, let result,
            let lookup = ServiceContext.current?[FetchLookup.Key.self]
        {
            lookup.record(result)
        }
    }
}

/// The values of `cache.result`.
enum CacheSpanResult: String, Sendable {
    case hit, miss, fenced, degraded
}

extension CacheOperation {
    /// `cache.get`, `cache.get_many`, …; a `fetch`'s store is `cache.set`, under its `cache.fetch`.
    var spanName: String {
        switch self {
        case .fetchStore: "cache.set"
        default: "cache.\(label)"
        }
    }

    /// Whether a degraded call of this operation is journaled (a `fetch`'s store is not).
    var journalsWhenDegraded: Bool {
        switch self {
        case .set, .delete, .invalidate: true
        case .get, .getMany, .fetchStore: false
        }
    }
}

/// How the lookup of a `fetch` ended, carried in the `ServiceContext` of its `cache.fetch` span.
final class FetchLookup: Sendable {
    enum Key: ServiceContextKey {
        typealias Value = FetchLookup
    }

    private let first = Mutex<CacheSpanResult?>(nil)

    var result: CacheSpanResult? { first.withLock { $0 } }

    func record(_ result: CacheSpanResult) {
        first.withLock { if $0 == nil { $0 = result } }
    }
}
