import Testing
import _LoadKit

struct DurationTextTests {
    @Test func aBareNumberIsInTheOptionsUnit() throws {
        #expect(try DurationText.parse("30", defaultUnit: .seconds) == .seconds(30))
        #expect(try DurationText.parse("20", defaultUnit: .milliseconds) == .milliseconds(20))
    }

    @Test func unitsOverrideTheDefault() throws {
        #expect(try DurationText.parse("30s", defaultUnit: .milliseconds) == .seconds(30))
        #expect(try DurationText.parse("1.5s", defaultUnit: .seconds) == .milliseconds(1500))
        #expect(try DurationText.parse("250us", defaultUnit: .seconds) == .microseconds(250))
        #expect(try DurationText.parse("2m", defaultUnit: .seconds) == .seconds(120))
    }

    @Test func rejectsWhatIsNotADuration() {
        #expect(throws: DurationText.ParseError.self) { try DurationText.parse("-1s", defaultUnit: .seconds) }
        #expect(throws: DurationText.ParseError.self) { try DurationText.parse("soon", defaultUnit: .seconds) }
        #expect(throws: DurationText.ParseError.self) { try DurationText.parse("", defaultUnit: .seconds) }
    }

    @Test func formatsInTheUnitThatReadsBest() {
        #expect(DurationText.format(.microseconds(850)) == "850µs")
        #expect(DurationText.format(.microseconds(12_340)) == "12.3ms")
        #expect(DurationText.format(.milliseconds(200)) == "200ms")
        #expect(DurationText.format(.milliseconds(1234)) == "1.23s")
        #expect(DurationText.format(.seconds(30)) == "30s")
    }
}
