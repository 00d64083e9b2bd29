// What a user agent says about the device behind a click: its kind, OS family and browser family (as
// ids into the classifier's name tables), and whether uap-core names it a spider. Six bytes, no String.

/// The kind of device a click came from.
public enum DeviceType: UInt8, Sendable, CaseIterable {
    /// A desktop or laptop operating system (Windows, macOS, Linux, ChromeOS, BSD).
    case desktop = 0
    /// A phone, or a mobile operating system not known to be a tablet.
    case mobile = 1
    /// A tablet (iPad, Android without "Mobile", Kindle, Galaxy Tab and the like).
    case tablet = 2
    /// A television, set-top box or streaming stick.
    case tv = 3
    /// A crawler or other automated client uap-core names a spider.
    case bot = 4
    /// Anything else: consoles, wearables, unknown or empty agents.
    case other = 5

    /// The name used in records, reports and macros: "desktop", "mobile", ...
    public var name: String {
        switch self {
        case .desktop: "desktop"
        case .mobile: "mobile"
        case .tablet: "tablet"
        case .tv: "tv"
        case .bot: "bot"
        case .other: "other"
        }
    }
}

/// The classification of one user agent.
public struct DeviceAnswer: Sendable, Hashable {
    /// The kind of device.
    public var device: DeviceType
    /// OS family id: `UserAgentClassifier.osName(_:)` names it; 0 = "Other".
    public var os: UInt16
    /// Browser family id: `UserAgentClassifier.browserName(_:)` names it; 0 = "Other".
    public var browser: UInt16
    /// uap-core's device parsers name it a spider (its device family is "Spider").
    public var spider: Bool

    /// An answer from its parts.
    public init(device: DeviceType, os: UInt16, browser: UInt16, spider: Bool) {
        self.device = device; self.os = os; self.browser = browser; self.spider = spider
    }

    /// The answer for an agent nothing is known about (and for the empty agent).
    public static let unknown = DeviceAnswer(device: .other, os: 0, browser: 0, spider: false)
}

/// What the per-loop cache keeps about one user agent: its classification and whether it contains
/// one of the configured bot substrings (`BotRules`), so a repeated agent is not scanned again.
public struct AgentAnswer: Sendable, Hashable {
    /// The classification (`.unknown` for the empty agent).
    public var device: DeviceAnswer
    /// The agent contains one of the cache's bot substrings (ASCII case-insensitive).
    public var listedSubstring: Bool
    /// The agent is empty.
    public var empty: Bool

    /// An answer from its parts.
    public init(device: DeviceAnswer, listedSubstring: Bool, empty: Bool = false) {
        self.device = device; self.listedSubstring = listedSubstring; self.empty = empty
    }

    /// The answer for the empty agent.
    public static let emptyAgent = AgentAnswer(device: .unknown, listedSubstring: false, empty: true)
}
