import RedisCache
import Testing

/// The cache's name: the `cache` dimension of its metrics.
struct ResilientCacheConfigurationNameTests {
    @Test func theDefaultNameIsTheNamespaceWithoutItsColon() {
        #expect(ResilientCacheConfiguration(namespace: "catalog:").name == "catalog")
        #expect(ResilientCacheConfiguration(namespace: "catalog").name == "catalog")
        #expect(ResilientCacheConfiguration().name == "cache")
    }

    @Test func theEmptyNamespaceIsNamedDefault() {
        #expect(ResilientCacheConfiguration(namespace: "").name == "default")
    }

    @Test func aDerivedNameFollowsTheNamespaceAndAnExplicitOneStays() {
        var configuration = ResilientCacheConfiguration(namespace: "a:")
        configuration.namespace = "b:"
        #expect(configuration.name == "b")
        configuration.name = "sessions"
        configuration.namespace = "c:"
        #expect(configuration.name == "sessions")
    }
}
