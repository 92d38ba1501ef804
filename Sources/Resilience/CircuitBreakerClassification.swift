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
        case success
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

    /// The call failed, but the failure proves the dependency answered (it refused the request on its
    /// merits, e.g. a wrong type): it counts as a success, as gobreaker's `IsSuccessful` does.
    @inlinable
    public static var success: Self { Self(.success) }

    public var description: String {
        switch base {
        case .failure: "failure"
        case .ignored: "ignored"
        case .success: "success"
        }
    }

    /// The default classifier: `CancellationError` is ignored, an error that says how it counts
    /// (``CircuitBreakerClassifiedError``) counts so, every other error is a failure.
    ///
    /// ```swift
    /// #expect(CircuitBreakerClassification.default(CancellationError()) == .ignored)
    /// ```
    ///
    /// - Parameters:
    ///   - error: The error a protected call threw.
    /// - Returns: ``ignored`` for `CancellationError`, the error's own classification for a
    ///   ``CircuitBreakerClassifiedError``, ``failure`` otherwise.
    @Sendable
    public static func `default`(_ error: any Error) -> Self {
        if error is CancellationError { return .ignored }
        if let classified = error as? any CircuitBreakerClassifiedError {
            return classified.circuitBreakerClassification
        }
        return .failure
    }
}

/// An error that says how it counts for a circuit breaker; the default classifier asks it.
///
/// A library whose errors already separate "the dependency cannot serve" from "the request is wrong"
/// conforms them, so that one table, next to the error codes, decides what a breaker counts.
///
/// ```swift
/// extension StoreError: CircuitBreakerClassifiedError {
///     var circuitBreakerClassification: CircuitBreakerClassification {
///         code == .unreachable ? .failure : .success
///     }
/// }
/// ```
public protocol CircuitBreakerClassifiedError: Error {
    /// How this error counts: ``CircuitBreakerClassification/failure``, ``CircuitBreakerClassification/ignored``
    /// or ``CircuitBreakerClassification/success``.
    var circuitBreakerClassification: CircuitBreakerClassification { get }
}
