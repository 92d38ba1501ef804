#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Redis's glob matching (`stringmatchlen` in util.c): `*`, `?`, `[abc]`, `[^a]`, `[a-z]` and `\` escapes,
/// byte by byte, case-sensitive.
///
/// The invalidation journal matches keys against journaled patterns on the read path, so a match must stay
/// cheap whatever the pattern. The pattern is compiled once into one-byte tokens separated by stars and matched
/// without recursion: the tokens before the first star and after the last must sit at the ends of the key, and
/// each star-free segment in between is taken at its leftmost place after the previous one (which loses
/// nothing: any match can be moved there). A segment is searched naively while that is cheap and with a
/// bit-parallel (shift-and) scan otherwise, so a match costs at most O(key × ⌈segment / 64⌉ + 256 × pattern)
/// steps, never the exponential time of plain recursion (`*a*a*a…*b` against `aaaa…`).
///
/// Parsing follows Redis, corner cases included: `[` with no `]` runs to the end of the pattern, `[a-]` is the
/// range from `]` to `a` (Redis reads a range before it looks for the closing bracket), ranges order bytes as
/// C's signed `char` (as Redis does on x86-64), `\` escapes inside and outside classes, a lone trailing `\` is
/// a backslash, and `[!a]` is no negation (only `[^a]` is). Two deliberate differences, both on the side of
/// matching more (a fence too many is a miss, a fence too few a stale read): stars match the empty key (Redis's
/// matcher never matches an empty string, though its `SCAN` treats `*` as "everything"), and any number of
/// stars works (recent Redis versions give up beyond 1,000).
struct GlobPattern: Sendable, Hashable {
    /// The pattern as written, in bytes.
    let pattern: [UInt8]
    /// The bytes every match starts with: the pattern up to its first `*`, `?` or `[`, escapes resolved.
    let literalPrefix: [UInt8]
    /// What follows ``literalPrefix``.
    let rest: GlobProgram

    init(_ pattern: String) {
        self.init(bytes: Array(pattern.utf8))
    }

    init(bytes pattern: [UInt8]) {
        self.pattern = pattern
        let tokens = GlobToken.parse(pattern)
        var literal: [UInt8] = []
        var index = 0
        while index < tokens.count, case .byte(let byte) = tokens[index] {
            literal.append(byte)
            index += 1
        }
        self.literalPrefix = literal
        self.rest = GlobProgram(tokens[index...])
    }

    /// True when the pattern has no wildcard: it matches ``literalPrefix`` only.
    var isLiteral: Bool { rest.isEmpty }

    func matches(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { matches($0) }
    }

    func matches(_ text: UnsafeBufferPointer<UInt8>, naiveSearchLimit: Int = GlobProgram.naiveSearchLimit) -> Bool {
        guard text.count >= literalPrefix.count else { return false }
        for index in literalPrefix.indices where literalPrefix[index] != text[index] { return false }
        return rest.matches(text, from: literalPrefix.count, naiveSearchLimit: naiveSearchLimit)
    }

    static func == (lhs: GlobPattern, rhs: GlobPattern) -> Bool { lhs.pattern == rhs.pattern }

    func hash(into hasher: inout Hasher) { hasher.combine(pattern) }
}

/// One element of a compiled glob: a token that matches exactly one byte, or a star.
enum GlobToken: Sendable, Hashable {
    case byte(UInt8)
    case any
    case set(ByteSet)
    case star

    func matches(_ byte: UInt8) -> Bool {
        switch self {
        case .byte(let expected): expected == byte
        case .any: true
        case .set(let set): set.contains(byte)
        case .star: true
        }
    }

