internal import COpenSSL

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The one owner of an OpenSSL `SSL` object: TLS over a connection's non-blocking ``Socket``.
///
/// OpenSSL reads and writes the socket itself; when it would block (`SSL_ERROR_WANT_READ`/`WANT_WRITE`) the
/// session waits with `poll` until the deadline, as the plain socket does, or, on an event loop, reports it (the
/// `…Now` calls) so the loop waits with `epoll`. A `shutdown(2)` of the descriptor by ``DeadlineWatchdog`` makes
/// the next `SSL_read` or `SSL_write` fail, which ends a blocked wait. OpenSSL's error queue is per thread, and
/// every call clears it first; the session is used by one thread at a time (its connection's I/O thread, or the
/// connect thread and then its event loop).
final class TLSSession {
    private let ssl: OpaquePointer
    private let socket: Socket
    private let peer: String
    /// Whether the server has sent application data yet. With TLS 1.3 the client's side of the handshake ends
    /// before the server has checked the client's certificate; until the first reply, a refusal may still come.
    private var hasReceived = false

    /// Prepares a client session on `socket` that checks the certificate of `host` (or of the context's server
    /// name) and sends it as SNI when it is a name, not an address.
    init(context: TLSContext, socket: Socket, host: String, endpoint: RedisClientConfiguration.Endpoint)
        throws(RedisClientError)
    {
        guard let ssl = SSL_new(context.context) else {
            throw RedisClientError(.tlsHandshakeFailed, "OpenSSL could not create a session: \(TLSContext.lastError())")
        }
        self.ssl = ssl
        self.socket = socket
        self.peer = "\(endpoint)"
        SSL_set_fd(ssl, socket.descriptor)
        SSL_set_connect_state(ssl)
        let name = context.serverName ?? host
        if Self.isAddress(name) {
            if context.verifiesPeer { X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) }
        } else {
            _ = COpenSSL_setServerNameIndication(ssl, name)
            if context.verifiesPeer { SSL_set1_host(ssl, name) }
        }
    }

    deinit {
        SSL_free(ssl)
    }

    private static func isAddress(_ name: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET, name, &address) == 1 || inet_pton(AF_INET6, name, &address) == 1
    }

    /// Runs the TLS handshake, waiting for the server until `deadline`.
    ///
    /// - Throws: ``RedisClientError/Code/tlsCertificateRejected`` with OpenSSL's reason when the server's
    ///   certificate does not verify, ``RedisClientError/Code/tlsHostnameMismatch`` when it is not for the server
    ///   name, ``RedisClientError/Code/tlsHandshakeFailed`` when the handshake fails otherwise (the server
    ///   refused our certificate, speaks no TLS…), ``RedisClientError/Code/timeout`` when the deadline passes.
    func handshake(until deadline: UInt64) throws(RedisClientError) {
        while true {
            ERR_clear_error()
            let status = SSL_connect(ssl)
            if status == 1 { return }
            let code = SSL_get_error(ssl, status)
            do throws(RedisClientError) {
                switch code {
                case SSL_ERROR_WANT_READ: try socket.wait(for: .readable, until: deadline)
                case SSL_ERROR_WANT_WRITE: try socket.wait(for: .writable, until: deadline)
                default: throw handshakeError(code)
                }
            } catch let error where error.code == .timeout {
                throw RedisClientError(.timeout, "the TLS handshake with \(peer) did not finish in time")
            }
        }
    }

    private func handshakeError(_ code: Int32) -> RedisClientError {
        let verification = SSL_get_verify_result(ssl)
        if verification != X509_V_OK {
            let reason = String(cString: X509_verify_cert_error_string(verification))
            ERR_clear_error()
            if verification == X509_V_ERR_HOSTNAME_MISMATCH || verification == X509_V_ERR_IP_ADDRESS_MISMATCH {
                return RedisClientError(
                    .tlsHostnameMismatch, "the certificate of \(peer) is not for its name: \(reason)")
            }
            return RedisClientError(.tlsCertificateRejected, "the certificate of \(peer) was rejected: \(reason)")
        }
        return RedisClientError(.tlsHandshakeFailed, "the TLS handshake with \(peer) failed: \(reason(code))")
    }

    /// What a failed `SSL_*` call's error code means, in words.
    private func reason(_ code: Int32) -> String {
        switch code {
        case SSL_ERROR_SSL:
            return TLSContext.lastError()
        case SSL_ERROR_SYSCALL:
            let failure = errno
            ERR_clear_error()
            return failure == 0 ? "the server closed the connection" : String(cString: strerror(failure))
        case SSL_ERROR_ZERO_RETURN:
            return "the server closed the TLS session"
        default:
            ERR_clear_error()
            return "OpenSSL error \(code)"
        }
    }

    /// The error for a failed read or write after the handshake.
    ///
    /// Before the server's first reply, a failure is a handshake failure: with TLS 1.3 a server that refuses the
    /// client's certificate (or its absence) sends its alert after the client's side of the handshake, and closes
    /// the socket, often with the first command unread, so the alert may be lost to a reset.
    private func transferError(_ code: Int32) -> RedisClientError {
        if !hasReceived {
            return RedisClientError(
                .tlsHandshakeFailed,
                "\(peer) ended the TLS session before its first reply (did it refuse the client certificate?): "
                    + reason(code)
            )
        }
        if code == SSL_ERROR_ZERO_RETURN || (code == SSL_ERROR_SYSCALL && errno == 0) {
            ERR_clear_error()
            return RedisClientError(.connectionLost, "server closed the connection")
        }
        return RedisClientError(.connectionLost, "connection lost: \(reason(code))")
    }

    /// Reads and decrypts what is available, waiting until `deadline` for something to come.
    ///
    /// - Returns: how many bytes were read, at least one.
    func read(into buffer: UnsafeMutableRawBufferPointer, until deadline: UInt64) throws(RedisClientError) -> Int {
        while true {
            ERR_clear_error()
            let count = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
            if count > 0 {
                hasReceived = true
                return Int(count)
            }
            let code = SSL_get_error(ssl, count)
            switch code {
            case SSL_ERROR_WANT_READ: try socket.wait(for: .readable, until: deadline)
            case SSL_ERROR_WANT_WRITE: try socket.wait(for: .writable, until: deadline)
            default: throw transferError(code)
            }
        }
    }

    /// Encrypts and writes all of `bytes`, waiting until `deadline` whenever the socket's send buffer is full.
    func write(_ bytes: UnsafeRawBufferPointer, until deadline: UInt64) throws(RedisClientError) {
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let count = SSL_write(ssl, bytes.baseAddress! + offset, Int32(clamping: bytes.count - offset))
            if count > 0 {
                offset += Int(count)
                continue
            }
            let code = SSL_get_error(ssl, count)
            switch code {
            case SSL_ERROR_WANT_READ: try socket.wait(for: .readable, until: deadline)
            case SSL_ERROR_WANT_WRITE: try socket.wait(for: .writable, until: deadline)
            default: throw transferError(code)
            }
        }
    }

    /// What a non-blocking step of an event loop achieved.
    enum Step {
        /// Bytes moved (at least one).
        case transferred(Int)
        /// OpenSSL needs the socket readable before the same call can go on.
        case wantsRead
        /// OpenSSL needs the socket writable before the same call can go on.
        case wantsWrite
    }

    /// Reads and decrypts what is available now, without waiting. Decrypted bytes OpenSSL holds back
    /// (`SSL_pending`) are returned before it reports ``Step/wantsRead``, so a caller that reads until then has
    /// left nothing inside OpenSSL that `epoll` would not announce.
    func readNow(into buffer: UnsafeMutableRawBufferPointer) throws(RedisClientError) -> Step {
        ERR_clear_error()
        let count = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        if count > 0 {
            hasReceived = true
            return .transferred(Int(count))
        }
        let code = SSL_get_error(ssl, count)
        switch code {
        case SSL_ERROR_WANT_READ: return .wantsRead
        case SSL_ERROR_WANT_WRITE: return .wantsWrite
        default: throw transferError(code)
        }
    }

    /// Encrypts and writes what the socket takes now, without waiting. After ``Step/wantsRead`` or
    /// ``Step/wantsWrite`` the next call must pass the same bytes again (they may have moved: the context sets
    /// `SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER`), which ``RedisTransport`` does.
    func writeNow(_ bytes: UnsafeRawBufferPointer) throws(RedisClientError) -> Step {
        ERR_clear_error()
        let count = SSL_write(ssl, bytes.baseAddress!, Int32(clamping: bytes.count))
        if count > 0 { return .transferred(Int(count)) }
        let code = SSL_get_error(ssl, count)
        switch code {
        case SSL_ERROR_WANT_READ: return .wantsRead
        case SSL_ERROR_WANT_WRITE: return .wantsWrite
        default: throw transferError(code)
        }
    }

    /// Whether decrypted bytes, or received records not yet decrypted, wait inside OpenSSL.
    var hasBufferedInput: Bool {
        SSL_has_pending(ssl) == 1
    }
}
