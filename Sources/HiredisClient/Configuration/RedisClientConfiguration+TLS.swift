#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

extension RedisClientConfiguration {
    /// How the client speaks TLS to the server (`rediss://`): whom it trusts, what it presents, which name it
    /// checks.
    ///
    /// The server's certificate is verified by default, against ``caFile`` or ``caDirectory`` or, when neither
    /// is set, the system's trust store, and must be for the host the client connects to (or ``serverName``).
    /// TLS 1.2 is the oldest version accepted. For mutual TLS, give ``certificateFile`` and ``keyFile``. The
    /// files are read when the client is created; one that cannot be used fails it with
    /// ``RedisClientError/Code/invalidConfiguration``.
    ///
    /// ```swift
    /// var configuration = try RedisClientConfiguration(url: "rediss://cache.internal:6380")
    /// configuration.tls?.caFile = "/etc/redis/ca.crt"
    /// configuration.tls?.certificateFile = "/etc/redis/client.crt"
    /// configuration.tls?.keyFile = "/etc/redis/client.key"
    /// ```
    public struct TLS: Sendable, Hashable, CustomStringConvertible {
        /// A PEM file of CA certificates the server's certificate must chain to.
        public var caFile: String?
        /// A directory of CA certificates in OpenSSL's hashed layout (`c_rehash`).
        public var caDirectory: String?
        /// The client's certificate chain (PEM), for servers that require one (`tls-auth-clients yes`).
        public var certificateFile: String?
        /// The private key of ``certificateFile`` (PEM, unencrypted).
        public var keyFile: String?
        /// The name the server's certificate must be for, and sent as SNI; `nil` (the default) uses the host of
        /// the endpoint. An IP address is checked against the certificate's IP addresses and sent as no SNI.
        public var serverName: String?
        /// Whether the server's certificate and name are checked. Default true; turn it off only for tests.
        public var verifyPeer: Bool

        /// TLS with the system's trust store and verification on, unless told otherwise.
        public init(
            caFile: String? = nil,
            caDirectory: String? = nil,
            certificateFile: String? = nil,
            keyFile: String? = nil,
            serverName: String? = nil,
            verifyPeer: Bool = true
        ) {
            self.caFile = caFile
            self.caDirectory = caDirectory
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.serverName = serverName
            self.verifyPeer = verifyPeer
        }

        /// Which checks are on and whether a client certificate is presented; file paths are not shown.
        public var description: String {
            var text = verifyPeer ? "verify" : "no verification"
            if let serverName { text += ", server name \(serverName)" }
            if certificateFile != nil { text += ", client certificate" }
            return text
        }

        /// What is wrong with the settings, `nil` when nothing is: a file that cannot be read, a certificate
        /// without its key or a key without its certificate, a server name with a space.
        var problem: String? {
            if let problem = Self.unreadable(caFile, "tls.caFile") { return problem }
            if let caDirectory {
                var isDirectory = stat()
                if stat(caDirectory, &isDirectory) != 0 || (isDirectory.st_mode & S_IFMT) != S_IFDIR
                    || access(caDirectory, R_OK | X_OK) != 0
                {
                    return "tls.caDirectory '\(caDirectory)' is not a readable directory"
                }
            }
            if (certificateFile == nil) != (keyFile == nil) {
                return certificateFile == nil
                    ? "tls.keyFile is set without tls.certificateFile"
                    : "tls.certificateFile is set without tls.keyFile"
            }
            if let problem = Self.unreadable(certificateFile, "tls.certificateFile") { return problem }
            if let problem = Self.unreadable(keyFile, "tls.keyFile") { return problem }
            if let serverName {
                if serverName.isEmpty { return "tls.serverName is empty (use nil for the endpoint's host)" }
                if serverName.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) {
                    return "tls.serverName \(serverName.debugDescription) contains a space or a control character"
                }
            }
            return nil
        }

        private static func unreadable(_ path: String?, _ setting: String) -> String? {
            guard let path else { return nil }
            if path.isEmpty { return "\(setting) is empty" }
            var status = stat()
            if stat(path, &status) != 0 { return "\(setting) '\(path)' does not exist" }
            if (status.st_mode & S_IFMT) != S_IFREG || access(path, R_OK) != 0 {
                return "\(setting) '\(path)' is not a readable file"
            }
            return nil
        }
    }
}
