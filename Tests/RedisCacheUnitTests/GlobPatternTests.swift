import Testing

@testable import RedisCache

struct GlobPatternTests {
    @Test(arguments: [
        ("user:*", "user:42", true), ("user:*", "users:42", false), ("*", "", true),
        ("a?c", "abc", true), ("a?c", "ac", false), ("[abc]x", "bx", true), ("[abc]x", "dx", false),
        ("[^a]x", "bx", true), ("[^a]x", "ax", false), ("k[0-9]", "k7", true), ("k[0-9]", "kx", false),
        ("a\\*b", "a*b", true), ("a\\*b", "axb", false), ("*:end", "x:y:end", true), ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
        // Redis's corner cases, as its stringmatchlen reads them.
        ("[!a]x", "!x", true), ("[!a]x", "bx", false),  // `!` is a member, not a negation
        ("[a-]", "-", false), ("[a-]", "_", true), ("[a-]", "]", true),  // the range `]`…`a`, unterminated
        ("[z-a]", "m", true),  // reversed range
        ("[]a", "a", false), ("[^]", "x", true),  // empty class, its negation
        ("[abc", "b", true), ("[abc", "bx", false), ("[", "[", false), ("[^", "x", true),
        ("[\\]]", "]", true), ("[\\", "\\", true), ("a\\", "a\\", true), ("\\?", "?", true), ("\\?", "x", false),
        ("**a**", "xa", true), ("a*", "a", true), ("*a*a*b", "aab", true), ("*a*a*b", "aaba", false),
        ("?*", "", false), ("*?", "x", true),
    ])
    func matchesLikeRedis(pattern: String, text: String, expected: Bool) {
        #expect(GlobPattern(pattern).matches(text) == expected)
        #expect(redisStringMatch(Array(pattern.utf8), Array(text.utf8)) == expected, "the reference agrees")
    }

    @Test func anEscapedNamespaceMatchesOnlyItself() {
        let namespace = GlobPattern.escape("app[1]*:")
        #expect(GlobPattern(namespace + "*").matches("app[1]*:key"))
        #expect(!GlobPattern(namespace + "*").matches("app1x:key"))
        #expect(GlobPattern(namespace + "*").literalPrefix == Array("app[1]*:".utf8))
    }

    @Test func theLiteralPrefixEndsAtTheFirstWildcard() {
        #expect(GlobPattern("app:user:*").literalPrefix == Array("app:user:".utf8))
        #expect(GlobPattern("app:u\\?x?y").literalPrefix == Array("app:u?x".utf8))
        #expect(GlobPattern("app:[ab]").literalPrefix == Array("app:".utf8))
        #expect(GlobPattern("app:key").isLiteral)
        #expect(!GlobPattern("app:key*").isLiteral)
    }

    /// Ranges compare bytes as C's signed `char`, as Redis does on x86-64.
    @Test func rangesOverHighBytesOrderThemAsSignedChars() {
        let pattern = GlobPattern(bytes: [
            UInt8(ascii: "["), UInt8(ascii: "a"), UInt8(ascii: "-"), 0xC3, UInt8(ascii: "]"),
        ])
        for byte in [UInt8(ascii: "A"), 0x00, 0xC3, 0xFF] {
            #expect(matches(pattern, [byte]))
            #expect(redisStringMatch(pattern.pattern, [byte]))
        }
        for byte in [UInt8(ascii: "b"), 0x7F, 0x80, 0xC2] {
            #expect(!matches(pattern, [byte]))
            #expect(!redisStringMatch(pattern.pattern, [byte]))
        }
    }

