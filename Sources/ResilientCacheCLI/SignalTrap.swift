import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Catches SIGINT and SIGTERM for as long as it lives, so the demo can stop its workload, print the summary and
/// shut its redis-server down instead of dying mid-run.
///
/// The first signal calls `onFirst`; a second one exits at once (the redis-server's watchdog, see
/// `RedisServer`, still kills the server when this process dies).
final class SignalTrap: Sendable {
    // DispatchSource is thread-safe; the array is written only in init.
    private nonisolated(unsafe) let sources: [any DispatchSourceSignal]
    private let received = FirstSignal()

    init(_ signals: [Int32] = [SIGINT, SIGTERM], onFirst: @escaping @Sendable (Int32) -> Void) {
        var sources: [any DispatchSourceSignal] = []
        let received = self.received
        for number in signals {
            // Dispatch sees the signal only if its default action (terminate) is off.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if received.number.compareExchange(expected: 0, desired: number, ordering: .relaxed).exchanged {
                    onFirst(number)
                } else {
                    _exit(128 + number)
                }
            }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    /// The first signal caught, if any.
    var caught: Int32? {
        let number = received.number.load(ordering: .relaxed)
        return number == 0 ? nil : number
    }

    deinit {
        for source in sources { source.cancel() }
    }
}

/// The first signal caught; 0 until then.
private final class FirstSignal: Sendable {
    let number = Atomic<Int32>(0)
}