    /// Tokenizes like Redis's `stringmatchlen`, whose parse never depends on the text: the same pattern
    /// bytes always consume the same pattern bytes.
    static func parse(_ pattern: [UInt8]) -> [GlobToken] {
        var tokens: [GlobToken] = []
        let count = pattern.count
        var index = 0
        while index < count {
            switch pattern[index] {
            case UInt8(ascii: "*"):
                if tokens.last != .star { tokens.append(.star) }
                index += 1
            case UInt8(ascii: "?"):
                tokens.append(.any)
                index += 1
            case UInt8(ascii: "["):
                index += 1
                let negated = index < count && pattern[index] == UInt8(ascii: "^")
                if negated { index += 1 }
                var set = ByteSet()
                while true {
                    if index + 1 < count && pattern[index] == UInt8(ascii: "\\") {
                        index += 1
                        set.insert(pattern[index])
                    } else if index < count && pattern[index] == UInt8(ascii: "]") {
                        break
                    } else if index >= count {
                        break  // no closing bracket: the class runs to the end of the pattern
                    } else if index + 2 < count && pattern[index + 1] == UInt8(ascii: "-") {
                        set.insertRange(pattern[index], pattern[index + 2])
                        index += 2
                    } else {
                        set.insert(pattern[index])
                    }
                    index += 1
                }
                index += 1  // past the `]`, or past the end
                tokens.append(.set(negated ? set.inverted : set))
            case UInt8(ascii: "\\") where index + 1 < count:
                tokens.append(.byte(pattern[index + 1]))
                index += 2
            default:
                tokens.append(.byte(pattern[index]))
                index += 1
            }
        }
        return tokens
    }
}

