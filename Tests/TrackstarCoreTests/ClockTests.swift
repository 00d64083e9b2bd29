// The one clock in Core: wall-clock milliseconds and the absolute deadlines the waiting threads use.
import Testing
import TrackstarCore

@Suite struct ClockTests {
    @Test func deadlineSplitsMillisIntoSecondsAndNanoseconds() {
        let ts = WallClock.deadline(atMillis: 1_796_000_523_456)
        #expect(ts.tv_sec == 1_796_000_523 && ts.tv_nsec == 456_000_000)
    }

    @Test func wallClockIsUnixMillisAndMonotonicDoesNotGoBack() {
        let now = WallClock.nowMillis()
        #expect(now > 1_700_000_000_000 && now < 4_000_000_000_000)
        let a = MonotonicClock.micros(), b = MonotonicClock.micros()
        #expect(b >= a)
    }
}
