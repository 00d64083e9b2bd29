// The one UTC timestamp formatter: its three spellings, and the calendar checked against the C
// library's gmtime over a sweep of instants (what the log line used before).
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TrackstarCore

@Suite struct UTCTimeTests {
    // 2026-11-30T01:02:03.456Z
    let millis: Int64 = 1_796_000_523_456

    @Test func threeSpellings() {
        #expect(UTCTime.text(millis: millis, style: .isoMillis) == "2026-11-30T01:02:03.456Z")
        #expect(UTCTime.text(millis: millis, style: .isoSeconds) == "2026-11-30T01:02:03Z")
        #expect(UTCTime.text(millis: millis, style: .spaced) == "2026-11-30 01:02:03")
        #expect(UTCTime.text(millis: 0, style: .isoMillis) == "1970-01-01T00:00:00.000Z")
        #expect(UTCTime.text(millis: -1, style: .isoMillis) == "1969-12-31T23:59:59.999Z")
        #expect(UTCTime.dayText(20454) == "2026-01-01")
    }

    @Test func agreesWithGmtime() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<5000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let ms = Int64(state >> 1) % 8_000_000_000_000  // up to about year 2223
            var seconds = time_t(ms / 1000)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            let expected = "\(UTCTime.pad(Int64(parts.tm_year) + 1900, 4))-\(UTCTime.pad(Int64(parts.tm_mon) + 1, 2))-\(UTCTime.pad(Int64(parts.tm_mday), 2))T"
                + "\(UTCTime.pad(Int64(parts.tm_hour), 2)):\(UTCTime.pad(Int64(parts.tm_min), 2)):\(UTCTime.pad(Int64(parts.tm_sec), 2)).\(UTCTime.pad(ms % 1000, 3))Z"
            #expect(UTCTime.text(millis: ms, style: .isoMillis) == expected)
            let day = UTCTime.date(days: ms / UTCTime.dayMillis)
            #expect(UTCTime.days(year: day.year, month: day.month, day: day.day) == ms / UTCTime.dayMillis)
        }
    }
}
