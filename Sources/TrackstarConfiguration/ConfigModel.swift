// The validated configuration model: what `trackstar serve` runs on and `check-config` checks.
// Values here are already parsed and range-checked; the TOML loader (ConfigLoader) builds them.

import TrackstarCore

/// Money in millionths of a currency unit, so sums never drift as floating point would.
public typealias Micros = Int64

/// The whole configuration of one Trackstar node.
public struct TrackstarConfig: Sendable, Equatable {
    public var server = ServerConfig()
    public var storage = StorageConfig()
    public var export = ExportConfig()
    public var log = LogConfig()
    public var admin = AdminConfig()
    public var offers: [OfferConfig] = []
    public var affiliates: [AffiliateConfig] = []
    public var delivery = DeliveryConfig()
    public var postbacks: [PostbackRuleConfig] = []
    /// `[[postback_profiles]]`: the sender profiles this configuration defines (built-ins need none).
    public var postbackProfiles: [PostbackProfileConfig] = []
    /// Click enrichment: location database, bot rules, personal data (EnrichConfig.swift).
    public var geo = GeoConfig()
    public var bots = BotConfig()
    public var privacy = PrivacyConfig()
    /// `[[smartlinks]]`: links in front of several offers (TrafficConfig.swift).
    public var smartlinks: [SmartLinkConfig] = []
    public init() {}
}

/// `[server]`: the listener, its loops and the HTTP limits.
public struct ServerConfig: Sendable, Equatable {
    /// Listen address; an IPv6 host is written in brackets in the file (`[::1]:8080`).
    public var host = "127.0.0.1"
    public var port: UInt16 = 8080
    /// Event loops (threads); `nil` means one per core.
    public var loops: Int? = nil
    /// This node's id (0...255), carried in every click ID so a cluster can route postbacks.
    public var nodeID: Int = 0
    public var maxConnections = 10_000
    public var maxRequestLineBytes = 8192
    public var maxHeaderBytes = 16_384
    public var maxHeaderCount = 64
    public var maxBodyBytes = 65_536
    /// Longest accepted parameter value, in decoded bytes (sub1…sub5, aff_click_id, source, txid…).
    public var maxValueBytes = 256
    public var idleTimeoutMillis: Int64 = 60_000
    public var headerTimeoutMillis: Int64 = 10_000
    /// Proxies (CIDRs) whose `X-Forwarded-For` / `Forwarded` headers name the real client.
    public var trustedProxies: [CIDR] = []
    /// How the loops receive: io_uring where the kernel allows it (`auto`), or one of the two always.
    public var io: ServerIO = .auto
    /// The sender profile of offers that name none (`[server] postback_profile`).
    public var postbackProfile = PostbackProfiles.defaultName
    /// Where a click goes when neither its offer nor its affiliate has a trafficback destination.
    public var trafficbackURL: String? = nil
    public init() {}
}


/// `[storage]`: where data lives and how large the in-memory indexes are.
public struct StorageConfig: Sendable, Equatable {
    public var dataDir = "./data"
    /// Memory guard of the conversion index: its generations together hold at most twice this many
    /// entries (16 bytes each); beyond, postbacks are refused loudly (`507 index_full`).
    public var maxConversions = 1 << 26
    /// Entries of the conversion index's first generation; it grows online from there.
    public var indexInitialCapacity = 1 << 20
    /// Clicks (distinct offer, address and agent) within the longest `unique_window` the unique-click
    /// index is sized for up front, at about 14 bytes each; beyond, clicks count as unique (metered).
    public var uniqueClicksPerWindow = 1 << 22
    /// How long an order id (txid) stays known per offer, unless the offer sets its own `txid_window`.
    public var txidWindowMillis: Int64 = 90 * 86_400_000
    /// When appended records are forced to disk (as Redis's `appendfsync`).
    public var fsync: FsyncPolicy = .interval
    public var fsyncIntervalMillis: Int64 = 1000
    /// How often a snapshot manifest is written (and on clean shutdown).
    public var snapshotIntervalMillis: Int64 = 10_000
    /// Click segments are removed once every click in them is older than the longest
    /// `click_lifetime` plus this grace (and every consumer has read them).
    public var retentionGraceMillis: Int64 = 86_400_000
    public init() {}
}

/// `[storage] fsync`: what a machine crash may lose.
public enum FsyncPolicy: String, Sendable, Equatable {
    /// Group commit: a loop holds one iteration's answers until that iteration's fsync returns.
    case always
    /// fsync every `fsync_interval` off the loops: a machine crash loses at most that much.
    case interval
    /// Leave write-back to the kernel (a process crash still loses nothing).
    case none
}

