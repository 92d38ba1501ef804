import _LoadKit

/// Builds one JSON object on one line, keys in the order they are added.
///
/// The demo's output is a handful of flat objects; a writer this small keeps the key order stable (readers
/// of `--json` output scan it by eye too) and needs no Foundation.
struct JSONLine {
    private var text = "{"
    private var isEmpty = true

    mutating func add(_ key: String, _ value: Int) { addRaw(key, String(value)) }
    mutating func add(_ key: String, _ value: UInt64) { addRaw(key, String(value)) }
    mutating func add(_ key: String, _ value: Bool) { addRaw(key, value ? "true" : "false") }

    /// A number with `digits` decimals at most; `null` when not finite.
    mutating func add(_ key: String, _ value: Double, digits: Int = 3) {
        guard value.isFinite else { return addRaw(key, "null") }
        var number = fixed(value, digits: digits)
        if number.contains(".") {
            while number.hasSuffix("0") { number.removeLast() }
            if number.hasSuffix(".") { number.removeLast() }
        }
        addRaw(key, number)
    }

    mutating func add(_ key: String, _ value: String?) {
        addRaw(key, value.map(Self.quoted) ?? "null")
    }

    /// `value` already encoded as JSON (an array or object).
    mutating func addRaw(_ key: String, _ value: String) {
        if !isEmpty { text += "," }
        isEmpty = false
        text += Self.quoted(key) + ":" + value
    }

    var line: String { text + "}" }

    static func quoted(_ string: String) -> String {
        var result = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    static func array(_ items: [String]) -> String {
        "[" + items.joined(separator: ",") + "]"
    }
}
