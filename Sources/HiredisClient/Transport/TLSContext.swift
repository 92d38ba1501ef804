internal import COpenSSL
import Synchronization

/// The one owner of an OpenSSL `SSL_CTX`: the trust anchors, the client certificate and the protocol floor that
/// every TLS connection of a client shares.
///
/// One per client (a cluster client shares one among its nodes), made from ``RedisClientConfiguration/TLS`` when
/// the client is created, so a CA file that cannot be read fails there with
/// ``RedisClientError/Code/invalidConfiguration`` rather than at every connect.
final class TLSContext: @unchecked Sendable {
    // @unchecked: the SSL_CTX is configured in init and never changed afterwards; OpenSSL guards what it changes
    // itself while connections are made from it (reference counts, the session cache) with its own locks.

    let context: OpaquePointer
    /// The name the server's certificate must carry, `nil` for the host of each connection's endpoint.
    let serverName: String?
    let verifiesPeer: Bool

    /// Makes the context of `configuration` on a short-lived thread of its own, joined before this returns.
    ///
    /// OpenSSL keeps per-thread state for the thread that makes a context (its random generators, its error
    /// queue), freed only when that thread exits. Made on the caller's thread (one of Swift's pool threads, which
    /// live as long as the process), that state would stay for good; made here, it goes with the thread, and the
    /// caller's thread is not blocked reading certificate files either.
    static func make(_ configuration: RedisClientConfiguration.TLS) throws(RedisClientError) -> TLSContext {
        let made = Mutex<Result<TLSContext, RedisClientError>?>(nil)
        IOThread.spawn(name: "redis-tls-init") {
            let result = Result { () throws(RedisClientError) in try TLSContext(configuration) }
            made.withLock { $0 = result }
        }.join()
        // The thread always stores a result before it returns.
        return try made.withLock { $0! }.get()
    }

    /// Loads the trust anchors and the client certificate of `configuration`.
    ///
    /// - Throws: ``RedisClientError/Code/invalidConfiguration`` naming the setting whose file OpenSSL could not
    ///   use, with OpenSSL's reason.
    init(_ configuration: RedisClientConfiguration.TLS) throws(RedisClientError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw RedisClientError(.invalidConfiguration, "OpenSSL could not create a TLS context: \(Self.lastError())")
        }
        self.context = context
        self.serverName = configuration.serverName
        self.verifiesPeer = configuration.verifyPeer
        ERR_clear_error()
        _ = COpenSSL_setMinimumVersion(context, TLS1_2_VERSION)
        // Partial writes let a write resume after the socket's buffer filled; the buffer is an array that moves.
        _ = COpenSSL_setMode(context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        // Reads whole records and what follows them at once instead of a header and a body: half the `read`s.
        COpenSSL_setReadAhead(context, 1)
        func fail(_ setting: String, _ path: String) -> RedisClientError {
            RedisClientError(
                .invalidConfiguration,
                "invalid Redis client configuration: tls.\(setting) '\(path)' cannot be used: \(Self.lastError())"
            )
        }
        if configuration.verifyPeer {
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            if configuration.caFile == nil && configuration.caDirectory == nil {
                _ = SSL_CTX_set_default_verify_paths(context)
            } else if SSL_CTX_load_verify_locations(context, configuration.caFile, configuration.caDirectory) != 1 {
                throw configuration.caFile.map { fail("caFile", $0) } ?? fail("caDirectory", configuration.caDirectory!)
            }
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
        if let certificate = configuration.certificateFile, let key = configuration.keyFile {
            guard SSL_CTX_use_certificate_chain_file(context, certificate) == 1 else {
                throw fail("certificateFile", certificate)
            }
            guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else { throw fail("keyFile", key) }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw RedisClientError(
                    .invalidConfiguration,
                    "invalid Redis client configuration: tls.keyFile '\(key)' does not match tls.certificateFile"
                )
            }
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// The oldest error on this thread's OpenSSL error queue, as text, and the queue cleared.
    static func lastError() -> String {
        let code = ERR_peek_error()
        defer { ERR_clear_error() }
        guard code != 0 else { return "no reason given" }
        if let reason = ERR_reason_error_string(code) { return String(cString: reason) }
        var text = [CChar](repeating: 0, count: 256)
        return text.withUnsafeMutableBufferPointer { buffer in
            ERR_error_string_n(code, buffer.baseAddress, buffer.count)
            return String(cString: buffer.baseAddress!)
        }
    }
}
