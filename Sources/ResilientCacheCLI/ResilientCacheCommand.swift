import ArgumentParser

/// `resilient-cache`: the package's command-line tool.
@main
struct ResilientCacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resilient-cache",
        abstract: "A Redis-backed cache whose Redis outages never become the service's outage.",
        subcommands: [DemoCommand.self, CheckCommand.self]
    )
}
