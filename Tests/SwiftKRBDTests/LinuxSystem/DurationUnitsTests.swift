// Duration+Units: the one Duration conversion every caller uses.
import Testing

@testable import LinuxSystem

@Suite struct DurationUnitsTests {
    @Test func millisecondsAndSeconds() {
        #expect(Duration.milliseconds(1500).milliseconds == 1500)
        #expect(Duration.microseconds(2500).milliseconds == 2.5)
        #expect(Duration.milliseconds(1500).seconds == 1.5)
        #expect(abs(Duration.nanoseconds(250).seconds - 250e-9) < 1e-21)
        #expect(Duration.zero.seconds == 0 && Duration.zero.milliseconds == 0)
    }

    @Test func wholeMillisecondsTruncateExactly() {
        #expect(Duration.milliseconds(1500).wholeMilliseconds == 1500)
        #expect(Duration.microseconds(2999).wholeMilliseconds == 2)
        // One attosecond short of 3 s: integer arithmetic, where a Double would round up to 3000.
        let almost = Duration(secondsComponent: 2, attosecondsComponent: 999_999_999_999_999_999)
        #expect(almost.wholeMilliseconds == 2999)
        #expect(Duration.microseconds(-1500).wholeMilliseconds == -1)
        #expect(Duration.zero.wholeMilliseconds == 0)
    }
}
