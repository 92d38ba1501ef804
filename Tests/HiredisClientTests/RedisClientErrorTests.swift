import HiredisClient
import Testing

/// The error type's contract: stable code strings, the cause, and where the error was made. Needs no
/// redis-server.
struct RedisClientErrorTests {
    @Test func everyCodeKeepsItsStableString() {
        let codes: [(RedisClientError.Code, String)] = [
            (.connectionRefused, "CONNECTION_REFUSED"),
            (.connectionFailed, "CONNECTION_FAILED"),
            (.timeout, "TIMEOUT"),
            (.connectionLost, "CONNECTION_LOST"),
            (.protocolError, "PROTOCOL_ERROR"),
            (.serverError, "SERVER_ERROR"),
            (.poolExhausted, "POOL_EXHAUSTED"),
            (.closed, "CLOSED"),
            (.cancelled, "CANCELLED"),
            (.invalidURL, "INVALID_URL"),
            (.invalidConfiguration, "INVALID_CONFIGURATION"),
            (.unexpectedReply, "UNEXPECTED_REPLY"),
            (.tooManyRedirects, "TOO_MANY_REDIRECTS"),
        ]
        for (code, text) in codes {
            #expect(code.description == text)
            #expect(RedisClientError(code, "what happened").description == "\(text): what happened")
        }
        #expect(Set(codes.map(\.0)).count == codes.count)
    }

    @Test func anErrorCarriesItsCauseAndWhereItWasMade() {
        let reply = RedisServerError(message: "OOM command not allowed when used memory > 'maxmemory'.")
        let line = #line + 1
        let error = RedisClientError(.serverError, reply.message, underlying: reply)
        #expect(error.serverError == reply)
        #expect(error.serverError?.code == "OOM")
        #expect((error.underlying as? RedisServerError) == reply)
        #expect(error.file == "HiredisClientTests/RedisClientErrorTests.swift")
        #expect(error.line == line)

        let lost = RedisClientError(.connectionLost, "server closed the connection")
        let timeout = RedisClientError(.timeout, "no reply to GET within the command timeout", underlying: lost)
        #expect(timeout.serverError == nil)
        #expect((timeout.underlying as? RedisClientError)?.code == .connectionLost)
    }
}
