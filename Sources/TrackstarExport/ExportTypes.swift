// The vocabulary of the reporting feed: which log a row comes from, how far each shard's logs have
// been exported, and the errors sinks report.
import TrackstarCore
import TrackstarStore

/// How far one log is exported: records below `records` are in the sink, and arena bytes below
/// `bytes` belong only to exported records (retention may drop segments wholly below both).
public struct LogPosition: Sendable, Equatable {
    public var records: UInt64
    public var bytes: UInt64
    public init(records: UInt64 = 0, bytes: UInt64 = 0) { self.records = records; self.bytes = bytes }
}

/// The committed export positions of one shard's three logs.
public struct ExportPosition: Sendable, Equatable {
    public var shard: Int
    public var clicks = LogPosition()
    public var conversions = LogPosition()
    public var refusals = LogPosition()
    public init(shard: Int) { self.shard = shard }

    /// The position of one log.
    public subscript(kind: LogKind) -> LogPosition {
        get {
            switch kind {
            case .clicks: clicks
            case .conversions: conversions
            case .refusals: refusals
            }
        }
        set {
            switch kind {
            case .clicks: clicks = newValue
            case .conversions: conversions = newValue
            case .refusals: refusals = newValue
            }
        }
    }
}

/// Records published but not yet exported, per log, for one shard.
public struct ExportLag: Sendable, Equatable {
    public var shard: Int
    public var clicks: UInt64 = 0
    public var conversions: UInt64 = 0
    public var refusals: UInt64 = 0
    public init(shard: Int) { self.shard = shard }
    /// All three logs together.
    public var total: UInt64 { clicks + conversions + refusals }
}

/// Why an export or report operation failed, said so an operator knows what to do.
public struct ExportError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Array where Element == ExportPosition {
    /// Positions for shards `0..<count`, taking those present in `self` and zero for the rest.
    func normalized(shards count: Int) -> [ExportPosition] {
        var result = (0..<count).map { ExportPosition(shard: $0) }
        for position in self where position.shard >= 0 && position.shard < count { result[position.shard] = position }
        return result
    }
}
