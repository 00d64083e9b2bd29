// The one interface every reader of the engine's logs implements: the reporting exporter, the
// partner dispatcher, and any later consumer. Each keeps its own committed position; the server
// composes a list of feeds, and retention keeps every record that any of them may still read.

/// The three per-shard logs that feeds read.
public enum LogKind: Int, CaseIterable, Sendable, Comparable {
    case clicks = 0, conversions = 1, refusals = 2

    /// The log's name in `export_positions` and in messages.
    public var name: String {
        switch self {
        case .clicks: "clicks"
        case .conversions: "conversions"
        case .refusals: "refusals"
        }
    }

    /// The kind named `name`, if any.
    public init?(name: String) {
        guard let kind = LogKind.allCases.first(where: { $0.name == name }) else { return nil }
        self = kind
    }

    public static func < (a: LogKind, b: LogKind) -> Bool { a.rawValue < b.rawValue }
}

/// For each log and shard, the first record some feed may still read: retention retires only
/// segments wholly below it. `UInt64.max` where nobody depends on the log.
public struct RetentionFloors: Sendable, Equatable {
    public var clicks: [UInt64]
    public var conversions: [UInt64]
    public var refusals: [UInt64]

    /// Floors for `shards` shards, all `value` (`.max`: nothing held).
    public init(shards: Int, value: UInt64 = .max) {
        clicks = Array(repeating: value, count: shards)
        conversions = clicks
        refusals = clicks
    }

    public subscript(log: LogKind, shard: Int) -> UInt64 {
        get {
            switch log {
            case .clicks: shard < clicks.count ? clicks[shard] : .max
            case .conversions: shard < conversions.count ? conversions[shard] : .max
            case .refusals: shard < refusals.count ? refusals[shard] : .max
            }
        }
        set {
            switch log {
            case .clicks: if shard < clicks.count { clicks[shard] = newValue }
            case .conversions: if shard < conversions.count { conversions[shard] = newValue }
            case .refusals: if shard < refusals.count { refusals[shard] = newValue }
            }
        }
    }

    /// Lowers every floor to `other`'s where that is lower (several feeds: the minimum holds).
    public mutating func lower(to other: RetentionFloors) {
        for log in LogKind.allCases {
            for shard in 0..<clicks.count { self[log, shard] = min(self[log, shard], other[log, shard]) }
        }
    }
}

/// A consumer of the engine's logs with committed positions of its own.
///
/// Retention (the snapshot thread) asks every registered feed for its floors and retires only
/// segments wholly below the lowest: a feed that lags, or has not started, holds the records it has
/// not passed. `/metrics` concatenates the feeds' own metrics.
public protocol LogFeed: AnyObject, Sendable {
    /// A short name for logs and errors ("export", "deliveries").
    var feedName: String { get }
    /// The first record of each log and shard this feed may still read (every record below is
    /// durably passed); `.max` for logs the feed does not depend on. Any thread.
    func retentionFloors(shards: Int) -> RetentionFloors
    /// The feed's figures in the Prometheus text format (any thread).
    func metricsText() -> String
    /// Starts the feed's own thread or loop.
    func start() throws
    /// Stops the feed, having committed what it could; waits for it.
    func stop()
}

extension Array where Element == any LogFeed {
    /// The floors every feed in the list respects: the minimum, log by log and shard by shard.
    public func retentionFloors(shards: Int) -> RetentionFloors {
        var floors = RetentionFloors(shards: shards)
        for feed in self { floors.lower(to: feed.retentionFloors(shards: shards)) }
        return floors
    }
}
