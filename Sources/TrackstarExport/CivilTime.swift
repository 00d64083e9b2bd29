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
        let days = UTCTime.floorDivide(hours, 24)
        return "\(dayText(days)) \(pad(hours - days * 24, 2)):00"
    }

    public static func pad(_ value: Int64, _ width: Int) -> String { UTCTime.pad(value, width) }

    /// Parses "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" or "YYYY-MM-DDTHH:MM[:SS][Z]" (UTC) into Unix ms;
    /// `dateOnly` tells whether no time was given (`UTCTime.parse`).
    public static func parse(_ text: String) -> (millis: Int64, dateOnly: Bool)? { UTCTime.parse(text) }
}
