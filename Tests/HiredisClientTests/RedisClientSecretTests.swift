import HiredisClient
import Testing

/// The password never shows when a configuration, or anything that holds one, is printed, dumped or reflected.
/// Needs no redis-server.
struct RedisClientSecretTests {
    static let password = "Pa55-w0rd-that-must-not-leak"

    @Test func thePasswordNeverShowsInDumpsDescriptionsOrMirrors() throws {
        let configuration = try RedisClientConfiguration(url: "redis://alice:\(Self.password)@127.0.0.1:6390/2")
        let authentication = try #require(configuration.authentication)
        #expect(authentication.password == Self.password)  // still there for whoever asks for it by name
        let client = try RedisClient(configuration: configuration, logger: quietLogger)

        let subjects: [(String, Any)] = [
            ("configuration", configuration),
            ("authentication", authentication),
            ("optional authentication", configuration.authentication as Any),
            ("client", client),
        ]
        for (name, subject) in subjects {
            var dumped = ""
            dump(subject, to: &dumped)
            #expect(!dumped.contains(Self.password), "dump of the \(name): \(dumped)")
            #expect(!String(describing: subject).contains(Self.password), "description of the \(name)")
            #expect(!String(reflecting: subject).contains(Self.password), "debug description of the \(name)")
            for text in reflectedTexts(of: subject) {
                #expect(!text.contains(Self.password), "a value reflected from the \(name): \(text)")
            }
        }
        #expect(authentication.description == "alice:***")
        #expect(reflectedTexts(of: configuration).contains { $0.contains("alice") }, "the user name is not secret")
    }

    /// Every value reachable through `Mirror` from `subject`, described and debug-described; objects once each.
    private func reflectedTexts(of subject: Any) -> [String] {
        var texts: [String] = []
        var seen = Set<ObjectIdentifier>()
        func visit(_ value: Any, depth: Int) {
            if type(of: value) is AnyClass {
                guard seen.insert(ObjectIdentifier(value as AnyObject)).inserted else { return }
            }
            texts.append(String(describing: value))
            texts.append(String(reflecting: value))
            guard depth < 16 else { return }
            for child in Mirror(reflecting: value).children {
                visit(child.value, depth: depth + 1)
            }
        }
        visit(subject, depth: 0)
        return texts
    }
}
