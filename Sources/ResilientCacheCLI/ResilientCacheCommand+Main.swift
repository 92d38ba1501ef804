import ArgumentParser

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

extension ResilientCacheCommand {
    /// ArgumentParser's own entry point, except that bad arguments to `check` exit with 2, the code its
    /// documentation promises scripts (ArgumentParser's default for a usage error is 64).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let isCheck = CommandLine.arguments.dropFirst().first == CheckCommand.configuration.commandName
            if isCheck && exitCode(for: error) == .validationFailure {
                let message = fullMessage(for: error) + "\n"
                _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
                terminate(exitCode: 2)
            }
            exit(withError: error)
        }
    }
}

/// The C library's `exit`, which inside a command type the name `exit` would not reach.
private func terminate(exitCode: Int32) -> Never {
    exit(exitCode)
}
