// Why a click counts as a bot, in one byte for the click record, with the name reports and the
// reporting feed use.

/// The first rule that named a click a bot, or `.none`.
public enum BotReason: UInt8, Sendable, CaseIterable {
    /// Not a bot.
    case none = 0
    /// The User-Agent header is missing or empty.
    case emptyUserAgent = 1
    /// uap-core names the agent a spider.
    case spider = 2
    /// The agent contains one of the configured substrings.
    case userAgentSubstring = 3
    /// The address is in one of the configured networks (CIDRs).
    case listedNetwork = 4
    /// The address's autonomous system is one of the configured ASNs.
    case listedASN = 5
    /// The location database flags the address as an anonymous proxy (when configured to count).
    case anonymousProxy = 6

    /// The name in records and reports: "none", "empty_user_agent", "spider", "user_agent_substring",
    /// "listed_network", "listed_asn", "anonymous_proxy".
    public var name: String {
        switch self {
        case .none: "none"
        case .emptyUserAgent: "empty_user_agent"
        case .spider: "spider"
        case .userAgentSubstring: "user_agent_substring"
        case .listedNetwork: "listed_network"
        case .listedASN: "listed_asn"
        case .anonymousProxy: "anonymous_proxy"
        }
    }

    /// The reason with this `name`, or nil.
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }
}
