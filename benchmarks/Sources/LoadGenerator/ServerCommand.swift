import ArgumentParser
import Dispatch
import Foundation
import RedisTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A redis-server for a suite's runs, started by the server harness (free loopback port, never 6379, no
/// persistence, killed by the harness's watchdog if this process dies), so the suites start Redis the way the tests
/// and the demo do. Writes the port to a file once the server answers; shuts it down on SIGTERM or SIGINT.
///
/// With `--tls` it first makes certificates (``TestCertificates``, removed at exit) and also listens for TLS on a
/// port of its own, client certificates optional; `--info-file` then gets
/// `{"port": P, "tls_port": T, "ca_file": "…", "client_cert_file": "…", "client_key_file": "…"}`.
///
/// ```sh
/// LoadGenerator server --port-file "$dir/port" &
/// LoadGenerator server --tls --info-file "$dir/server.json" &
/// ```
struct Server: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a redis-server through the test harness and keep it until SIGTERM or SIGINT."
    )

    @Option(help: "Where to write the server's port once it answers (the file appears whole).")
    var portFile: String?
    @Option(help: "Where to write the server's JSON description (port, TLS port, certificate paths) once it answers.")
    var infoFile: String?
    @Flag(help: "Also listen for TLS, with certificates made now (client certificates optional).")
    var tls = false

    func validate() throws {
        guard portFile != nil || infoFile != nil else { throw ValidationError("give --port-file or --info-file") }
    }

    func run() async throws {
        // Caught before the server starts: a stop that comes early still shuts it down.
        let stop = SignalWaiter([SIGTERM, SIGINT])
        let certificates = tls ? try await TestCertificates.generate() : nil
        defer { certificates?.remove() }
        let server = try await RedisServer.start(.init(tls: certificates.map { .init(certificates: $0) }))
        do {
            if let portFile { try String(server.port).write(toFile: portFile, atomically: true, encoding: .utf8) }
            if let infoFile {
                try info(server, certificates).write(toFile: infoFile, atomically: true, encoding: .utf8)
            }
        } catch {
            await server.shutdown()
            throw error
        }
        await stop.wait()
        await server.shutdown()
    }

    private func info(_ server: RedisServer, _ certificates: TestCertificates?) -> String {
        var fields = [#""port": \#(server.port)"#]
        if let tlsPort = server.tlsPort, let certificates {
            fields += [
                #""tls_port": \#(tlsPort)"#, #""ca_file": "\#(certificates.caFile)""#,
                #""client_cert_file": "\#(certificates.client.certificateFile)""#,
                #""client_key_file": "\#(certificates.client.keyFile)""#,
            ]
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }
}

/// A local Redis Cluster for a suite's runs (3 primaries and 3 replicas on free loopback ports by default),
/// started by the cluster harness the tests use, so `benchmarks/run cluster` sets our cluster client and
/// `redis-benchmark --cluster` on the same nodes. Writes a JSON description once the cluster is healthy:
/// `{"seed_url": "redis://127.0.0.1:P1,…", "seed_port": P1, "primaries": [{"shard": 0, "port": P, "tag": "tag3"}, …]}`,
/// where each primary's `tag` is a hash tag whose slot that primary serves (keys `key:{tag3}:…` all live on it).
/// Shuts every node down on SIGTERM or SIGINT; the harness's watchdog kills them if this process dies.
///
/// ```sh
/// LoadGenerator cluster-server --info-file "$dir/cluster.json" &
/// ```
struct ClusterServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-server",
        abstract: "Start a Redis Cluster through the test harness and keep it until SIGTERM or SIGINT."
    )

    @Option(help: "Where to write the cluster's JSON description once it is healthy (the file appears whole).")
    var infoFile: String
    @Option(help: "Primaries (shards).") var primaries: Int = 3
    @Option(help: "Replicas per primary.") var replicasPerPrimary: Int = 1

    func run() async throws {
        let stop = SignalWaiter([SIGTERM, SIGINT])
        let cluster = try await RedisCluster.start(primaries: primaries, replicasPerPrimary: replicasPerPrimary)
        do {
            var primaries: [String] = []
            for shard in 0..<cluster.shardCount {
                let primary = try await cluster.primary(ofShard: shard)
                let tag = try await cluster.keys(inShard: shard, count: 1, prefix: "tag")[0]
                primaries.append(#"{"shard": \#(shard), "port": \#(primary.port), "tag": "\#(tag)"}"#)
            }
            let info =
                #"{"seed_url": "\#(cluster.seedURL)", "seed_port": \#(cluster.nodes[0].port), "primaries": [\#(primaries.joined(separator: ", "))]}"#
            try info.write(toFile: infoFile, atomically: true, encoding: .utf8)
        } catch {
            await cluster.shutdown()
            throw error
        }
        await stop.wait()
        await cluster.shutdown()
    }
}

/// Turns the first of some signals into the end of a wait.
private final class SignalWaiter: Sendable {
    // DispatchSource is thread-safe; the array is written only in init.
    private nonisolated(unsafe) let sources: [any DispatchSourceSignal]
    private let signals: AsyncStream<Int32>

    init(_ numbers: [Int32]) {
        let (signals, continuation) = AsyncStream<Int32>.makeStream()
        self.signals = signals
        self.sources = numbers.map { number in
            // Dispatch sees the signal only if its default action (terminate) is off.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    func wait() async {
        for await _ in signals { return }
    }

    deinit {
        for source in sources { source.cancel() }
    }
}
