// The traffic-control part of the configuration model (issue 14): caps per offer and per offer and
// affiliate, targeting, trafficback destinations and smart links. The loader is
// ConfigLoader+Traffic.swift; the runtime is TrackstarServer's Caps*/Targeting/Trafficback/SmartLinks.

/// `[offers.caps]` (and each `[[offers.affiliate_caps]]`): how many clicks and conversions may pass
/// per day and per month (in the offer's `timezone`) and in total. nil: no cap.
public struct CapLimits: Sendable, Equatable {
    public var dailyClicks: UInt64? = nil
    public var dailyConversions: UInt64? = nil
    public var monthlyClicks: UInt64? = nil
    public var monthlyConversions: UInt64? = nil
    public var totalClicks: UInt64? = nil
    public var totalConversions: UInt64? = nil
    /// Source line of the table, for messages.
    public var line: Int = 0
    public init() {}

    /// The configuration keys, in the order the runtime keeps the counters.
    public static let keys = ["daily_clicks", "monthly_clicks", "total_clicks", "daily_conversions", "monthly_conversions", "total_conversions"]

    /// The limits in `keys` order.
    public var ordered: [UInt64?] { [dailyClicks, monthlyClicks, totalClicks, dailyConversions, monthlyConversions, totalConversions] }

    /// True when no cap is set.
    public var isEmpty: Bool { ordered.allSatisfy { $0 == nil } }

    /// Sets the limit named `key` (one of `keys`).
    public mutating func set(_ key: String, _ value: UInt64) {
        switch key {
        case "daily_clicks": dailyClicks = value
        case "monthly_clicks": monthlyClicks = value
        case "total_clicks": totalClicks = value
        case "daily_conversions": dailyConversions = value
        case "monthly_conversions": monthlyConversions = value
        default: totalConversions = value
        }
    }
}

/// `[[offers.affiliate_caps]]`: caps of one affiliate's traffic to the offer.
public struct AffiliateCapConfig: Sendable, Equatable {
    public var affID: UInt32
    public var limits: CapLimits
    public init(affID: UInt32, limits: CapLimits) { self.affID = affID; self.limits = limits }
}

/// An offer's targeting: which clicks it takes (`countries`, `exclude_countries`, `devices`, `os`).
/// Empty lists allow everything.
public struct TargetingConfig: Sendable, Equatable {
    /// ISO 3166 two-letter codes, upper case.
    public var countries: [String] = []
    public var excludeCountries: [String] = []
    /// Device types: desktop, mobile, tablet, tv, bot, other.
    public var devices: [String] = []
    /// OS family names as uap-core names them ("iOS", "Android", "Windows", "Mac OS X", "Linux"…),
    /// compared without regard to case.
    public var os: [String] = []
    public init() {}
    public var isEmpty: Bool { countries.isEmpty && excludeCountries.isEmpty && devices.isEmpty && os.isEmpty }
    public static let deviceNames = ["desktop", "mobile", "tablet", "tv", "bot", "other"]
}

/// `[[smartlinks]]`: one link in front of several offers.
public struct SmartLinkConfig: Sendable, Equatable {
    public var id: UInt32 = 0
    /// The path segment of `GET /s/{slug}`: 1 to 64 of A-Z a-z 0-9 _ -.
    public var slug: String = ""
    public var offers: [SmartLinkOfferConfig] = []
    /// Where a click goes when no offer is eligible (else the affiliate's, else the server's).
    public var trafficbackURL: String? = nil
    public var line: Int = 0
    public init() {}
}

/// One entry of a smart link's `offers`: the offer, its weight and its priority (lower first;
/// entries of the best priority with an eligible offer share the traffic by weight).
public struct SmartLinkOfferConfig: Sendable, Equatable {
    public var offerID: UInt32
    public var weight: UInt32
    public var priority: Int
    public var line: Int
    public init(offerID: UInt32, weight: UInt32, priority: Int = 0, line: Int = 0) {
        self.offerID = offerID; self.weight = weight; self.priority = priority; self.line = line
    }
}
