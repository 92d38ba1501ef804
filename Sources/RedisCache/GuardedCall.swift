import Resilience

/// The outcome of one backend call made under the breaker.
enum Guarded<T> {
    case success(T)
    /// The backend was unavailable or the breaker did not admit the call.
    case degraded(CacheError)
    /// The backend refused the request on its merits: the caller's error.
    case rejected(CacheError)
}

/// Runs one backend call under `breaker`, reports its outcome, and classifies it.
///
/// Availability failures count against the backend; cancellation is ignored; a refusal on the request's
/// merits (`WRONGTYPE`) proves the backend answered, so it counts as a success for the breaker.
func guardedCall<C: Clock, T>(
    _ breaker: CircuitBreaker<C>,
    _ call: () async throws(CacheError) -> T
) async -> Guarded<T> where C.Duration == Duration {
    let permit: CircuitBreaker<C>.Permit
    do {
        permit = try breaker.acquire()
    } catch {
        return .degraded(CacheError(error.code == .open ? .circuitOpen : .throttled, error.message, underlying: error))
    }
    do {
        let value = try await call()
        permit.succeeded()
        return .success(value)
    } catch {
        switch error.code {
        case .unavailable:
            permit.failed(error)
            return .degraded(error)
        case .cancelled:
            permit.ignored()
            return .degraded(error)
        default:
            permit.succeeded()
            return .rejected(error)
        }
    }
}
