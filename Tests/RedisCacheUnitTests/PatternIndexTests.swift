import Testing

@testable import RedisCache

struct PatternIndexTests {
    func index(_ patterns: [String]) -> PatternIndex {
        PatternIndex(patterns.map(GlobPattern.init))
    }

    @Test func aKeyMatchesThroughTheIndexAsThroughEachPattern() {
        let patterns = [
            "app:user:*", "app:user:42:*", "app:order:?", "app:cart:[0-9]*", "app:*:profile", "app:\\[x\\]:*",
            "app:exact", "app:a\\*b", "app:[^z]nd", "app:*",
        ]
        let keys = [
            "app:user:", "app:user:1", "app:user:42:x", "app:order:7", "app:order:77", "app:cart:5x", "app:cart:x5",
            "app:q:profile", "app:[x]:1", "app:x:1", "app:exact", "app:exact2", "app:exac", "app:a*b", "app:axb",
            "app:and", "app:znd", "app:", "app", "other:user:1", "",
        ]
        for count in 1...patterns.count {
            let some = Array(patterns.prefix(count))
            let index = index(some)
            for key in keys {
                let expected = some.contains { GlobPattern($0).matches(key) }
                #expect(index.matches(key) == expected, "\(key) against \(some)")
            }
        }
    }

    @Test func literalPatternsMatchOnlyTheirOwnKey() {
        let index = index(["app:user:1", "app:a\\*b"])
        #expect(index.matches("app:user:1"))
        #expect(!index.matches("app:user:10"))
        #expect(!index.matches("app:user:"))
        #expect(index.matches("app:a*b"))
        #expect(!index.matches("app:axb"))
        #expect(index.patternsPerRead == 0, "a literal pattern is found by the walk alone")
    }

    @Test func patternsWithAWildcardRightAfterTheNamespaceMeetEveryKey() {
        let index = index(["app:*x", "app:?y", "app:[ab]z"])
        #expect(index.matches("app:long:key:x"))
        #expect(index.matches("app:qy"))
        #expect(index.matches("app:bz"))
        #expect(!index.matches("app:cz"))
        #expect(!index.matches("app:x:"))
        #expect(index.patternsPerRead == 3)
    }

    @Test func patternsPerReadCountsThePatternsOnOnePath() {
        #expect(index(["ns:a*", "ns:b*", "ns:c*"]).patternsPerRead == 1)
        #expect(index(["ns:*x", "ns:a*", "ns:b*"]).patternsPerRead == 2)
        #expect(index(["ns:*", "ns:a*", "ns:ab*", "ns:abc*", "ns:b*"]).patternsPerRead == 4)
        #expect(index((0..<1000).map { "ns:user:\($0):*" }).patternsPerRead == 1)
    }

    @Test func insertingIsIdempotentAndRemovingRestoresTheIndex() {
        let glob = GlobPattern("ns:user:*")
        let one = PatternIndex.empty.inserting(glob)
        #expect(one.inserting(glob).count == 1)
        #expect(one.removing(glob).isEmpty)
        #expect(!one.removing(glob).matches("ns:user:1"))
        #expect(one.removing(GlobPattern("ns:other:*")) === one)
        // The old index is untouched by the new one: readers holding it keep a consistent view.
        let two = one.inserting(GlobPattern("ns:order:*"))
        #expect(!one.matches("ns:order:1"))
        #expect(two.matches("ns:order:1") && two.matches("ns:user:1"))
    }

    /// Random sets of patterns sharing prefixes (so edges split and merge), with random removals, against
    /// testing every pattern.
    @Test func agreesWithTestingEveryPatternUnderInsertionsAndRemovals() {
        var random = TestRandom(seed: 11)
        let stems = ["ns:", "ns:u", "ns:us", "ns:user:", "ns:user:1", "ns:user:12", "ns:v", "ns:\\*", ""]
        let tails = ["*", "?", "[0-9]*", "*1", "", "2", "\\?", ":*", "*:x", "[^1]"]
        let keyParts = Array("nsuer:12*?x[]".utf8)
        var disagreements: [String] = []
        for _ in 0..<200 {
            var index = PatternIndex.empty
            var live: [String] = []
            for _ in 0..<(1 + random.below(25)) {
                let pattern = stems[random.below(stems.count)] + tails[random.below(tails.count)]
                if random.below(4) == 0, !live.isEmpty {
                    let victim = live.remove(at: random.below(live.count))
                    index = index.removing(GlobPattern(victim))
                } else {
                    index = index.inserting(GlobPattern(pattern))
                    if !live.contains(pattern) { live.append(pattern) }
                }
            }
            #expect(index.count == live.count)
            let globs = live.map(GlobPattern.init)
            for _ in 0..<60 {
                let key =
                    ["ns:", "ns:user:", ""][random.below(3)]
                    + String(decoding: random.bytes(from: keyParts, count: random.below(6)), as: UTF8.self)
                let expected = globs.contains { $0.matches(key) }
                if index.matches(key) != expected { disagreements.append("\(key) against \(live.sorted())") }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
    }
}
