// The one UTC timestamp formatter (log lines, reports, `trackstar deliveries`) and the calendar
// arithmetic under it (days from civil and back, after Howard Hinnant's algorithms). Pure: no
// gmtime, no locale, no Foundation. (The HTTP Date header has its own cached, allocation-free writer.)

/// UTC dates and timestamps of Unix milliseconds.
public enum UTCTime {
    /// How a timestamp is spelled.
    public enum Style: Sendable {
        /// `2026-11-30T01:02:03.456Z` (log lines).
        case isoMillis
        /// `2026-11-30T01:02:03Z` (report ranges).
        case isoSeconds
        /// `2026-11-30 01:02:03` (tables for people).
        case spaced
    }

    public static let dayMillis: Int64 = 86_400_000

    /// `millis` since the Unix epoch in UTC, spelled as `style` says.
    public static func text(millis: Int64, style: Style) -> String {
        let days = floorDivide(millis, dayMillis), inDay = millis - days * dayMillis
        let seconds = inDay / 1000
        let time = "\(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2))"
        switch style {
        case .isoMillis: return "\(dayText(days))T\(time).\(pad(inDay % 1000, 3))Z"
        case .isoSeconds: return "\(dayText(days))T\(time)Z"
        case .spaced: return "\(dayText(days)) \(time)"
        }
    }

    /// `YYYY-MM-DD` of a day number (days since 1970-01-01).
    public static func dayText(_ days: Int64) -> String {
        let d = date(days: days)
        return "\(pad(d.year, 4))-\(pad(d.month, 2))-\(pad(d.day, 2))"
    }

    /// The (year, month, day) of a day number.
    public static func date(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// `value` in decimal, zero-padded to `width` digits.
    public static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// `a / b` rounded toward minus infinity (a day number of instants before 1970).
    public static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

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
