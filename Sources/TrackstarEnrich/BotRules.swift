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
