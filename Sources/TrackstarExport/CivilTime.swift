// UTC calendar arithmetic for reports: dates and hours to Unix milliseconds and back, without
// Foundation. The calendar arithmetic and the timestamp formats are Core's `UTCTime`.
import TrackstarCore

/// UTC dates and times as Unix milliseconds.
public enum CivilTime {
    public static let dayMillis: Int64 = 86_400_000
    public static let hourMillis: Int64 = 3_600_000

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 { UTCTime.days(year: year, month: month, day: day) }

    /// The (year, month, day) of a day number.
    public static func date(days: Int64) -> (year: Int64, month: Int64, day: Int64) { UTCTime.date(days: days) }

    /// "YYYY-MM-DD" of a day number.
    public static func dayText(_ days: Int64) -> String { UTCTime.dayText(days) }

    /// "YYYY-MM-DD HH:00" of an hour number (hours since the epoch).
    public static func hourText(_ hours: Int64) -> String {
        let days = hours >= 0 ? hours / 24 : (hours - 23) / 24
        return "\(dayText(days)) \(pad(hours - days * 24, 2)):00"
    }

    public static func pad(_ value: Int64, _ width: Int) -> String { UTCTime.pad(value, width) }

    /// Parses "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" or "YYYY-MM-DDTHH:MM[:SS][Z]" (UTC) into Unix ms;
    /// `dateOnly` tells whether no time was given.
    public static func parse(_ text: String) -> (millis: Int64, dateOnly: Bool)? {
        var bytes = Array(text.utf8)
        if bytes.last == UInt8(ascii: "Z") { bytes.removeLast() }
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count, bytes[range].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return bytes[range].reduce(0) { $0 * 10 + Int64($1 - 0x30) }
        }
        guard bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day) else { return nil }
        let midnight = days(year: year, month: month, day: day) * dayMillis
        if bytes.count == 10 { return (midnight, true) }
        guard bytes.count == 16 || bytes.count == 19, bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "T"),
              bytes[13] == UInt8(ascii: ":"), let hour = number(11..<13), let minute = number(14..<16),
              hour < 24, minute < 60 else { return nil }
        var second: Int64 = 0
        if bytes.count == 19 {
            guard bytes[16] == UInt8(ascii: ":"), let s = number(17..<19), s < 60 else { return nil }
            second = s
        }
        return (midnight + ((hour * 60 + minute) * 60 + second) * 1000, false)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
