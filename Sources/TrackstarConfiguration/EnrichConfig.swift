// `[geo]`, `[bots]` and `[privacy]`, and each offer's `bot_action` and `unique_window`: what a click
// is enriched with (country and network, device, bot reason, unique flag), and what of it is kept
// for how long. The loader (ConfigLoader+Enrich) builds these; the server opens the files they name.

import TrackstarCore

/// `[geo] database`: where a click's country and network come from.
public enum GeoDatabaseKind: String, Sendable, Equatable {
    /// IPFire's location database through libloc (Debian `libloc-database`): country, ASN, flags.
    case libloc
    /// A MaxMind-format `.mmdb` file (GeoLite2 or a commercial one).
    case mmdb
    /// No geo lookup: clicks carry no country or ASN.
    case off
}

/// `[geo]`: the location database.
public struct GeoConfig: Sendable, Equatable {
    public var database: GeoDatabaseKind = .libloc
    /// The database file; nil: the kind's default (`defaultLibLocPath` for libloc; mmdb needs one).
    public var path: String? = nil
    /// Line of `path` (or of `[geo]`), for start-up errors about the file.
    public var line: Int = 0
    /// Where Debian's `libloc-database` installs IPFire's database.
    public static let defaultLibLocPath = "/var/lib/location/database.db"
    public init() {}

    /// The file to open, or nil when geo is off.
    public var resolvedPath: String? {
        switch database {
        case .off: nil
        case .libloc: path ?? GeoConfig.defaultLibLocPath
        case .mmdb: path
        }
    }
}

/// `[bots]`: what makes a click a bot besides an empty user agent and uap-core's spiders.
public struct BotConfig: Sendable, Equatable {
    /// A user agent containing any of these (ASCII case-insensitive) is a bot.
    public var userAgentSubstrings: [String] = []
    /// Client addresses in these networks are bots (as written: "203.0.113.0/24", validated).
    public var networks: [String] = []
    /// Client addresses the location database places in these autonomous systems are bots.
    public var asns: [UInt32] = []
    /// Whether the location database's anonymous-proxy flag makes a click a bot.
    public var anonymousProxy = true
    /// Where to find uap-core's rules (Debian `uap-core`).
    public var userAgentRegexes = BotConfig.defaultRegexesPath
    public static let defaultRegexesPath = "/usr/share/uap-core/regexes.yaml"
    /// Line of `[bots]` (or 0), for start-up errors about the regex file.
    public var line: Int = 0
    public init() {}
}

/// `[privacy] anonymize_ip`.
public enum IPAnonymization: String, Sendable, Equatable {
    /// Addresses are stored as received.
    case none
    /// IPv4 cut to its /24, IPv6 to its /48 before anything is written.
    case truncate
}

/// `[privacy]`: personal data kept with clicks.
public struct PrivacyConfig: Sendable, Equatable {
    public var anonymizeIP: IPAnonymization = .none
    /// After this long, a click's client address and user agent are wiped from the logs (counts,
    /// country, network and device stay); nil keeps them as long as the click.
    public var personalDataRetentionMillis: Int64? = nil
    public init() {}
}

/// An offer's `bot_action`: what a click flagged as a bot gets.
public enum BotAction: String, Sendable, Equatable {
    /// Recorded (with its bot reason) and redirected like any click.
    case flag
    /// Redirected to the offer's fallback URL without a click ID; not recorded (counted).
    case fallback
    /// Answered 404; nothing recorded but a counter.
    case refuse
}

extension OfferConfig {
    /// The default `unique_window`: 24 hours.
    public static let defaultUniqueWindowMillis: Int64 = 86_400_000
}
