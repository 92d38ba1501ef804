/// How a call's error counts for the ``CircuitBreaker``.
///
/// A classifier, ``CircuitBreakerConfiguration/classifier``, maps every error a
/// protected call throws to a classification. A ``failure`` moves the breaker
/// towards OPEN; an ``ignored`` outcome frees the call's permit and counts nothing
/// else. It is a struct with static members rather than an enum so that more
/// classifications can be added without breaking existing `switch` statements.
///
/// ```swift
/// configuration.classifier = { error in
///     if error is CancellationError { return .ignored }
///     if let redis = error as? RedisError, redis.isCallerError { return .ignored }
///     return .failure
/// }
/// ```
public struct CircuitBreakerClassification: Sendable, Hashable, CustomStringConvertible {
    @usableFromInline
    enum Base: UInt8, Sendable {
        case failure
        case ignored
    }

    @usableFromInline
    let base: Base

    @inlinable
    init(_ base: Base) {
        self.base = base
    }

    /// The error means the protected dependency cannot serve: it counts as a failure.
    @inlinable
    public static var failure: Self { Self(.failure) }

    /// The error is the caller's own problem (or a cancellation): it counts neither way.
    @inlinable
    public static var ignored: Self { Self(.ignored) }

    public var description: String {
        switch base {
        case .failure: "failure"
        case .ignored: "ignored"
        }
    }

    /// The default classifier: `CancellationError` is ignored, every other error is a failure.
    ///
    /// ```swift
    /// #expect(CircuitBreakerClassification.default(CancellationError()) == .ignored)
    /// ```
    ///
    /// - Parameters:
    ///   - error: The error a protected call threw.
    /// - Returns: ``ignored`` for `CancellationError`, ``failure`` otherwise.
    @Sendable
    public static func `default`(_ error: any Error) -> Self {
        error is CancellationError ? .ignored : .failure
    }
}
