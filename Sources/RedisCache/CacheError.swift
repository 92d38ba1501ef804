/// An error from ``ResilientCache`` or a ``CacheBackend``, with a stable code.
///
/// With degradation on (the default), the cache throws only caller errors (``Code/valueTooLarge``,
/// ``Code/rejected``, ``Code/encoding``) and whatever `compute` throws in `fetch`; availability problems become
/// misses. With degradation off it also throws ``Code/circuitOpen``, ``Code/throttled`` and
/// ``Code/unavailable``.
public struct CacheError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; ``description`` is the stable string, e.g. `CIRCUIT_BREAKER_OPEN`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case circuitOpen = "CIRCUIT_BREAKER_OPEN"
            case throttled = "CIRCUIT_BREAKER_THROTTLING"
            case unavailable = "BACKEND_UNAVAILABLE"
            case rejected = "BACKEND_REJECTED"
            case valueTooLarge = "VALUE_TOO_LARGE"
            case encoding = "ENCODING_FAILED"
            case cancelled = "CANCELLED"
        }

        let base: Base

        /// The circuit is open: the call was not sent to the backend.
        public static let circuitOpen = Code(base: .circuitOpen)
        /// The circuit is half-open and this call was not among those admitted to probe the backend.
        public static let throttled = Code(base: .throttled)
        /// The backend could not serve: unreachable, timed out, connection lost, or a server state such as
        /// `LOADING`, `BUSY`, `MASTERDOWN` or `OOM`. Counts against the circuit.
        public static let unavailable = Code(base: .unavailable)
        /// The backend refused the request itself (`WRONGTYPE`, syntax): the caller's problem, not an outage.
        public static let rejected = Code(base: .rejected)
        /// The value exceeds ``ResilientCacheConfiguration/maximumValueSize``.
        public static let valueTooLarge = Code(base: .valueTooLarge)
        /// A `Codable` value could not be encoded or decoded.
        public static let encoding = Code(base: .encoding)
        /// The calling task was cancelled.
        public static let cancelled = Code(base: .cancelled)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// The backend's or encoder's own error, when there is one.
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

    public var description: String { "\(code): \(message)" }

    /// Whether this error says the backend is unavailable (and so counts against the circuit), as opposed to
    /// a mistake of the caller's.
    public var isAvailabilityFailure: Bool {
        code == .unavailable
    }
}
