/// Named settings read as text — from environment variables or from swift-configuration — and parsed with
/// problems that name the setting the way its source does (`REDIS_COMMAND_TIMEOUT`, `redis.commandTimeout`).
///
/// A setting is named by lowercase words (`["command", "timeout"]`): an environment variable joins them with
/// `_` in capitals after a prefix, swift-configuration joins them in camel case (which its environment provider
/// turns back into the same variable). An empty value counts as unset.
package struct SettingsSource: Sendable {
    private let read: @Sendable ([String]) -> String?
    private let naming: @Sendable ([String]) -> String

    package init(read: @escaping @Sendable ([String]) -> String?, name: @escaping @Sendable ([String]) -> String) {
        self.read = read
        self.naming = name
    }

    /// Variables `prefix` + `WORDS_IN_CAPITALS` of `environment`.
    package static func environment(_ environment: [String: String], prefix: String) -> SettingsSource {
        let name: @Sendable ([String]) -> String = { prefix + $0.joined(separator: "_").uppercased() }
        return SettingsSource(read: { environment[name($0)] }, name: name)
    }

    /// `wordsInCamelCase`, the key form of swift-configuration.
    package static func camelCase(_ words: [String]) -> String {
        guard let first = words.first else { return "" }
        return first + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// How the setting is named in its source, for messages.
    package func name(_ words: [String]) -> String { naming(words) }

    /// The setting's text, `nil` when unset or empty.
    package func text(_ words: [String]) -> String? {
        guard let value = read(words), !value.isEmpty else { return nil }
        return value
    }

    package func integer(_ words: [String], in range: ClosedRange<Int>) throws(SettingProblem) -> Int? {
        guard let text = text(words) else { return nil }
        guard let value = Int(text.trimmingSpaces) else {
            throw SettingProblem(name(words), "'\(text)' is not a whole number")
        }
        guard range.contains(value) else {
            throw SettingProblem(name(words), "\(value) is not in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A number; `check` says what is wrong with it, `nil` when nothing is.
    package func number(_ words: [String], check: (Double) -> String?) throws(SettingProblem) -> Double? {
        guard let text = text(words) else { return nil }
        guard let value = Double(text.trimmingSpaces), value.isFinite else {
            throw SettingProblem(name(words), "'\(text)' is not a number")
        }
        if let problem = check(value) { throw SettingProblem(name(words), problem) }
        return value
    }

    /// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, in any case.
    package func flag(_ words: [String]) throws(SettingProblem) -> Bool? {
        guard let text = text(words) else { return nil }
        switch text.trimmingSpaces.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw SettingProblem(name(words), "'\(text)' is not true or false")
        }
    }

    /// A duration with a unit (`250ms`, `2s`, `1.5m`, `1h`) that is at least `minimum` (exclusive when
    /// `minimumExcluded`, as for timeouts, which must be positive).
    package func duration(
        _ words: [String],
        minimum: Duration = .zero,
        minimumExcluded: Bool = true
    ) throws(SettingProblem) -> Duration? {
        guard let text = text(words) else { return nil }
        return try parseDuration(text, words, minimum: minimum, minimumExcluded: minimumExcluded)
    }

    /// A duration as ``duration(_:minimum:minimumExcluded:)``, or `off`/`none` for none: `.some(nil)`.
    package func durationOrOff(_ words: [String]) throws(SettingProblem) -> Duration?? {
        guard let text = text(words) else { return nil }
        if ["off", "none"].contains(text.trimmingSpaces.lowercased()) { return .some(nil) }
        return .some(try parseDuration(text, words, minimum: .zero, minimumExcluded: true))
    }

    private func parseDuration(
        _ text: String,
        _ words: [String],
        minimum: Duration,
        minimumExcluded: Bool
    ) throws(SettingProblem) -> Duration {
        guard let value = Self.parseDuration(text) else {
            throw SettingProblem(
                name(words),
                "'\(text)' is not a duration with a unit: ms, s, m or h (e.g. 250ms, 2s, 1m)"
            )
        }
        if value < minimum || (minimumExcluded && value == minimum) {
            throw SettingProblem(
                name(words), "\(text) must be \(minimumExcluded ? "more than" : "at least") \(minimum)")
        }
        return value
    }

    /// `250ms`, `2s`, `1.5m`, `1h`, `500us`; `nil` without a unit or when it does not fit in 100 years.
    package static func parseDuration(_ text: String) -> Duration? {
        let trimmed = text.trimmingSpaces
        guard let unitStart = trimmed.firstIndex(where: { !($0.isASCII && ($0.isNumber || $0 == ".")) }) else {
            return nil
        }
        let number = trimmed[..<unitStart]
        let unit = trimmed[unitStart...].trimmingSpaces.lowercased()
        guard !number.isEmpty, number.first != ".", let value = Double(number) else { return nil }
        let nanosecondsPerUnit: Double
        switch unit {
        case "us", "µs": nanosecondsPerUnit = 1e3
        case "ms": nanosecondsPerUnit = 1e6
        case "s": nanosecondsPerUnit = 1e9
        case "m", "min": nanosecondsPerUnit = 60e9
        case "h": nanosecondsPerUnit = 3600e9
        default: return nil
        }
        let nanoseconds = value * nanosecondsPerUnit
        guard nanoseconds.isFinite, nanoseconds <= 100 * 365 * 86_400 * 1e9 else { return nil }
        return .nanoseconds(Int64(nanoseconds.rounded()))
    }
}

/// A setting's value that cannot be used: which setting, and why. Never repeats a secret.
package struct SettingProblem: Error, Sendable {
    package var setting: String
    package var reason: String

    package init(_ setting: String, _ reason: String) {
        self.setting = setting
        self.reason = reason
    }

    package var message: String { "\(setting): \(reason)" }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: String {
        var slice = Substring(self)
        while slice.first?.isWhitespace == true { slice.removeFirst() }
        while slice.last?.isWhitespace == true { slice.removeLast() }
        return String(slice)
    }
}
