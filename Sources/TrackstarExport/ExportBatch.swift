// A batch: contiguous ranges of records from the logs, and the positions committing them. Planning is
// pure (counts in, ranges out) so the rules — size cap, fairness across logs — are unit-tested alone.
import TrackstarStore

/// A contiguous run of one shard's log.
public struct LogSpan: Sendable, Equatable {
    public var shard: Int
    public var kind: LogKind
    public var range: Range<UInt64>
    public init(shard: Int, kind: LogKind, range: Range<UInt64>) { self.shard = shard; self.kind = kind; self.range = range }
}

/// Rows to write, and the positions the sink commits with them.
public struct ExportBatch: Sendable {
    /// Ranges of records, at most one per (shard, log).
    public var spans: [LogSpan]
    /// The positions after this batch, for every shard the batch touches.
    public var positions: [ExportPosition]
    /// Records covered (records that are unavailable, such as quarantined ones, count but write no row).
    public var records: Int { spans.reduce(0) { $0 + $1.range.count } }
    public init(spans: [LogSpan], positions: [ExportPosition]) { self.spans = spans; self.positions = positions }
}

/// Decides what the next batch holds.
public enum BatchPlanner {
    /// Spans from `committed` up to `published` (indexed [shard][kind]), at most `limit` records in all.
    /// The (shard, log) pairs are visited starting at `rotation`, so a busy log cannot starve the others.
    public static func spans(committed: [ExportPosition], published: [[UInt64]], limit: Int, rotation: Int = 0) -> [LogSpan] {
        let streams = committed.flatMap { position in LogKind.allCases.map { (position.shard, $0) } }
        guard !streams.isEmpty else { return [] }
        var spans: [LogSpan] = []
        var room = UInt64(max(0, limit))
        for step in 0..<streams.count where room > 0 {
            let (shard, kind) = streams[(rotation + step) % streams.count]
            let from = committed[shard][kind].records
            let to = published[shard][kind.rawValue]
            guard to > from else { continue }
            let end = from + min(room, to - from)
            spans.append(LogSpan(shard: shard, kind: kind, range: from..<end))
            room -= end - from
        }
        return spans.sorted { ($0.shard, $0.kind) < ($1.shard, $1.kind) }
    }

    /// Records published but not yet committed, in all.
    public static func pending(committed: [ExportPosition], published: [[UInt64]]) -> UInt64 {
        var total: UInt64 = 0
        for position in committed {
            for kind in LogKind.allCases {
                let to = published[position.shard][kind.rawValue], from = position[kind].records
                if to > from { total += to - from }
            }
        }
        return total
    }

    /// The positions after `spans`: records at each span's end, bytes at the end of its last available record.
    public static func positions(after spans: [LogSpan], from committed: [ExportPosition],
                                 byteEnd: (LogKind, Int, UInt64) -> UInt64?) -> [ExportPosition] {
        var touched: [Int: ExportPosition] = [:]
        for span in spans {
            var position = touched[span.shard] ?? committed[span.shard]
            var bytes = position[span.kind].bytes
            var sequence = span.range.upperBound
            while sequence > span.range.lowerBound {
                sequence -= 1
                if let end = byteEnd(span.kind, span.shard, sequence) { bytes = max(bytes, end); break }
            }
            position[span.kind] = LogPosition(records: span.range.upperBound, bytes: bytes)
            touched[span.shard] = position
        }
        return touched.values.sorted { $0.shard < $1.shard }
    }
}
