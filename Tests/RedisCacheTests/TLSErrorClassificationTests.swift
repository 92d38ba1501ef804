import HiredisClient
import RedisCache
import Testing

/// A certificate problem is a deployment fault, not the request's: it counts against the circuit.
struct TLSErrorClassificationTests {
    @Test(arguments: [
        RedisClientError.Code.tlsHandshakeFailed, .tlsCertificateRejected, .tlsHostnameMismatch,
    ])
    func tlsFailuresMakeTheBackendUnavailable(code: RedisClientError.Code) {
        let error = RedisCacheBackend.classify(RedisClientError(code, "certificate has expired"))
        #expect(error.code == .unavailable)
        #expect(error.message.contains(code.description))
    }
}
