// Days and months in an offer's `timezone` for its caps (issue 14). The zone's offset periods are
// read once from the tz database; each zone keeps one self-checking hint word — the current offset
// period, local day and month — so a click pays one range compare, one division by a constant and
// one compare instead of a search over the zone's transitions and a civil-date computation.
import Atomics
import TrackstarCore
import TrackstarConfiguration
import TrackstarExport
#if canImport(Glibc)
import Glibc
#endif

/// An offer's zone, from the system tz database (`TZDIR`, else /usr/share/zoneinfo).
///
/// Invariants: `periods` (start, end, offset in ms; `start` of the first is Int64.min, `end` of the
/// last Int64.max, each `end` the next `start`) is written in `init` and never again. The hint word
/// is `period:16 | month:24 | day:24` (low to high: period in bits 0..<16, month 16..<40, day
/// 40..<64), a triple computed together from those periods; a reader checks it against its own
/// instant (the instant is inside the period, and the day computed with the period's offset is the
/// hint's day) and uses its month only then. Every value ever stored is such a consistent triple,
/// so a stale or racing hint only sends a click to the slow path: relaxed loads and stores suffice.
/// The hint is written only when a day (or an offset period) is crossed, so it is not a line every
/// loop writes per click; it has a 64-byte line of its own.
final class CapZone: @unchecked Sendable {
    /// (start, end, offset) of each offset period, in milliseconds.
    private let periods: UnsafeMutablePointer<(start: Int64, end: Int64, offset: Int64)>
    private let periodCount: Int
    /// The hint word, alone on a 64-byte line.
    private let hintWord: UnsafeMutablePointer<UInt64.AtomicRepresentation>
    /// A hint that never matches (day bits all ones): the first click takes the slow path.
    private static let emptyHint: UInt64 = 0xFF_FFFF << 40
    static let millisPerDay: Int64 = 86_400_000  // a literal: the click path divides by it as a constant

    /// UTC (the default zone), shared: it has no transitions and its hint is as good as any other's.
    static let utc = CapZone(transitions: [], offsets: [], initialOffset: 0)

    static func load(_ name: String) throws(ConfigProblem) -> CapZone {
        if name == "UTC" || name == "Etc/UTC" { return CapZone.utc }
        let directory = CapZone.directory
        do {
            let zone = try ReportTimeZone.load(name, directory: directory)
            return CapZone(transitions: zone.transitionSeconds, offsets: zone.offsetSeconds, initialOffset: zone.initialOffsetSeconds)
        } catch {
            throw ConfigProblem(line: 0, message: "timezone \"\(name)\": no such zone in \(directory) (install Debian's tzdata, or use a name such as America/New_York)")
        }
    }

    /// Where zone files are read: glibc's `TZDIR` when set (tests point it at a zone of their own).
    static var directory: String {
        if let dir = getenv("TZDIR") { return String(cString: dir) }
        return "/usr/share/zoneinfo"
    }

    /// - Parameters: transition instants (Unix seconds, ascending), the offset (seconds east of UTC)
    ///   from each, and the offset before the first.
    init(transitions: [Int64], offsets: [Int64], initialOffset: Int64) {
        periodCount = min(transitions.count, offsets.count, 0xFFFF - 1) + 1
        periods = .allocate(capacity: periodCount)
        var start = Int64.min, offset = initialOffset
        // Clamped: TZif files may open with a transition at -2^59 s ("big bang"), beyond Int64 ms.
        func millis(_ seconds: Int64) -> Int64 { max(min(seconds, Int64.max / 1000), Int64.min / 1000) * 1000 }
        for i in 0..<periodCount {
            let end = i < periodCount - 1 ? millis(transitions[i]) : Int64.max
            (periods + i).initialize(to: (start: start, end: end, offset: offset * 1000))
            if i < periodCount - 1 { (start, offset) = (end, offsets[i]) }
        }
        var line: UnsafeMutableRawPointer?
        guard posix_memalign(&line, 64, 64) == 0, let line else { fatalError("cap zone: out of memory") }
        hintWord = line.bindMemory(to: UInt64.AtomicRepresentation.self, capacity: 1)
        hintWord.initialize(to: .init(CapZone.emptyHint))
    }

    deinit {
        periods.deallocate()
        free(UnsafeMutableRawPointer(hintWord))
    }

    private var hint: UnsafeAtomic<UInt64> { UnsafeAtomic(at: hintWord) }

    /// (day index, month index) of the instant in this zone: days since 1970-01-01 local, and
    /// year * 12 + month - 1 (both 0 before 1970). The hint answers unless a day or an offset period
    /// was crossed since it was stored.
    @inline(__always)
    func windows(_ utcMillis: Int64) -> (day: UInt64, month: UInt64) {
        let word = hint.load(ordering: .relaxed)  // Relaxed: self-checking hint (type invariants).
        let period = periods[Int(word & 0xFFFF)]  // < periodCount: only slowWindows stores, and only found periods
        if utcMillis >= period.start && utcMillis < period.end {
            let day = CapZone.dayIndex(localMillis: utcMillis + period.offset)
            if day == word >> 40 { return (day, word >> 16 & 0xFF_FFFF) }
        }
        return slowWindows(utcMillis, remember: true)
    }

    /// The same without the hint: the period by binary search, the month by the civil calendar;
    /// stores the hint when `remember` (never a value that would not check out).
    func slowWindows(_ utcMillis: Int64, remember: Bool = false) -> (day: UInt64, month: UInt64) {
        var low = 0, high = periodCount - 1  // the last period whose start is at or before the instant
        while low < high {
            let mid = (low + high + 1) / 2
            if periods[mid].start <= utcMillis { low = mid } else { high = mid - 1 }
        }
        let local = utcMillis + periods[low].offset
        let day = CapZone.dayIndex(localMillis: local)
        let month = UInt64(max(0, CapZone.monthIndex(days: UTCTime.floorDivide(local, CapZone.millisPerDay))))
        if remember && day < 0xFF_FFFF && month < 0xFF_FFFF {
            hint.store(day << 40 | month << 16 | UInt64(low), ordering: .relaxed)  // Relaxed: see the type's invariants.
        }
        return (day, month)
    }

    /// Days since 1970-01-01 of a local instant, 0 before then.
    @inline(__always)
    static func dayIndex(localMillis: Int64) -> UInt64 {
        localMillis >= 0 ? UInt64(localMillis / millisPerDay) : 0
    }

    /// The month of a day count, as year * 12 + month - 1 (the civil date from `UTCTime.date(days:)`).
    static func monthIndex(days: Int64) -> Int64 {
        let date = UTCTime.date(days: days)
        return date.year * 12 + date.month - 1
    }
}
