// An offer's traffic rules as the click and postback paths read them (issue 14): its caps (limits
// plus the shared counter lines, CapCounters.swift), its time zone (CapZone.swift), and its
// targeting. Built when the catalog is compiled; immutable after.
import TrackstarCore
import TrackstarConfiguration
import TrackstarExport
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

/// One cap key's limits (UInt64.max: none) and its counter line.
struct CapPlan: @unchecked Sendable {
    let line: CapLine
    /// Limits in `CapCounter` order.
    let limits: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    /// Bit `CapCounter.rawValue` set for each counter with a limit.
    let setCaps: UInt8
    var hasClickCaps: Bool { setCaps & 0b000_111 != 0 }
    var hasConversionCaps: Bool { setCaps & 0b111_000 != 0 }

    init(_ config: CapLimits, line: CapLine) {
        let l = config.ordered.map { $0 ?? .max }
        limits = (l[0], l[1], l[2], l[3], l[4], l[5])
        var setCaps: UInt8 = 0
        for (i, limit) in l.enumerated() where limit != .max { setCaps |= 1 << UInt8(i) }
        self.setCaps = setCaps
        self.line = line
    }

    @inline(__always)
    func limit(_ counter: CapCounter) -> UInt64 { limit(at: counter.rawValue) }

    @inline(__always)
    func limit(at index: Int) -> UInt64 {
        switch index {
        case 0: limits.0
        case 1: limits.1
        case 2: limits.2
        case 3: limits.3
        case 4: limits.4
        default: limits.5
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
    /// refusal gives back what it took. True when every cap took it. Written out per counter (not a
    /// loop over `CapCounter`): with `first` a constant at the call, only the set caps cost anything.
    @inline(__always)
    func reserve(from first: CapCounter, _ windows: (day: UInt64, month: UInt64)) -> Bool {
        let base = first.rawValue
        let bits = setCaps >> UInt8(base)
        if bits & 1 != 0 && !line.reserve(at: base, window: windows.day, limit: limit(at: base)) { return false }
        if bits & 2 != 0 && !line.reserve(at: base + 1, window: windows.month, limit: limit(at: base + 1)) {
            if bits & 1 != 0 { line.release(at: base, window: windows.day) }
            return false
        }
        if bits & 4 != 0 && !line.reserve(at: base + 2, window: 0, limit: limit(at: base + 2)) {
            if bits & 1 != 0 { line.release(at: base, window: windows.day) }
            if bits & 2 != 0 { line.release(at: base + 1, window: windows.month) }
            return false
        }
        return true
    }

    /// Gives back the units of every set cap of the three counters from `first`.
    func release(from first: CapCounter, _ windows: (day: UInt64, month: UInt64)) {
        for i in 0..<3 {
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
    /// `affiliateIDs.count`, read without touching the array on the click path.
    let affiliateCount: Int
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
        affiliateCount = affiliateIDs.count
        hasClickCaps = (offer?.hasClickCaps ?? false) || affiliatePlans.contains { $0.hasClickCaps }
        hasConversionCaps = (offer?.hasConversionCaps ?? false) || affiliatePlans.contains { $0.hasConversionCaps }
    }

    @inline(__always)
    func plan(affiliate: UInt32) -> CapPlan? {
        if affiliateCount == 0 { return nil }
        var i = 0
        while i < affiliateIDs.count {
            if affiliateIDs[i] == affiliate { return affiliatePlans[i] }
            i += 1
        }
        return nil
    }

    /// Takes one click (or conversion, from `.dailyConversions`) of the offer's and the affiliate's
    /// caps at `nowMillis`, all or nothing.
    @inline(__always)
    func take(_ first: CapCounter, affiliate: UInt32, nowMillis: Int64) -> Bool {
        let windows = zone.windows(nowMillis)
        if let offer, !offer.reserve(from: first, windows) { return false }
        if let plan = plan(affiliate: affiliate), !plan.reserve(from: first, windows) {
            offer?.release(from: first, windows)
            return false
        }
        return true
    }

    /// Counts a recorded unit at start-up (old instants: the zone's hint is left alone).
    func replay(_ first: CapCounter, affiliate: UInt32, timeMillis: Int64) {
        let windows = zone.slowWindows(timeMillis)
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
