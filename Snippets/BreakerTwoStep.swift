// The circuit breaker on its own, around any dependency: the two-step API (acquire, call, report), the closure
// API, errors that classify themselves, the timers, and an owner that verifies recovery itself.

// snippet.hide
import Logging
import Resilience

struct Inventory: Sendable {
    func count(_ sku: String) async throws(InventoryError) -> Int { 7 }
    func ping() async throws(InventoryError) {}
}

// snippet.show
/// A dependency's errors say how they count: "cannot serve" opens the circuit, "wrong request" proves the
/// dependency answered.
struct InventoryError: Error, CircuitBreakerClassifiedError {
    var isUnreachable: Bool
    var circuitBreakerClassification: CircuitBreakerClassification { isUnreachable ? .failure : .success }
}

let breaker = CircuitBreaker(
    name: "inventory",
    configuration: CircuitBreakerConfiguration(failureThreshold: 5, openDuration: .seconds(30)),
    logger: Logger(label: "inventory")
)

/// Two steps: ask, call, report exactly once. A rejection is a typed error and allocates nothing.
func stock(_ sku: String, inventory: Inventory, breaker: CircuitBreaker) async -> Int? {
    let permit: CircuitBreaker.Permit
    do {
        permit = try breaker.acquire()
    } catch {
        return nil  // error.code is .open or .throttled: serve without the dependency
    }
    do {
        let count = try await inventory.count(sku)
        permit.succeeded()
        return count
    } catch {
        permit.failed(error)  // the classifier decides: failure, ignored or success
        return nil
    }
}

/// One step: the same around a closure; a rejection is thrown as `CircuitBreakerError`.
func stockOrThrow(_ sku: String, inventory: Inventory, breaker: CircuitBreaker) async throws -> Int {
    try await breaker.execute { try await inventory.count(sku) }
}

/// The timers run while `run()` does: OPEN to HALF_OPEN on time, probe reclaim, the active probe, expiring
/// forced states. Without it the same transitions happen lazily, on the next call.
func serve(breaker: CircuitBreaker, until done: @escaping @Sendable () async -> Void) async {
    await withDiscardingTaskGroup { group in
        group.addTask { await breaker.run() }
        group.addTask {
            for await event in breaker.makeEventStream() {
                print("inventory circuit \(event.from) -> \(event.to) (\(event.reason))")
            }
        }
        await done()
        breaker.shutdown()  // ends run() and finishes every event stream
    }
}

/// An owner that probes the dependency itself ends the open period as soon as it answers.
func verifyRecovery(inventory: Inventory, breaker: CircuitBreaker) async {
    guard breaker.state == .open, (try? await inventory.ping()) != nil else { return }
    breaker.endOpenPeriod()  // OPEN -> HALF_OPEN now (recovery_verified), not after the open duration
}
