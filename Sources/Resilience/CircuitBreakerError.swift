/// A call was not admitted by a ``CircuitBreaker``.
///
/// Rejections are flow control, not faults: ``CircuitBreaker/acquire()`` throws this
/// error with typed throws, so a rejection allocates nothing (no existential box, no
/// string building: the ``message`` is static). The ``code`` has a stable string form
/// (`CIRCUIT_BREAKER_OPEN`, `CIRCUIT_BREAKER_THROTTLING`) for logs, metrics and APIs.
///
/// ```swift
/// do {
///     let permit = try breaker.acquire()
///     // ...
/// } catch {
///     // `error` is a CircuitBreakerError here, no cast needed
///     if error.code == .open { return cachedFallback }
/// }
/// ```
public struct CircuitBreakerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable code of a rejection.
    ///
    /// A struct over a private enum, so that codes can be added without breaking users.
    ///
    /// ```swift
    /// #expect(CircuitBreakerError.Code.open.description == "CIRCUIT_BREAKER_OPEN")
    /// ```
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        @usableFromInline
        enum Base: UInt8, Sendable {
            case open
            case throttled
        }

        @usableFromInline
        let base: Base

        @inlinable
        init(_ base: Base) {
            self.base = base
        }

        /// The breaker is OPEN (or forced open): `CIRCUIT_BREAKER_OPEN`.
        @inlinable
        public static var open: Self { Self(.open) }

        /// The breaker is HALF_OPEN and this call was not among the admitted probes:
        /// `CIRCUIT_BREAKER_THROTTLING`.
        @inlinable
        public static var throttled: Self { Self(.throttled) }

        /// The stable string code: `CIRCUIT_BREAKER_OPEN` or `CIRCUIT_BREAKER_THROTTLING`.
        public var description: String {
            switch base {
            case .open: "CIRCUIT_BREAKER_OPEN"
            case .throttled: "CIRCUIT_BREAKER_THROTTLING"
            }
        }
    }

    /// What kind of rejection this is.
    public let code: Code

    /// How long until the breaker lets a probe through, measured at the rejection.
    ///
    /// `nil` when it is unknown or was not worth a clock read: in HALF_OPEN
    /// (``Code/throttled``), forced open without an expiry, and OPEN while
    /// ``CircuitBreaker/run()`` drives the timers (the rejection then reads no clock).
    public let retryAfter: Duration?

    @usableFromInline
    let staticMessage: StaticString

    /// Creates a rejection (the breaker does; so may tests of code that handles rejections).
    ///
    /// ```swift
    /// let rejection = CircuitBreakerError(code: .open, retryAfter: .seconds(30))
    /// ```
    ///
    /// - Parameters:
    ///   - code: What kind of rejection.
    ///   - retryAfter: How long until a probe may go through, if known.
    @inlinable
    public init(code: Code, retryAfter: Duration?) {
        self.code = code
        self.retryAfter = retryAfter
        switch code.base {
        case .open: self.staticMessage = "the circuit breaker is open: the call was rejected without being attempted"
        case .throttled:
            self.staticMessage =
                "the circuit breaker is half-open: the call was throttled while the dependency is being probed"
        }
    }

    /// A human-readable explanation (a static text; building it costs nothing on the hot path).
    public var message: String {
        staticMessage.description
    }

    /// `CODE: message`.
    public var description: String {
        "\(code): \(message)"
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.retryAfter == rhs.retryAfter
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(retryAfter)
    }
}
