// The configured bot rules, compiled once: lower-cased user-agent substrings grouped by first byte,
// listed networks as sorted, merged 128-bit ranges, listed ASNs sorted. `check` answers the first rule
// that names a click a bot, in the order of `BotReason`, without allocating.
import TrackstarCore
import TrackstarConfiguration

/// Compiled bot rules; immutable, shareable across loops.
public struct BotRules: Sendable {
    private let substrings: AgentSubstrings
    private let networks: [AddressRange]
    private let asns: [UInt32]
    /// Whether the location database's anonymous-proxy flag makes a click a bot.
    public let anonymousProxyIsBot: Bool
    /// The substrings as configured (a reload keeps the loops' agent caches only when these are equal).
    public let userAgentSubstrings: [String]

    /// Compiles the rules. `substrings` match case-insensitively (ASCII) anywhere in the agent;
    /// `cidrs` are "10.0.0.0/8", "192.0.2.7" or "2001:db8::/32". Throws an `EnrichError` naming the
    /// first bad entry (an empty substring, a malformed network, ASN 0).
    public init(substrings: [String], cidrs: [String], asns: [UInt32], anonymousProxyIsBot: Bool) throws {
        for (index, text) in substrings.enumerated() where text.isEmpty {
            throw EnrichError("bot user-agent substring [\(index)] is empty, which would match every agent; remove it")
        }
        var ranges: [AddressRange] = []
        for (index, text) in cidrs.enumerated() {
            switch ConfigParse.cidr(text) {
            case .success(let network): ranges.append(AddressRange(network))
            case .failure(let error): throw EnrichError("bot network [\(index)]: \(error.message)")
            }
        }
        if let index = asns.firstIndex(of: 0) {
            throw EnrichError("bot ASN [\(index)] is 0, which is no autonomous system; write its number, e.g. 16509")
        }
        self.substrings = AgentSubstrings(substrings)
        self.userAgentSubstrings = substrings
        self.networks = AddressRange.merged(ranges)
        self.asns = Array(Set(asns)).sorted()
        self.anonymousProxyIsBot = anonymousProxyIsBot
    }

    /// No rules beyond the fixed ones (empty agent, spider).
    public static let none = try! BotRules(substrings: [], cidrs: [], asns: [], anonymousProxyIsBot: false)

    /// Why this click is a bot, or `.none`: empty agent, uap-core spider, listed substring, listed
    /// network, listed ASN, anonymous proxy (when configured), in that order.
    public func check(ua: UnsafeRawBufferPointer, device: DeviceAnswer, geo: GeoAnswer, high: UInt64, low: UInt64) -> BotReason {
        if ua.isEmpty { return .emptyUserAgent }
        if device.spider { return .spider }
        return checkAddress(listedSubstring: substrings.found(in: ua), geo: geo, high: high, low: low)
    }

    /// The same from the agent's cached answer (`UserAgentCache.lookup`, a cache made with these
    /// rules): the substring scan was done once, when the agent was first seen.
    @inline(__always)
    public func check(agent: AgentAnswer, geo: GeoAnswer, high: UInt64, low: UInt64) -> BotReason {
        if agent.empty { return .emptyUserAgent }
        if agent.device.spider { return .spider }
        return checkAddress(listedSubstring: agent.listedSubstring, geo: geo, high: high, low: low)
    }

    /// Whether one of the substrings occurs in `ua` (ASCII case-insensitive).
    public func listsSubstring(in ua: UnsafeRawBufferPointer) -> Bool { substrings.found(in: ua) }

    @inline(__always)
    private func checkAddress(listedSubstring: Bool, geo: GeoAnswer, high: UInt64, low: UInt64) -> BotReason {
        if listedSubstring { return .userAgentSubstring }
        if !networks.isEmpty, AddressRange.contains(networks, high: high, low: low) { return .listedNetwork }
        if geo.asn != 0, !asns.isEmpty, Self.contains(asns, geo.asn) { return .listedASN }
        if anonymousProxyIsBot, geo.flags.contains(.anonymousProxy) { return .anonymousProxy }
        return .none
    }

    private static func contains(_ sorted: [UInt32], _ value: UInt32) -> Bool {
        sorted.withUnsafeBufferPointer { items in
            var low = 0, high = items.count
            while low < high {
                let middle = (low + high) >> 1
                if items[middle] < value { low = middle + 1 } else { high = middle }
            }
            return low < items.count && items[low] == value
        }
    }
}

/// An inclusive range of 128-bit addresses (IPv4 IPv4-mapped), compared as (high, low) pairs.
struct AddressRange: Sendable, Equatable {
    var firstHigh: UInt64, firstLow: UInt64, lastHigh: UInt64, lastLow: UInt64

    init(firstHigh: UInt64, firstLow: UInt64, lastHigh: UInt64, lastLow: UInt64) {
        self.firstHigh = firstHigh; self.firstLow = firstLow; self.lastHigh = lastHigh; self.lastLow = lastLow
    }

    /// The addresses of `network`.
    init(_ network: CIDR) {
        let prefix = network.prefixLength
        let highMask: UInt64 = prefix >= 64 ? .max : (prefix == 0 ? 0 : ~(UInt64.max >> UInt64(prefix)))
        let lowMask: UInt64 = prefix <= 64 ? 0 : (prefix >= 128 ? .max : ~(UInt64.max >> UInt64(prefix - 64)))
        firstHigh = network.address.0 & highMask
        firstLow = network.address.1 & lowMask
        lastHigh = firstHigh | ~highMask
        lastLow = firstLow | ~lowMask
    }

    private static func less(_ aHigh: UInt64, _ aLow: UInt64, _ bHigh: UInt64, _ bLow: UInt64) -> Bool {
        aHigh < bHigh || (aHigh == bHigh && aLow < bLow)
    }

    /// Sorted by first address, overlapping and adjacent ranges joined.
    static func merged(_ ranges: [AddressRange]) -> [AddressRange] {
        let sorted = ranges.sorted { less($0.firstHigh, $0.firstLow, $1.firstHigh, $1.firstLow) }
        var result: [AddressRange] = []
        for range in sorted {
            if var last = result.last {
                // Joins when range.first <= last.last + 1 (the sum carried by hand; the top address
                // has no successor and joins everything after it).
                let (nextLow, carry) = last.lastLow.addingReportingOverflow(1)
                let nextHigh = last.lastHigh &+ (carry ? 1 : 0)
                let atTop = last.lastHigh == .max && last.lastLow == .max
                let touches = atTop || !less(nextHigh, nextLow, range.firstHigh, range.firstLow)
                if touches {
                    if less(last.lastHigh, last.lastLow, range.lastHigh, range.lastLow) {
                        last.lastHigh = range.lastHigh; last.lastLow = range.lastLow
                    }
                    result[result.count - 1] = last
                    continue
                }
            }
            result.append(range)
        }
        return result
    }

    /// Whether any of `sorted` (merged) holds the address: the last range starting at or before it.
    static func contains(_ sorted: [AddressRange], high: UInt64, low: UInt64) -> Bool {
        sorted.withUnsafeBufferPointer { ranges in
            var lowIndex = 0, highIndex = ranges.count
            while lowIndex < highIndex {
                let middle = (lowIndex + highIndex) >> 1
                if less(high, low, ranges[middle].firstHigh, ranges[middle].firstLow) { highIndex = middle } else { lowIndex = middle + 1 }
            }
            guard lowIndex > 0 else { return false }
            let range = ranges[lowIndex - 1]
            return !less(range.lastHigh, range.lastLow, high, low)
        }
    }
}
