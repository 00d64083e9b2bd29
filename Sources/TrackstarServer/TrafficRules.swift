// An offer's traffic rules as the click and postback paths read them (issue 14): its caps (limits
// plus the shared counter lines, CapCounters.swift), its time zone's day and month, and its
// targeting. Built when the catalog is compiled; immutable after.
import TrackstarCore
import TrackstarConfiguration
import TrackstarExport
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

/// Days and months in an offer's `timezone`, from the system tz database (`TZDIR`, else
/// /usr/share/zoneinfo). UTC has no transitions, so its offset costs one comparison.
struct CapZone: Sendable {
    let zone: ReportTimeZone?

    static func load(_ name: String) throws(ConfigProblem) -> CapZone {
        if name == "UTC" || name == "Etc/UTC" { return CapZone(zone: nil) }
        let directory = CapZone.directory
        do { return CapZone(zone: try ReportTimeZone.load(name, directory: directory)) } catch {
            throw ConfigProblem(line: 0, message: "timezone \"\(name)\": no such zone in \(directory) (install Debian's tzdata, or use a name such as America/New_York)")
        }
    }

    /// Where zone files are read: glibc's `TZDIR` when set (tests point it at a zone of their own).
    static var directory: String {
        if let dir = getenv("TZDIR") { return String(cString: dir) }
        return "/usr/share/zoneinfo"
    }

    /// (day index, month index) of the instant in this zone: days since 1970-01-01 local, and
    /// year * 12 + month - 1. About forty instructions plus a binary search over the zone's
    /// transitions; only offers with caps pay it.
    @inline(__always)
    func windows(_ utcMillis: Int64) -> (day: UInt64, month: UInt64) {
        let local = utcMillis + (zone?.offsetMillis(atUTC: utcMillis) ?? 0)
        let days = local >= 0 ? local / 86_400_000 : (local - 86_399_999) / 86_400_000
        return (UInt64(max(0, days)), UInt64(max(0, CapZone.monthIndex(days: days))))
    }

    /// Howard Hinnant's civil-from-days: the month of a day count, as year * 12 + month - 1.
    static func monthIndex(days: Int64) -> Int64 {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return year * 12 + month - 1
    }
}

/// One cap key's limits (UInt64.max: none) and its counter line.
struct CapPlan: @unchecked Sendable {
    let line: CapLine
    /// Limits in `CapCounter` order.
    let limits: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    let hasClickCaps: Bool
    let hasConversionCaps: Bool

    init(_ config: CapLimits, line: CapLine) {
        let l = config.ordered.map { $0 ?? .max }
        limits = (l[0], l[1], l[2], l[3], l[4], l[5])
        hasClickCaps = l[0...2].contains { $0 != .max }
        hasConversionCaps = l[3...5].contains { $0 != .max }
        self.line = line
    }

    @inline(__always)
    func limit(_ counter: CapCounter) -> UInt64 {
        switch counter {
        case .dailyClicks: limits.0
        case .monthlyClicks: limits.1
        case .totalClicks: limits.2
        case .dailyConversions: limits.3
        case .monthlyConversions: limits.4
        case .totalConversions: limits.5
        }
    }

    @inline(__always)
    static func window(_ counter: CapCounter, _ windows: (day: UInt64, month: UInt64)) -> UInt64 {
        switch counter.period {
        case 0: windows.day
        case 1: windows.month
        default: 0
        }
    }

    /// Takes a unit of each set cap of the three counters from `first` (clicks or conversions); on a
    /// refusal gives back what it took. True when every cap took it.
    @inline(__always)
    func reserve(from first: CapCounter, _ windows: (day: UInt64, month: UInt64)) -> Bool {
        var taken = 0
        for i in 0..<3 {
            let counter = CapCounter(rawValue: first.rawValue + i)!
            let limit = limit(counter)
            if limit == .max { continue }
            guard line.reserve(counter, window: CapPlan.window(counter, windows), limit: limit) else {
                release(from: first, windows, count: taken)
                return false
            }
            taken = i + 1
        }
        return true
    }

    /// Gives back the units of the first `count` counters from `first`.
    func release(from first: CapCounter, _ windows: (day: UInt64, month: UInt64), count: Int = 3) {
        for i in 0..<count {
            let counter = CapCounter(rawValue: first.rawValue + i)!
            if limit(counter) != .max { line.release(counter, window: CapPlan.window(counter, windows)) }
        }
    }

