import ArgumentParser
import HiredisClient

/// `--tls-ca`, `--tls-cert` and `--tls-key`, shared by `demo` and `check`.
struct TLSOptions: ParsableArguments {
    @Option(help: ArgumentHelp("With a rediss:// --redis: the CA file to trust.", valueName: "path"))
    var tlsCA: String?

    @Option(help: ArgumentHelp("With a rediss:// --redis: the client certificate, for mutual TLS.", valueName: "path"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("With --tls-cert: its private key.", valueName: "path"))
    var tlsKey: String?

    /// The TLS settings the options give, `nil` when none is given.
    ///
    /// - Throws: `ValidationError` for a certificate without its key or a key without its certificate.
    func settings() throws -> RedisClientConfiguration.TLS? {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        guard tlsCA != nil || tlsCert != nil else { return nil }
        return .init(caFile: tlsCA, certificateFile: tlsCert, keyFile: tlsKey)
    }
}
