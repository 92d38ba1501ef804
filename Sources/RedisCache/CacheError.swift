import Resilience

/// An error from ``ResilientCache`` or a ``CacheBackend``, with a stable code.
///
/// With degradation on (the default), the cache throws only caller errors (``Code/valueTooLarge``,
/// ``Code/refused``, ``Code/encoding``, ``Code/invalidArgument``) and whatever `compute` throws in `fetch`;
/// availability problems become misses. With degradation off it also throws ``Code/circuitOpen``,
/// ``Code/throttled`` and ``Code/unavailable``.
///
/// How an error counts for the circuit breaker is decided in one place, ``circuitBreakerClassification``:
/// ``Code/unavailable`` is a failure, ``Code/cancelled`` is ignored, and the caller's errors prove the backend
/// answered, so they count as successes.
public struct CacheError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; ``description`` is the stable string, e.g. `CIRCUIT_BREAKER_OPEN`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: Hashable, Sendable {
            case circuit(CircuitBreakerError.Code)
            case unavailable
            case refused
            case valueTooLarge
            case encoding
            case invalidArgument
            case invalidConfiguration
            case cancelled
        }

        let base: Base

        /// The circuit is open: the call was not sent to the backend. The breaker's own code,
        /// `CIRCUIT_BREAKER_OPEN`; ``CacheError/circuitBreakerError`` holds the breaker's error.
        public static let circuitOpen = Code(base: .circuit(.open))
        /// The circuit is half-open and this call was not among those admitted to probe the backend
        /// (`CIRCUIT_BREAKER_THROTTLING`).
        public static let throttled = Code(base: .circuit(.throttled))
        /// The backend could not serve: unreachable, timed out, connection lost, or a server state such as
        /// `LOADING`, `BUSY`, `MASTERDOWN` or `OOM`. Counts against the circuit.
        public static let unavailable = Code(base: .unavailable)
        /// The backend answered and refused the request itself (`WRONGTYPE`, syntax): the caller's problem, not
        /// an outage.
        public static let refused = Code(base: .refused)
        /// The value exceeds ``ResilientCacheConfiguration/maximumValueSize``.
        public static let valueTooLarge = Code(base: .valueTooLarge)
        /// A `Codable` value could not be encoded or decoded.
        public static let encoding = Code(base: .encoding)
        /// An argument the cache cannot honour, such as a TTL of zero or less.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// A setting read from the environment or a configuration provider cannot be used; the message names it.
        public static let invalidConfiguration = Code(base: .invalidConfiguration)
        /// The calling task was cancelled.
        public static let cancelled = Code(base: .cancelled)

        public var description: String {
            switch base {
            case .circuit(let code): code.description
            case .unavailable: "BACKEND_UNAVAILABLE"
            case .refused: "BACKEND_REFUSED"
            case .valueTooLarge: "VALUE_TOO_LARGE"
            case .encoding: "ENCODING_FAILED"
            case .invalidArgument: "INVALID_ARGUMENT"
            case .invalidConfiguration: "INVALID_CONFIGURATION"
            case .cancelled: "CANCELLED"
            }
        }
    }

    public var code: Code
    public var message: String
    /// The backend's, breaker's or encoder's own error, when there is one.
    public var underlying: (any Error & Sendable)?
    public var file: String
    public var line: Int

    public init(
        _ code: Code,
        _ message: String,
        underlying: (any Error & Sendable)? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    /// Wraps the breaker's rejection: ``Code/circuitOpen`` or ``Code/throttled``, with the breaker's message.
    init(_ rejection: CircuitBreakerError, file: String = #fileID, line: Int = #line) {
        self.init(
            Code(base: .circuit(rejection.code)), rejection.message, underlying: rejection, file: file, line: line)
    }

    public var description: String { "\(code): \(message)" }

    /// The breaker's rejection, for ``Code/circuitOpen`` and ``Code/throttled``.
    public var circuitBreakerError: CircuitBreakerError? {
        underlying as? CircuitBreakerError
    }

    /// Whether this error says the backend is unavailable (and so counts against the circuit), as opposed to
    /// a mistake of the caller's.
    public var isAvailabilityFailure: Bool {
        circuitBreakerClassification == .failure
    }
}

extension CacheError: CircuitBreakerClassifiedError {
    /// How the error counts for the circuit breaker, the one table the cache's calls go through (by way of the
    /// breaker's ``CircuitBreakerConfiguration/classifier``, whose default asks this property).
    ///
    /// | code | counts as |
    /// |---|---|
    /// | `BACKEND_UNAVAILABLE` | failure |
    /// | `CANCELLED`, `CIRCUIT_BREAKER_OPEN`, `CIRCUIT_BREAKER_THROTTLING` | ignored |
    /// | `BACKEND_REFUSED`, `VALUE_TOO_LARGE`, `ENCODING_FAILED`, `INVALID_ARGUMENT` | success: the backend answered |
    public var circuitBreakerClassification: CircuitBreakerClassification {
        switch code.base {
        case .unavailable: .failure
        case .cancelled, .circuit: .ignored
        case .refused, .valueTooLarge, .encoding, .invalidArgument, .invalidConfiguration: .success
        }
    }
}
