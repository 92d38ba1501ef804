import ResilienceTestKit
import Testing

@testable import Resilience

/// `execute`, the two-step permit API, classification and the rejection error.
struct CallAPITests {
    @Test func executeReturnsTheValueAndRecordsASuccess() async throws {
        let harness = Harness()
        let value = try await harness.breaker.execute { 42 }
        #expect(value == 42)
        #expect(harness.breaker.metrics.counts.successes == 1)
    }

    @Test func executeRethrowsTheOperationsErrorUnchanged() async {
        let harness = Harness()
        await #expect(throws: BackendDown(id: 9)) {
            try await harness.breaker.execute { throw BackendDown(id: 9) }
        }
        #expect(harness.breaker.metrics.counts.failures == 1)
    }

    @Test func executeDoesNotRunTheOperationWhenRejected() async {
        let harness = Harness()
        harness.trip()
        var ran = false
        let error = await #expect(throws: CircuitBreakerError.self) {
            try await harness.breaker.execute { ran = true }
        }
        #expect(!ran)
        #expect(error?.code == .open)
    }

    @Test func cancellationIsIgnoredByDefault() async {
        let harness = Harness()
        for _ in 0..<10 {
            await #expect(throws: CancellationError.self) {
                try await harness.breaker.execute { throw CancellationError() }
            }
        }
        let metrics = harness.breaker.metrics
        #expect(metrics.state == .closed)
        #expect(metrics.counts.ignored == 10)
        #expect(metrics.counts.failures == 0)
        #expect(metrics.callsInWindow == 0)
    }

    @Test func aCustomClassifierDecidesWhatCounts() throws {
        struct WrongType: Error {}
        let harness = Harness(
            .init(classifier: { error in error is WrongType ? .ignored : CircuitBreakerClassification.default(error) })
        )
        for _ in 0..<10 { try harness.breaker.acquire().failed(WrongType()) }
        #expect(harness.breaker.state == .closed)
        #expect(harness.breaker.metrics.counts.ignored == 10)
        for _ in 0..<5 { try harness.breaker.acquire().failed(BackendDown()) }
        #expect(harness.breaker.state == .open)
    }

    @Test func ignoredCountsNeitherWay() throws {
        let harness = Harness()
        harness.fail(4)
        try harness.breaker.acquire().ignored()
        let metrics = harness.breaker.metrics
        #expect(metrics.consecutiveFailures == 4)
        #expect(metrics.counts.ignored == 1)
        #expect(metrics.callsInWindow == 4)
    }

    @Test func theRejectionErrorHasStableCodesAndAStaticMessage() {
        let open = CircuitBreakerError(code: .open, retryAfter: .seconds(3))
        #expect(open.code.description == "CIRCUIT_BREAKER_OPEN")
        #expect(open.message.contains("open"))
        #expect(open.description.hasPrefix("CIRCUIT_BREAKER_OPEN: "))
        let throttled = CircuitBreakerError(code: .throttled, retryAfter: nil)
        #expect(throttled.code.description == "CIRCUIT_BREAKER_THROTTLING")
        #expect(throttled.message.contains("half-open"))
        #expect(open != throttled)
    }

    @Test func stateNamesAreTheGuidesNames() {
        #expect(CircuitBreakerState.closed.description == "CLOSED")
        #expect(CircuitBreakerState.open.description == "OPEN")
        #expect(CircuitBreakerState.halfOpen.description == "HALF_OPEN")
    }

    @Test func aClosedPermitBelongsToTheCurrentGenerationAndIsNoProbe() throws {
        let harness = Harness()
        let permit = try harness.breaker.acquire()
        #expect(permit.generation == 0)
        #expect(!permit.isProbe)
        permit.succeeded()
    }
}

/// Validation of the configuration and its defaults.
struct ConfigurationTests {
    @Test func defaultsAreTheGuidesValues() {
        let configuration = CircuitBreakerConfiguration()
        #expect(configuration.failureThreshold == 5)
        #expect(configuration.successThreshold == 3)
        #expect(configuration.openDuration == .seconds(60))
        #expect(configuration.rollingWindow == .seconds(300))
        #expect(configuration.rollingWindowBuckets == 10)
        #expect(configuration.gradualRecovery)
        #expect(configuration.recoveryFactor == 0.5)
        #expect(configuration.failureRateThreshold == 0.5)
        #expect(configuration.minimumCalls == 100)
        #expect(configuration.slowCallThreshold == nil)
        #expect(configuration.openBackoff == .init(multiplier: 2, maxOpenDuration: .seconds(600), jitter: 0))
        #expect(configuration.maxHalfOpenProbes == 3)
        #expect(configuration.probeReclaimAfter == .seconds(30))
        #expect(configuration.activeProbe == nil)
        #expect(configuration.activeProbeInterval == .seconds(1))
        #expect(configuration.activeProbeTimeout == .seconds(5))
        #expect(configuration.recentFailuresCapacity == 50)
        #expect(configuration.classifier(CancellationError()) == .ignored)
        #expect(configuration.classifier(BackendDown()) == .failure)
        #expect(throws: Never.self) { try configuration.validate() }
    }

    @Test(
        arguments: [
            ("failureThreshold", { @Sendable (c: inout CircuitBreakerConfiguration) in c.failureThreshold = 0 }),
            ("successThreshold", { $0.successThreshold = 0 }),
            ("openDuration", { $0.openDuration = .zero }),
            ("rollingWindow", { $0.rollingWindow = .seconds(-1) }),
            ("rollingWindowBuckets", { $0.rollingWindowBuckets = 0 }),
            ("recoveryFactor", { $0.recoveryFactor = 0 }),
            ("recoveryFactor", { $0.recoveryFactor = 1.5 }),
            ("failureRateThreshold", { $0.failureRateThreshold = 0 }),
            ("minimumCalls", { $0.minimumCalls = 0 }),
            ("slowCallThreshold", { $0.slowCallThreshold = .zero }),
            ("openBackoff.multiplier", { $0.openBackoff.multiplier = 0.5 }),
            ("openBackoff.maxOpenDuration", { $0.openBackoff.maxOpenDuration = .seconds(10) }),
            ("openBackoff.jitter", { $0.openBackoff.jitter = 1 }),
            ("maxHalfOpenProbes", { $0.maxHalfOpenProbes = 0 }),
            ("probeReclaimAfter", { $0.probeReclaimAfter = .zero }),
            ("activeProbeInterval", { $0.activeProbeInterval = .zero }),
            ("activeProbeTimeout", { $0.activeProbeTimeout = .zero }),
            ("recentFailuresCapacity", { $0.recentFailuresCapacity = -1 }),
        ] as [(String, @Sendable (inout CircuitBreakerConfiguration) -> Void)]
    )
    func anInvalidValueIsRejectedWithAMessageNamingIt(
        field: String,
        change: @Sendable (inout CircuitBreakerConfiguration) -> Void
    ) {
        var configuration = CircuitBreakerConfiguration()
        change(&configuration)
        let error = #expect(throws: CircuitBreakerConfiguration.ValidationError.self) {
            try configuration.validate()
        }
        #expect(error?.message.hasPrefix(field) == true, "\(error?.message ?? "no error")")
    }

    @Test func theInitializerStopsTheProcessOnAnInvalidValue() async {
        await #expect(processExitsWith: .failure) {
            _ = CircuitBreakerConfiguration(failureThreshold: 0)
        }
    }
}
