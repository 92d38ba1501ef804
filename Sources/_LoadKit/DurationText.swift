/// Reads and writes the durations that options, fault schedules and faults are written with: `30s`, `20ms`,
/// `1.5s`, `2m`.
public enum DurationText {
    /// The unit a bare number is read in: `--duration 30` means seconds, `--origin-latency 20` milliseconds.
    public enum Unit: Sendable {
        case milliseconds, seconds
    }

    /// A duration read from text.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Reads `text` as a non-negative duration: a decimal number with an optional unit (`us`/`µs`, `ms`, `s`,
    /// `m`); a bare number is in `defaultUnit`.
    ///
    /// ```swift
    /// try DurationText.parse("30s", defaultUnit: .seconds)      // 30 s
    /// try DurationText.parse("20", defaultUnit: .milliseconds)  // 20 ms
    /// ```
    public static func parse(_ text: String, defaultUnit: Unit) throws(ParseError) -> Duration {
        let trimmed = text.trimmingWhitespace()
        let numberEnd = trimmed.firstIndex { !($0.isNumber || $0 == ".") } ?? trimmed.endIndex
        let number = trimmed[..<numberEnd]
        let unit = trimmed[numberEnd...].trimmingWhitespace().lowercased()
        guard !number.isEmpty, let value = Double(number), value.isFinite, value >= 0 else {
            throw ParseError(message: "'\(text)' is not a duration (examples: 30s, 500ms, 1.5s, 2m)")
        }
        let seconds: Double
        switch unit {
        case "": seconds = defaultUnit == .seconds ? value : value / 1000
        case "us", "µs": seconds = value / 1_000_000
        case "ms": seconds = value / 1000
        case "s", "sec": seconds = value
        case "m", "min": seconds = value * 60
        default:
            throw ParseError(message: "'\(text)' has an unknown unit '\(unit)' (use us, ms, s or m)")
        }
        guard seconds < 1_000_000 else {
            throw ParseError(message: "'\(text)' is too long a duration")
        }
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// A short human form: `850µs`, `12.3ms`, `1.2s`, `30s`.
    public static func format(_ duration: Duration) -> String {
        let seconds = duration.seconds
        if seconds < 0.001 { return "\(Int((seconds * 1e6).rounded()))µs" }
        if seconds < 0.1 { return trimmed(fixed(seconds * 1000, digits: 1)) + "ms" }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        return trimmed(fixed(seconds, digits: 2)) + "s"
    }

    /// A latency in microseconds, in the unit that reads best: `180µs`, `1.9ms`, `104ms`.
    public static func formatMicroseconds(_ microseconds: UInt64) -> String {
        format(.microseconds(Int64(clamping: microseconds)))
    }
}

/// A decimal number without trailing zeros: `12.50` as `12.5`, `3.0` as `3`.
package func trimmed(_ number: String) -> String {
    guard number.contains(".") else { return number }
    var text = number
    while text.hasSuffix("0") { text.removeLast() }
    if text.hasSuffix(".") { text.removeLast() }
    return text
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    package var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// The duration in whole microseconds, rounded down, never negative.
    package var microseconds: UInt64 {
        let (seconds, attoseconds) = components
        let value = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        return value < 0 ? 0 : UInt64(value)
    }
}

/// `value` with exactly `digits` decimals; what `String(format:)` would give, without Foundation.
package func fixed(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "-" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int64((abs(value) * scale).rounded())
    let whole = scaled / Int64(scale)
    var text = (value < 0 && scaled != 0 ? "-" : "") + String(whole)
    if digits > 0 {
        var fraction = String(scaled % Int64(scale))
        while fraction.count < digits { fraction = "0" + fraction }
        text += "." + fraction
    }
    return text
}

extension StringProtocol {
    package func trimmingWhitespace() -> Substring {
        let characters = Substring(self)
        guard let first = characters.firstIndex(where: { !$0.isWhitespace }),
            let last = characters.lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return characters[first...last]
    }
}
