/// A password that does not show itself: its description, its debug description and its mirror are all
/// `***`, so `print`, `dump`, `Mirror`, string interpolation and logging of anything that holds one (a
/// ``RedisClientConfiguration``, a ``RedisClient``) never reveal it. Only ``value`` does, for `AUTH`.
struct RedactedPassword: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The password itself; read only where it is sent.
    let value: String

    init(_ value: String) {
        self.value = value
    }

    var description: String { "***" }
    var debugDescription: String { "***" }
    var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