    /// Counts a recorded click or conversion at start-up.
    func replay(from first: CapCounter, _ windows: (day: UInt64, month: UInt64)) {
        for i in 0..<3 {
            let counter = CapCounter(rawValue: first.rawValue + i)!
            line.replay(counter, window: CapPlan.window(counter, windows))
        }
    }
}

/// An offer's caps: its own and those of single affiliates, in its time zone.
final class OfferCaps: @unchecked Sendable {  // immutable after init
    let zone: CapZone
    let offer: CapPlan?
    /// Per affiliate, searched linearly (an offer caps a handful of affiliates at most).
    let affiliateIDs: [UInt32]
    let affiliatePlans: [CapPlan]
    let hasClickCaps: Bool
    let hasConversionCaps: Bool
    /// Owns the lines' memory: held so that the lines live as long as any catalog using them.
    let book: CapBook

    init(_ config: OfferConfig, book: CapBook) throws(ConfigProblem) {
        self.book = book
        do { zone = try CapZone.load(config.timezone) } catch {
            throw ConfigProblem(line: config.line, message: "offers id \(config.id): \(error.message)")
        }
        offer = config.caps.isEmpty ? nil : CapPlan(config.caps, line: book.line(offer: config.id, affiliate: 0))
        affiliateIDs = config.affiliateCaps.map(\.affID)
        affiliatePlans = config.affiliateCaps.map { CapPlan($0.limits, line: book.line(offer: config.id, affiliate: $0.affID)) }
        hasClickCaps = (offer?.hasClickCaps ?? false) || affiliatePlans.contains { $0.hasClickCaps }
        hasConversionCaps = (offer?.hasConversionCaps ?? false) || affiliatePlans.contains { $0.hasConversionCaps }
    }

    @inline(__always)
    func plan(affiliate: UInt32) -> CapPlan? {
        var i = 0
        while i < affiliateIDs.count {
            if affiliateIDs[i] == affiliate { return affiliatePlans[i] }
            i += 1
        }
        return nil
    }

    /// Takes one click (or conversion, from `.dailyConversions`) of the offer's and the affiliate's
    /// caps at `nowMillis`, all or nothing.
    func take(_ first: CapCounter, affiliate: UInt32, nowMillis: Int64) -> Bool {
        let windows = zone.windows(nowMillis)
        if let offer, !offer.reserve(from: first, windows) { return false }
        if let plan = plan(affiliate: affiliate), !plan.reserve(from: first, windows) {
            offer?.release(from: first, windows)
            return false
        }
        return true
    }

    /// Counts a recorded unit at start-up.
    func replay(_ first: CapCounter, affiliate: UInt32, timeMillis: Int64) {
        let windows = zone.windows(timeMillis)
        offer?.replay(from: first, windows)
        plan(affiliate: affiliate)?.replay(from: first, windows)
    }
}

/// An offer's targeting, matched against a click's enrichment without allocating.
struct Targeting: Sendable {
    /// Country codes as records keep them (first letter in the low byte).
    let countries: [UInt16]
    let excluded: [UInt16]
    /// Bit `ClickDevice.rawValue` set for each allowed device type; 0: any.
    let deviceMask: UInt8
    /// OS family names, lower case.
    let os: [[UInt8]]
    let isEmpty: Bool

    init(_ config: TargetingConfig) {
        func pack(_ code: String) -> UInt16 { let b = Array(code.utf8); return UInt16(b[0]) | UInt16(b[1]) << 8 }
        countries = config.countries.map(pack)
        excluded = config.excludeCountries.map(pack)
        var mask: UInt8 = 0
        for name in config.devices {
            if let device = ClickDevice.allCases.first(where: { "\($0.name)" == name }) { mask |= 1 << device.rawValue }
        }
        deviceMask = mask
        os = config.os.map { Array($0.lowercased().utf8) }
        isEmpty = config.isEmpty
    }

    /// Why the click does not match, or `.none`.
    func mismatch(_ facts: ClickFacts) -> TrafficReason {
        let country = facts.head.country
        if !countries.isEmpty && !countries.contains(country) { return .geo }
        if excluded.contains(country) && country != 0 { return .geo }
        if deviceMask != 0 && deviceMask & (1 << facts.head.device.rawValue) == 0 { return .device }
        if !os.isEmpty && !os.contains(where: { Targeting.equalFolded($0, facts.os) }) { return .os }
        return .none
    }

    static func equalFolded(_ lower: [UInt8], _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard lower.count == bytes.count else { return false }
        for i in 0..<lower.count {
            var b = bytes[i]
            if b >= 0x41 && b <= 0x5A { b |= 0x20 }
            if b != lower[i] { return false }
        }
        return true
    }
}