/// A set of bytes: a class such as `[a-z]` or `[^:]`.
struct ByteSet: Sendable, Hashable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init() {}

    func contains(_ byte: UInt8) -> Bool {
        let bit = UInt64(1) << (byte & 63)
        switch byte >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    mutating func insert(_ byte: UInt8) {
        let bit = UInt64(1) << (byte & 63)
        switch byte >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    /// The bytes from `first` to `last` (either way round), ordered as C's signed `char`, as Redis compares
    /// them: `[a-\xC3]` holds `\xC3`…`\xFF` and `\0`…`a`, not `a`…`\xC3`.
    mutating func insertRange(_ first: UInt8, _ last: UInt8) {
        let (from, to) = (Int8(bitPattern: first), Int8(bitPattern: last))
        for value in min(from, to)...max(from, to) { insert(UInt8(bitPattern: value)) }
    }

    var inverted: ByteSet {
        var set = ByteSet()
        set.words = (~words.0, ~words.1, ~words.2, ~words.3)
        return set
    }

    static func == (lhs: ByteSet, rhs: ByteSet) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2
            && lhs.words.3 == rhs.words.3
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

/// Compiled tokens in the shape `head * segment * segment * … * tail` (or just `head` without a star), where
/// head, segments and tail hold one-byte tokens only.
struct GlobProgram: Sendable {
    /// One-byte tokens before the first star (all of them when there is no star).
    let head: [GlobToken]
    /// Star-free runs between two stars, in order.
    let segments: [[GlobToken]]
    /// One-byte tokens after the last star.
    let tail: [GlobToken]
    let hasStar: Bool
    /// The fewest bytes a match consumes.
    let minimumLength: Int

    /// Above this many byte comparisons a segment search uses the bit-parallel scan; the default keeps short
    /// keys on the naive search, which is faster when little can go wrong.
    static let naiveSearchLimit = 4096

    init(_ tokens: ArraySlice<GlobToken>) {
        var runs: [[GlobToken]] = [[]]
        for token in tokens {
            if token == .star { runs.append([]) } else { runs[runs.count - 1].append(token) }
        }
        hasStar = runs.count > 1
        head = runs[0]
        tail = hasStar ? runs[runs.count - 1] : []
        segments = hasStar ? Array(runs[1..<(runs.count - 1)]).filter { !$0.isEmpty } : []
        minimumLength = runs.reduce(0) { $0 + $1.count }
    }

    /// True when nothing follows: the text must end here.
    var isEmpty: Bool { !hasStar && head.isEmpty }

    /// Whether `text[start...]` matches.
    func matches(
        _ text: UnsafeBufferPointer<UInt8>,
        from start: Int,
        naiveSearchLimit: Int = naiveSearchLimit
    ) -> Bool {
        let end = text.count
        guard end - start >= minimumLength else { return false }
        if !hasStar { return end - start == head.count && Self.matches(head, text, at: start) }
        guard Self.matches(head, text, at: start), Self.matches(tail, text, at: end - tail.count) else { return false }
        // Each segment at its leftmost place after the previous one, within what head and tail leave free.
        var position = start + head.count
        let limit = end - tail.count
        for segment in segments {
            guard
                let found = Self.search(segment, text, from: position, to: limit, naiveSearchLimit: naiveSearchLimit)
            else { return false }
            position = found + segment.count
        }
        return true
    }

    private static func matches(_ tokens: [GlobToken], _ text: UnsafeBufferPointer<UInt8>, at start: Int) -> Bool {
        var position = start
        for token in tokens {
            if !token.matches(text[position]) { return false }
            position += 1
        }
        return true
    }

    /// The leftmost `index` in `lower...upper - segment.count` where `segment` matches.
    private static func search(
        _ segment: [GlobToken],
        _ text: UnsafeBufferPointer<UInt8>,
        from lower: Int,
        to upper: Int,
        naiveSearchLimit: Int
    ) -> Int? {
        let length = segment.count
        guard upper - lower >= length else { return nil }
        if length == 1 || (upper - lower) * length <= naiveSearchLimit {
            let last = upper - length
            var index = lower
            while index <= last {
                if case .byte(let first) = segment[0] {
                    // Straight to the next place the first byte occurs: memchr scans a 1 KiB key in a few ns.
                    guard let found = Self.find(first, text, from: index, through: last) else { return nil }
                    index = found
                }
                if matches(segment, text, at: index) { return index }
                index += 1
            }
            return nil
        }
        return shiftAndSearch(segment, text, from: lower, to: upper)
    }

    /// The first index in `lower...upper` holding `byte`.
    private static func find(_ byte: UInt8, _ text: UnsafeBufferPointer<UInt8>, from lower: Int, through upper: Int)
        -> Int?
    {
        guard let base = text.baseAddress, let found = memchr(base + lower, Int32(byte), upper - lower + 1) else {
            return nil
        }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    /// Shift-and (Baeza-Yates–Gonnet): bit `i` of the state is set when the segment's first `i + 1` tokens
    /// match the text ending at the current byte; one table of 256 masks makes each byte a shift and an and.
    private static func shiftAndSearch(
        _ segment: [GlobToken],
        _ text: UnsafeBufferPointer<UInt8>,
        from lower: Int,
        to upper: Int
    ) -> Int? {
        let length = segment.count
        let words = (length + 63) / 64
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 256 * words + words) { buffer in
            buffer.initialize(repeating: 0)
            let masks = UnsafeMutableBufferPointer(rebasing: buffer[0..<(256 * words)])
            let state = UnsafeMutableBufferPointer(rebasing: buffer[(256 * words)...])
            for (position, token) in segment.enumerated() {
                let word = position / 64
                let bit = UInt64(1) << UInt64(position % 64)
                switch token {
                case .byte(let byte):
                    masks[Int(byte) * words + word] |= bit
                case .any, .star:
                    for byte in 0..<256 { masks[byte * words + word] |= bit }
                case .set(let set):
                    for byte in 0..<256 where set.contains(UInt8(byte)) { masks[byte * words + word] |= bit }
                }
            }
            let lastWord = (length - 1) / 64
            let lastBit = UInt64(1) << UInt64((length - 1) % 64)
            var index = lower
            while index < upper {
                let base = Int(text[index]) * words
                var carry: UInt64 = 1  // a match may start at every byte
                for word in 0..<words {
                    let shifted = state[word]
                    state[word] = ((shifted << 1) | carry) & masks[base + word]
                    carry = shifted >> 63
                }
                if state[lastWord] & lastBit != 0 { return index + 1 - length }
                index += 1
            }
            return nil
        }
    }
}
