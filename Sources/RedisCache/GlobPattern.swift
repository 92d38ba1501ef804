/// Redis's glob matching (`stringmatchlen` in util.c): `*`, `?`, `[abc]`, `[^a]`, `[a-z]` and `\` escapes.
///
/// The invalidation journal uses it to fence reads of keys that a pattern invalidation could not reach.
struct GlobPattern: Sendable, Hashable {
    let pattern: [UInt8]

    init(_ pattern: String) {
        self.pattern = Array(pattern.utf8)
    }

    func matches(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { Self.match(pattern[...], $0[...]) }
    }

    private static func match(_ pattern: ArraySlice<UInt8>, _ text: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        var p = pattern.startIndex
        var t = text.startIndex
        while p < pattern.endIndex {
            switch pattern[p] {
            case UInt8(ascii: "*"):
                while p + 1 < pattern.endIndex, pattern[p + 1] == UInt8(ascii: "*") { p += 1 }
                if p + 1 == pattern.endIndex { return true }
                var start = t
                while start <= text.endIndex {
                    if match(pattern[(p + 1)...], text[start...]) { return true }
                    start += 1
                }
                return false
            case UInt8(ascii: "?"):
                if t == text.endIndex { return false }
                t += 1
            case UInt8(ascii: "["):
                if t == text.endIndex { return false }
                p += 1
                let negate = p < pattern.endIndex && pattern[p] == UInt8(ascii: "^")
                if negate { p += 1 }
                var matched = false
                while p < pattern.endIndex, pattern[p] != UInt8(ascii: "]") {
                    if pattern[p] == UInt8(ascii: "\\"), p + 1 < pattern.endIndex {
                        p += 1
                        if pattern[p] == text[t] { matched = true }
                    } else if p + 2 < pattern.endIndex, pattern[p + 1] == UInt8(ascii: "-"),
                        pattern[p + 2] != UInt8(ascii: "]")
                    {
                        let low = min(pattern[p], pattern[p + 2])
                        let high = max(pattern[p], pattern[p + 2])
                        if (low...high).contains(text[t]) { matched = true }
                        p += 2
                    } else if pattern[p] == text[t] {
                        matched = true
                    }
                    p += 1
                }
                if negate { matched.toggle() }
                if !matched { return false }
                t += 1
                if p == pattern.endIndex { return t == text.endIndex }  // unterminated class: Redis stops here
            case UInt8(ascii: "\\") where p + 1 < pattern.endIndex:
                p += 1
                if t == text.endIndex || pattern[p] != text[t] { return false }
                t += 1
            default:
                if t == text.endIndex || pattern[p] != text[t] { return false }
                t += 1
            }
            p += 1
        }
        return t == text.endIndex
    }
}
