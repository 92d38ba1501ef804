/// The layout of the atomic word through which calls pass a CLOSED or OPEN breaker without its lock.
///
/// The state machine stays the one source of truth, behind the breaker's `Mutex`. After every
/// locked operation the breaker publishes in this word what a call may decide without the lock:
///
/// ```
///  63            32 31             6 5      2 1   0
/// +----------------+----------------+--------+-----+
/// | generation     | count          | log2 n | kind|
/// +----------------+----------------+--------+-----+
/// ```
///
/// - `kind`: ``CircuitBreakerStateMachine/FastPath``: admit every call (CLOSED), reject every
///   call (OPEN while timers are driven, or forced open), or take the lock.
/// - `generation`: the low 32 bits of the state period, for the permits admitted without the lock.
/// - `count`: successes (kind *admit*) or rejections (kind *reject*) counted without the lock since
///   the machine last absorbed them. A success increments it with a compare-and-swap that also
///   checks the generation, so a success that races with a transition can never be counted in
///   the new period: it fails the swap and takes the lock, where it is recognised as late.
/// - `log2 n`: successes are absorbed (and attributed to the rolling window, which needs the
///   clock) every `n`-th success; the machine adapts `n` to the call rate.
///
/// A CLOSED call therefore costs one atomic load to acquire and one compare-and-swap to report
/// success, and no clock read; the lock is taken once per `n` successes.
@usableFromInline
enum CircuitBreakerGate {
    @usableFromInline static let kindMask: UInt64 = 0b11
    @usableFromInline static let log2Shift: UInt64 = 2
    @usableFromInline static let log2Mask: UInt64 = 0b1111
    @usableFromInline static let countShift: UInt64 = 6
    @usableFromInline static let countOne: UInt64 = 1 << 6
    @usableFromInline static let countMask: UInt64 = ((1 << 26) - 1) << 6
    /// A count this high is absorbed before it can overflow its 26 bits.
    @usableFromInline static let drainCount: UInt64 = 1 << 24
    @usableFromInline static let generationShift: UInt64 = 32

    @usableFromInline static let lockedKind: UInt64 = 0
    @usableFromInline static let admitKind: UInt64 = 1
    @usableFromInline static let rejectKind: UInt64 = 2

    @inlinable
    static func kind(_ word: UInt64) -> UInt64 { word & kindMask }

    @inlinable
    static func generation(_ word: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: word >> generationShift) }

    @inlinable
    static func count(_ word: UInt64) -> UInt64 { (word & countMask) >> countShift }

    @inlinable
    static func batchSize(_ word: UInt64) -> UInt64 { 1 << ((word >> log2Shift) & log2Mask) }

    /// The word with `count` zero.
    @inlinable
    static func make(generation: UInt32, kind: UInt64, log2BatchSize: Int) -> UInt64 {
        UInt64(generation) << generationShift | (UInt64(log2BatchSize) & log2Mask) << log2Shift | kind
    }
}