/// Whether an offer takes traffic.
public enum OfferStatus: String, Sendable, Equatable { case active, paused }

/// Whether an affiliate may send traffic.
public enum AffiliateStatus: String, Sendable, Equatable { case active, paused }

/// Per-event payout and revenue (`[offers.events.NAME]`).
public struct EventConfig: Sendable, Equatable {
    public var name: String
    public var payout: Micros
    public var revenue: Micros
    public init(name: String, payout: Micros, revenue: Micros) {
        self.name = name; self.payout = payout; self.revenue = revenue
    }
}

/// An IPv4 or IPv6 network; IPv4 is held as an IPv4-mapped IPv6 address (::ffff:a.b.c.d).
public struct CIDR: Sendable, Equatable {
    public var address: (UInt64, UInt64)
    public var prefixLength: Int
    public init(address: (UInt64, UInt64), prefixLength: Int) {
        self.address = address; self.prefixLength = prefixLength
    }
    public static func == (a: CIDR, b: CIDR) -> Bool {
        a.address == b.address && a.prefixLength == b.prefixLength
    }
}

/// `[[offers]]`: one advertiser offer.
public struct OfferConfig: Sendable, Equatable {
    public var id: UInt32
    public var name: String = ""
    /// Landing page template with macros such as `{click_id}`.
    public var url: String
    public var fallbackURL: String? = nil
    public var status: OfferStatus = .active
    public var clickLifetimeMillis: Int64 = 30 * 86_400_000
    /// How long this offer's order ids stay known; nil: `[storage] txid_window`.
    public var txidWindowMillis: Int64? = nil
    public var minConversionDelayMillis: Int64 = 0
    public var multipleConversions = false
    public var token: String? = nil
    public var allowedIPs: [CIDR] = []
    public var currency = "USD"
    public var payout: Micros = 0
    public var revenue: Micros = 0
    /// Named events with their own payout and revenue; the default event is `conversion`.
    public var events: [EventConfig] = []
    /// The sender profile its postbacks are read with; nil: `[server] postback_profile`.
    public var postbackProfile: String? = nil
    /// What a click flagged as a bot gets (`bot_action`).
    public var botAction: BotAction = .flag
    /// A click is unique when no click from the same address and user agent reached this offer
    /// within this long (`unique_window`).
    public var uniqueWindowMillis: Int64 = OfferConfig.defaultUniqueWindowMillis
    /// `[offers.caps]` and `[[offers.affiliate_caps]]` (TrafficConfig.swift).
    public var caps = CapLimits()
    public var affiliateCaps: [AffiliateCapConfig] = []
    /// `countries`, `exclude_countries`, `devices`, `os`.
    public var targeting = TargetingConfig()
    /// Where a click this offer cannot take goes: another offer (whose own rules apply), else a URL.
    public var redirectOfferID: UInt32? = nil
    public var redirectOfferLine: Int = 0
    public var trafficbackURL: String? = nil
    /// The tz database zone its caps count days and months in (`timezone`).
    public var timezone = "UTC"
    /// At most this many `[offers.events.*]` tables: with `conversion` that makes 256 events, and a
    /// conversion record holds its event's index in one byte.
    public static let maxEvents = 255
    /// Source line of the `[[offers]]` header, for messages about this offer.
    public var line: Int = 0
    public init(id: UInt32, url: String) { self.id = id; self.url = url }
}

/// `[[affiliates]]`: one publisher.
public struct AffiliateConfig: Sendable, Equatable {
    public var id: UInt32
    public var name: String = ""
    public var status: AffiliateStatus = .active
    public var postbackURL: String? = nil
    /// Where a reversal (approved → rejected) of a conversion whose approval this affiliate is sent
    /// goes instead of `postbackURL` (`reversal_url`; nil: reversals follow `postback_statuses`).
    public var reversalURL: String? = nil
    /// Conversion statuses that fire this affiliate's postback.
    public var postbackStatuses: [PostbackStatus] = [.approved]
    /// How long after the conversion its postback is first sent.
    public var postbackDelayMillis: Int64 = 0
    /// Where this affiliate's clicks go when their offer cannot take them and has no destination.
    public var trafficbackURL: String? = nil
    public var line: Int = 0
    public init(id: UInt32) { self.id = id }
}

/// One problem found in a configuration file, with the line it is on (0 when it has none).
public struct ConfigProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public init(line: Int, message: String) { self.line = line; self.message = message }
    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}