    /// The compiled matcher against a transliteration of Redis's recursive matcher, on every search path: the
    /// default, always naive, and always shift-and.
    @Test func agreesWithRedisOnRandomShortInputs() {
        var random = TestRandom(seed: 1)
        let patternAlphabet = Array("ab*?[]^-\\".utf8)
        let textAlphabet = Array("ab]-^\\[".utf8)
        var disagreements: [String] = []
        for _ in 0..<60_000 {
            let pattern = random.bytes(from: patternAlphabet, count: random.below(11))
            let text = random.bytes(from: textAlphabet, count: random.below(13))
            check(pattern, text, into: &disagreements)
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }

    @Test func agreesWithRedisOnHighBytes() {
        var random = TestRandom(seed: 2)
        let patternAlphabet: [UInt8] = Array("a*?[]^-\\".utf8) + [0x00, 0x7F, 0x80, 0xC3, 0xFF]
        let textAlphabet: [UInt8] = [UInt8(ascii: "a"), UInt8(ascii: "-"), 0x00, 0x7F, 0x80, 0xC3, 0xFF]
        var disagreements: [String] = []
        for _ in 0..<20_000 {
            let pattern = random.bytes(from: patternAlphabet, count: random.below(9))
            let text = random.bytes(from: textAlphabet, count: random.below(8))
            check(pattern, text, into: &disagreements)
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }

    /// Segments longer than one 64-bit word of the shift-and state.
    @Test func agreesWithRedisOnLongSegments() {
        var random = TestRandom(seed: 3)
        var disagreements: [String] = []
        for _ in 0..<300 {
            let segment = random.bytes(from: Array("ab?".utf8), count: 60 + random.below(80))
            var pattern = Array("*".utf8) + segment + Array("*".utf8)
            if random.below(2) == 0 { pattern += random.bytes(from: Array("ab".utf8), count: random.below(3)) }
            // Texts that contain the segment's fixed letters often enough to match now and then.
            var text = random.bytes(from: Array("ab".utf8), count: random.below(40))
            text += segment.map { $0 == UInt8(ascii: "?") ? UInt8(ascii: "a") : $0 }
            if random.below(3) == 0 { text[random.below(text.count)] ^= 3 }
            text += random.bytes(from: Array("ab".utf8), count: random.below(40))
            check(pattern, text, into: &disagreements)
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(3))")
    }

    /// The pattern that made the recursive matcher take 31 s on a 24-byte key, up to 1 KiB keys.
    @Test(arguments: [24, 64, 256, 1024])
    func theWorstCasePatternIsFast(keyLength: Int) {
        let pattern = GlobPattern(String(repeating: "*a", count: 20) + "*b")
        let trailingStar = GlobPattern(String(repeating: "*a", count: 20) + "*b*")
        let longSegment = GlobPattern("*" + String(repeating: "a", count: keyLength / 2) + "b*")
        let key = String(repeating: "a", count: keyLength)
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            #expect(!pattern.matches(key))
            #expect(!trailingStar.matches(key))
            #expect(!longSegment.matches(key))
            #expect(pattern.matches(key + "b"))
            #expect(trailingStar.matches(key + "bc"))
        }
        #expect(elapsed < .milliseconds(50), "took \(elapsed)")
    }

    private func matches(_ glob: GlobPattern, _ text: [UInt8], naiveSearchLimit: Int = GlobProgram.naiveSearchLimit)
        -> Bool
    {
        text.withUnsafeBufferPointer { glob.matches($0, naiveSearchLimit: naiveSearchLimit) }
    }

    private func check(_ pattern: [UInt8], _ text: [UInt8], into disagreements: inout [String]) {
        let expected = redisStringMatch(pattern, text)
        let glob = GlobPattern(bytes: pattern)
        for limit in [GlobProgram.naiveSearchLimit, .max, 0]
        where matches(glob, text, naiveSearchLimit: limit) != expected {
            disagreements.append(
                "\(String(decoding: pattern, as: UTF8.self)) ~ \(String(decoding: text, as: UTF8.self)): expected \(expected), limit \(limit)"
            )
        }
    }
}

/// Redis's `stringmatchlen_impl` (src/util.c, Redis 7), transliterated — recursion, `skipLongerMatches`,
/// C's signed `char` and reads of the terminating NUL included — with one change: stars match an empty text
/// (see ``GlobPattern``).
func redisStringMatch(_ pattern: [UInt8], _ text: [UInt8]) -> Bool {
    if text.isEmpty { return pattern.allSatisfy { $0 == UInt8(ascii: "*") } }
    var skipLongerMatches = false
    return redisMatch(pattern, 0, text, 0, &skipLongerMatches, nesting: 0)
}

private func redisMatch(
    _ pattern: [UInt8],
    _ patternStart: Int,
    _ string: [UInt8],
    _ stringStart: Int,
    _ skipLongerMatches: inout Bool,
    nesting: Int
) -> Bool {
    if nesting > 1000 { return false }
    var p = patternStart
    var s = stringStart
    var patternLen = pattern.count - p
    var stringLen = string.count - s
    func at(_ offset: Int) -> UInt8 { p + offset < pattern.count ? pattern[p + offset] : 0 }
    func signed(_ byte: UInt8) -> Int { Int(Int8(bitPattern: byte)) }
    while patternLen > 0 && stringLen > 0 {
        switch at(0) {
        case UInt8(ascii: "*"):
            while patternLen > 0 && at(1) == UInt8(ascii: "*") {
                p += 1
                patternLen -= 1
            }
            if patternLen == 1 { return true }
            while stringLen > 0 {
                if redisMatch(pattern, p + 1, string, s, &skipLongerMatches, nesting: nesting + 1) { return true }
                if skipLongerMatches { return false }
                s += 1
                stringLen -= 1
            }
            skipLongerMatches = true
            return false
        case UInt8(ascii: "?"):
            s += 1
            stringLen -= 1
        case UInt8(ascii: "["):
            p += 1
            patternLen -= 1
            let not = at(0) == UInt8(ascii: "^")
            if not {
                p += 1
                patternLen -= 1
            }
            var match = false
            while true {
                if at(0) == UInt8(ascii: "\\") && patternLen >= 2 {
                    p += 1
                    patternLen -= 1
                    if at(0) == string[s] { match = true }
                } else if at(0) == UInt8(ascii: "]") {
                    break
                } else if patternLen == 0 {
                    p -= 1
                    patternLen += 1
                    break
                } else if patternLen >= 3 && at(1) == UInt8(ascii: "-") {
                    var start = signed(at(0))
                    var end = signed(at(2))
                    let c = signed(string[s])
                    if start > end { swap(&start, &end) }
                    p += 2
                    patternLen -= 2
                    if c >= start && c <= end { match = true }
                } else if at(0) == string[s] {
                    match = true
                }
                p += 1
                patternLen -= 1
            }
            if not { match.toggle() }
            if !match { return false }
            s += 1
            stringLen -= 1
        default:
            if at(0) == UInt8(ascii: "\\") && patternLen >= 2 {
                p += 1
                patternLen -= 1
            }
            if at(0) != string[s] { return false }
            s += 1
            stringLen -= 1
        }
        p += 1
        patternLen -= 1
        if stringLen == 0 {
            while at(0) == UInt8(ascii: "*") {
                p += 1
                patternLen -= 1
            }
            break
        }
    }
    return patternLen == 0 && stringLen == 0
}

/// A seeded generator (an LCG, its state mixed on the way out), so a failing random case repeats.
struct TestRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 }

    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let mixed = (state ^ (state >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        return mixed ^ (mixed >> 33)
    }

    mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(next() % UInt64(bound)) }

    mutating func bytes(from alphabet: [UInt8], count: Int) -> [UInt8] {
        (0..<count).map { _ in alphabet[below(alphabet.count)] }
    }
}
