/// A fault injected into a redis-server, or into the TCP proxy in front of it: the one vocabulary the demo's
/// schedules, the chaos soak and the benchmarks are written in.
///
/// A fault is read from and written as text: `hang`, `resume`, `stop`, `kill`, `start` (or `restart`),
/// `sleep 2s`, `pause 2s`, `client-kill 2s`, `max-clients 2s`, `proxy-latency 300ms`, `proxy-blackhole`, `proxy-reset`,
/// `proxy-refuse`, `proxy-clear`, and for a Redis Cluster the per-shard `kill-shard 0`, `hang-shard 0`,
/// `resume-shard 0`, `start-shard 0` (shard N is the N-th primary by its first slot at creation). A length or a
/// shard may follow a space or `=`; a bare number is seconds, except for `proxy-latency`, where it is milliseconds.
///
/// Some faults take Redis away (``isOnset``) and another one brings it back (``clearing``: `resume` after `hang`,
/// `start` after `stop` or `kill`, `proxy-clear` after any proxy fault, `resume-shard N` after `hang-shard N`,
/// `start-shard N` after `kill-shard N`); `sleep`, `pause`, `client-kill` and
/// `max-clients` end by
/// themselves (``endsByItself``). The server harness applies them (`RedisServer.apply(_:proxy:)` in
/// `RedisTestSupport`, `RedisCluster.apply(_:)` for the shard faults).
///
/// ```swift
/// let fault = try RedisFault(parsing: "sleep 1.5s")
/// print(fault.explanation)   // DEBUG SLEEP 1.5s: Redis busy
/// ```
public enum RedisFault: Sendable, Hashable, CustomStringConvertible {
    /// SIGSTOP: the process freezes; connects still succeed but nothing is answered.
    case hang
    /// SIGCONT after `hang`: Redis answers what was sent meanwhile.
    case resume
    /// SIGTERM: Redis shuts down cleanly; connections are closed, new ones refused.
    case stop
    /// SIGKILL, as a crash or the OOM killer would.
    case kill
    /// A fresh redis-server on the same port (after `stop` or `kill`); it starts empty.
    case start
    /// `DEBUG SLEEP`: Redis blocks its event loop for the given time, then carries on by itself.
    case sleep(Duration)
    /// `CLIENT PAUSE … ALL`: Redis holds every client's commands for the given time, then answers them.
    case pause(Duration)
    /// `CLIENT KILL TYPE normal` over and over for the given time: every client connection is cut as soon as it
    /// is made.
    case clientKill(Duration)
    /// `maxclients` reached for the given time: the harness takes the server's only client slot and cuts every
    /// other connection, so each new one is answered `-ERR max number of clients reached` and closed.
    case maxClients(Duration)
    /// The proxy delays every chunk by the given time in each direction.
    case proxyLatency(Duration)
    /// The proxy accepts connections and reads, but forwards nothing: a path that drops every packet.
    case proxyBlackhole
    /// The proxy resets every connection, and every new one as soon as it is accepted.
    case proxyReset
    /// The proxy stops listening: new connections are refused, open ones pass.
    case proxyRefuse
    /// The proxy forwards everything again.
    case proxyClear
    /// SIGKILL to the current primary of a cluster shard: its replica is promoted after the node timeout.
    case killShard(Int)
    /// SIGSTOP to the current primary of a cluster shard: the cluster fails it over as if it were dead.
    case hangShard(Int)
    /// SIGCONT to the hung node(s) of a cluster shard; a primary that was failed over rejoins as a replica.
    case resumeShard(Int)
    /// The killed node(s) of a cluster shard restarted on the same port and directory (keeping `nodes.conf`), so
    /// they rejoin the cluster, as replicas if the shard was failed over meanwhile.
    case startShard(Int)

