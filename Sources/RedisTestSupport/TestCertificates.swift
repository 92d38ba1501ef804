import Foundation

/// Certificates for TLS tests, made with the `openssl` command at test time in a private temporary directory.
///
/// One CA signs a server certificate for `127.0.0.1` and `localhost`, a client certificate, a server certificate
/// that expired in 2020 and one for another name (`wrong.example`); a second, unrelated CA signs a client
/// certificate of its own, for a server that must refuse it. Keys are P-256, so making them all takes a moment.
/// Nothing is valid for longer than two days.
///
/// ```swift
/// try await TestCertificates.withCertificates { certificates in
///     try await RedisServer.withServer(.init(tls: .init(certificates: certificates))) { server in
///         // connect to server.tlsPort trusting certificates.caFile
///     }
/// }
/// ```
public final class TestCertificates: Sendable {
    /// A certificate and its private key, both PEM files.
    public struct Pair: Sendable, Hashable {
        public let certificateFile: String
        public let keyFile: String
    }

    /// The directory that holds every file; removed by ``remove()``.
    public let directory: String
    /// The CA that signed ``server``, ``client``, ``expiredServer`` and ``wrongHostServer``.
    public var caFile: String { directory + "/ca.crt" }
    /// A CA that signed nothing but ``otherClient``.
    public var otherCAFile: String { directory + "/other-ca.crt" }
    /// For `IP:127.0.0.1` and `DNS:localhost`.
    public var server: Pair { pair("server") }
    /// A client certificate (`clientAuth`) from ``caFile``.
    public var client: Pair { pair("client") }
    /// A client certificate from ``otherCAFile``, which a server trusting ``caFile`` refuses.
    public var otherClient: Pair { pair("other-client") }
    /// For `127.0.0.1` and `localhost`, but valid only on 1 January 2020.
    public var expiredServer: Pair { pair("expired") }
    /// For `DNS:wrong.example` only.
    public var wrongHostServer: Pair { pair("wrong-host") }

    private init(directory: String) {
        self.directory = directory
    }

    private func pair(_ name: String) -> Pair {
        Pair(certificateFile: "\(directory)/\(name).crt", keyFile: "\(directory)/\(name).key")
    }

    /// Makes every certificate in a fresh temporary directory.
    ///
    /// - Throws: ``RedisTestSupportError`` with code `commandFailed` and openssl's output when a step fails.
    public static func generate() async throws -> TestCertificates {
        let made = TestCertificates(directory: try makeDirectory())
        do {
            try await made.make()
            return made
        } catch {
            made.remove()
            throw error
        }
    }

    /// Makes the certificates, runs `body` with them and removes them, also when `body` throws.
    public static func withCertificates<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (TestCertificates) async throws -> T
    ) async throws -> T {
        let certificates = try await generate()
        defer { certificates.remove() }
        return try await body(certificates)
    }

    /// Removes the directory and every file in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func make() async throws {
        try write(
            "extensions.cnf",
            """
            [server]
            subjectAltName = IP:127.0.0.1, DNS:localhost
            [wrong-host]
            subjectAltName = DNS:wrong.example
            [client]
            extendedKeyUsage = clientAuth

            """
        )
        // `openssl x509` cannot date a certificate in the past; `openssl ca` can, with a database of its own.
        try write(
            "ca.cnf",
            """
            [ca]
            default_ca = test
            [test]
            database = \(directory)/index.txt
            serial = \(directory)/serial
            new_certs_dir = \(directory)
            default_md = sha256
            policy = anything
            x509_extensions = server
            [anything]
            commonName = supplied
            [server]
            subjectAltName = IP:127.0.0.1, DNS:localhost

            """
        )
        try write("index.txt", "")
        try write("serial", "01\n")
        try await authority("ca")
        try await authority("other-ca")
        try await leaf("server", signedBy: "ca", extensions: "server")
        try await leaf("client", signedBy: "ca", extensions: "client")
        try await leaf("wrong-host", signedBy: "ca", extensions: "wrong-host")
        try await leaf("other-client", signedBy: "other-ca", extensions: "client")
        try await request("expired")
        try await openssl(
            "ca", "-batch", "-config", path("ca.cnf"), "-cert", path("ca.crt"), "-keyfile", path("ca.key"),
            "-in", path("expired.csr"), "-out", path("expired.crt"),
            "-startdate", "20200101000000Z", "-enddate", "20200102000000Z"
        )
    }

    private static let keyOptions = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    private func authority(_ name: String) async throws {
        try await openssl(
            ["req", "-x509"] + Self.keyOptions + [
                "-keyout", path("\(name).key"), "-out", path("\(name).crt"), "-days", "2",
                "-subj", "/CN=resilient-cache test \(name)",
            ]
        )
    }

    private func request(_ name: String) async throws {
        try await openssl(
            ["req"] + Self.keyOptions + [
                "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(name)",
            ]
        )
    }

    private func leaf(_ name: String, signedBy authority: String, extensions: String) async throws {
        try await request(name)
        try await openssl(
            "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(authority).crt"),
            "-CAkey", path("\(authority).key"), "-CAcreateserial", "-out", path("\(name).crt"), "-days", "2",
            "-extfile", path("extensions.cnf"), "-extensions", extensions
        )
    }

    private func openssl(_ arguments: String...) async throws {
        try await openssl(arguments)
    }

    private func openssl(_ arguments: [String]) async throws {
        let output = try await ChildProcess.run(
            executable: Self.opensslPath,
            arguments: arguments,
            scratchDirectory: directory,
            timeout: .seconds(30)
        )
        guard output.status == 0 else {
            throw RedisTestSupportError(
                .commandFailed,
                "openssl \(arguments.joined(separator: " ")) exited with status \(output.status): "
                    + output.standardError
            )
        }
    }

    private func path(_ name: String) -> String { directory + "/" + name }

    private func write(_ name: String, _ text: String) throws {
        try text.write(toFile: path(name), atomically: false, encoding: .utf8)
    }

    private static let opensslPath = ChildProcess.executablePath(named: "openssl")

    private static func makeDirectory() throws -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/resilient-cache-test-tls-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let created else { throw Posix.failure("mkdtemp(\(base))") }
        return String(cString: created)
    }
}
