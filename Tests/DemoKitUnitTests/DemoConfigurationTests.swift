import DemoKit
import Testing

struct DemoConfigurationTests {
    @Test func faultsNeedTheDemosOwnServer() {
        var configuration = DemoConfiguration()
        configuration.redisURL = "redis://127.0.0.1:6379"
        configuration.faults = .standard(for: configuration.duration)
        #expect {
            try configuration.validate()
        } throws: { error in
            "\(error)".contains("--faults needs the server the demo starts itself")
                && "\(error)".contains("docker compose stop redis")
        }
        configuration.faults = .none
        #expect(throws: Never.self) { try configuration.validate() }
    }

    @Test func theDeadlineIsTheCommandTimeoutPlusTheMargin() {
        var configuration = DemoConfiguration()
        configuration.commandTimeout = .milliseconds(100)
        configuration.deadlineMargin = .milliseconds(100)
        #expect(configuration.callDeadline == .milliseconds(200))
    }
}