    /// A fault's text that could not be read.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Reads a fault written as in the type's discussion, e.g. `hang` or `sleep 2s`.
    ///
    /// - Throws: ``ParseError`` naming what is wrong (an unknown fault, a missing or malformed length).
    public init(parsing text: some StringProtocol) throws(ParseError) {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "=" || $0 == ":" }).map { $0.lowercased() }
        guard let name = words.first else {
            throw ParseError(message: "no fault given (\(Self.vocabulary))")
        }
        func length(defaultUnit: DurationText.Unit, example: String) throws(ParseError) -> Duration {
            guard words.count == 2 else {
                throw ParseError(message: "\(name) needs a length, e.g. \(example)")
            }
            let length: Duration
            do {
                length = try DurationText.parse(words[1], defaultUnit: defaultUnit)
            } catch {
                throw ParseError(message: error.message)
            }
            guard length > .zero else { throw ParseError(message: "\(name) must be longer than 0") }
            return length
        }
        func shard() throws(ParseError) -> Int {
            guard words.count == 2 else {
                throw ParseError(message: "\(name) needs a shard number, e.g. \(name) 0")
            }
            guard let shard = Int(words[1]), shard >= 0 else {
                throw ParseError(message: "\(name): '\(words[1])' is not a shard number (0, 1, 2…)")
            }
            return shard
        }
        let simple: [String: RedisFault] = [
            "hang": .hang, "resume": .resume, "stop": .stop, "kill": .kill, "start": .start, "restart": .start,
            "proxy-blackhole": .proxyBlackhole, "proxy-reset": .proxyReset, "proxy-refuse": .proxyRefuse,
            "proxy-clear": .proxyClear,
        ]
        if let fault = simple[name] {
            guard words.count == 1 else {
                throw ParseError(message: "\(name) takes no length")
            }
            self = fault
            return
        }
        switch name {
        case "sleep": self = .sleep(try length(defaultUnit: .seconds, example: "sleep 2"))
        case "pause": self = .pause(try length(defaultUnit: .seconds, example: "pause 2"))
        case "client-kill": self = .clientKill(try length(defaultUnit: .seconds, example: "client-kill 2"))
        case "max-clients": self = .maxClients(try length(defaultUnit: .seconds, example: "max-clients 2"))
        case "proxy-latency": self = .proxyLatency(try length(defaultUnit: .milliseconds, example: "proxy-latency 300"))
        case "kill-shard": self = .killShard(try shard())
        case "hang-shard": self = .hangShard(try shard())
        case "resume-shard": self = .resumeShard(try shard())
        case "start-shard": self = .startShard(try shard())
        default:
            throw ParseError(message: "unknown fault '\(text.trimmingWhitespace())' (\(Self.vocabulary))")
        }
    }

    private static let vocabulary =
        "use hang, resume, stop, kill, start, sleep N, pause N, client-kill N, max-clients N, proxy-latency N, "
        + "proxy-blackhole, "
        + "proxy-reset, proxy-refuse, proxy-clear, kill-shard N, hang-shard N, resume-shard N or start-shard N"

    /// The fault as it is written: `hang`, `sleep 2s`, `proxy-latency 300ms`…
    public var description: String {
        switch self {
        case .hang: "hang"
        case .resume: "resume"
        case .stop: "stop"
        case .kill: "kill"
        case .start: "start"
        case .sleep(let length): "sleep \(DurationText.format(length))"
        case .pause(let length): "pause \(DurationText.format(length))"
        case .clientKill(let length): "client-kill \(DurationText.format(length))"
        case .maxClients(let length): "max-clients \(DurationText.format(length))"
        case .proxyLatency(let delay): "proxy-latency \(DurationText.format(delay))"
        case .proxyBlackhole: "proxy-blackhole"
        case .proxyReset: "proxy-reset"
        case .proxyRefuse: "proxy-refuse"
        case .proxyClear: "proxy-clear"
        case .killShard(let shard): "kill-shard \(shard)"
        case .hangShard(let shard): "hang-shard \(shard)"
        case .resumeShard(let shard): "resume-shard \(shard)"
        case .startShard(let shard): "start-shard \(shard)"
        }
    }

    /// What the fault does, for event lines and plots: `SIGSTOP: Redis hung`.
    public var explanation: String {
        switch self {
        case .hang: "SIGSTOP: Redis hung"
        case .resume: "SIGCONT: Redis resumed"
        case .stop: "SIGTERM: Redis stopped"
        case .kill: "SIGKILL: Redis killed"
        case .start: "redis-server restarted on the same port"
        case .sleep(let length): "DEBUG SLEEP \(DurationText.format(length)): Redis busy"
        case .pause(let length): "CLIENT PAUSE \(DurationText.format(length)): Redis holds every command"
        case .clientKill(let length): "CLIENT KILL TYPE normal for \(DurationText.format(length)): connections cut"
        case .maxClients(let length): "maxclients reached for \(DurationText.format(length)): new connections refused"
        case .proxyLatency(let delay): "proxy: \(DurationText.format(delay)) added each way"
        case .proxyBlackhole: "proxy: nothing forwarded"
        case .proxyReset: "proxy: every connection reset"
        case .proxyRefuse: "proxy: new connections refused"
        case .proxyClear: "proxy: everything forwarded again"
        case .killShard(let shard): "SIGKILL: shard \(shard)'s primary killed"
        case .hangShard(let shard): "SIGSTOP: shard \(shard)'s primary hung"
        case .resumeShard(let shard): "SIGCONT: shard \(shard)'s hung node resumed"
        case .startShard(let shard): "shard \(shard)'s killed node restarted; it rejoins the cluster"
        }
    }

    /// Whether the fault takes Redis away (as opposed to bringing it back).
    public var isOnset: Bool {
        switch self {
        case .resume, .start, .proxyClear, .resumeShard, .startShard: false
        default: true
        }
    }

    /// Whether Redis (or the harness) ends the fault after its length, with no fault to clear it.
    public var endsByItself: Bool {
        switch self {
        case .sleep, .pause, .clientKill, .maxClients: true
        default: false
        }
    }

    /// The fault that undoes this one: `resume` for `hang`, `start` for `stop` and `kill`, `proxy-clear` for the
    /// proxy faults, `resume-shard N` for `hang-shard N`, `start-shard N` for `kill-shard N`; `nil` for the faults that end by themselves and for those that clear others.
    public var clearing: RedisFault? {
        switch self {
        case .hang: .resume
        case .stop, .kill: .start
        case .proxyLatency, .proxyBlackhole, .proxyReset, .proxyRefuse: .proxyClear
        case .hangShard(let shard): .resumeShard(shard)
        case .killShard(let shard): .startShard(shard)
        default: nil
        }
    }

    /// Whether the fault acts on the TCP proxy in front of the server rather than on the server.
    public var needsProxy: Bool {
        switch self {
        case .proxyLatency, .proxyBlackhole, .proxyReset, .proxyRefuse, .proxyClear: true
        default: false
        }
    }

    /// The cluster shard the fault acts on, for the shard faults (`kill-shard 0`…); `nil` for the others.
    public var shard: Int? {
        switch self {
        case .killShard(let shard), .hangShard(let shard), .resumeShard(let shard), .startShard(let shard): shard
        default: nil
        }
    }

    /// Whether the fault acts on a shard of a Redis Cluster, which a single redis-server refuses.
    public var needsCluster: Bool { shard != nil }
}
