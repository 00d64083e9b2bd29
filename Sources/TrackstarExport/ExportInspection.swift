// Export lag for `trackstar inspect`, read offline: the positions the reporting store committed,
// against the records in the logs.
import TrackstarCore
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

/// Offline export status of a data dir.
public enum ExportInspection {
    /// Lines saying, per shard, how many records of each log are not yet in the reporting store.
    /// With `config` nil (inspect knows only the data dir) the SQLite store in the data dir is read.
    public static func lines(dataDir: String, clicks: [RecordTable], conversions: [RecordTable], refusals: [RecordTable],
                             config: ExportConfig? = nil) -> [String] {
        let config = config ?? ExportConfig()
        let committed: [ExportPosition]
        let label: String
        do {
            switch config.sink {
            case .none: return ["export: off ([export] sink = \"none\")"]
            case .sqlite:
                let path = SQLiteSink.path(dataDir: dataDir)
                label = "SQLite \(path)"
                guard Glibc.access(path, F_OK) == 0 else { return ["export: no \(path) (export has not run, or it goes elsewhere)"] }
                committed = try SQLiteSink.positions(SQLiteSink.openForReading(path))
            case .clickhouse:
                let sink = try ClickHouseSink(config: config)
                label = sink.label
                committed = try sink.positions()
            }
        } catch {
            return ["export: cannot read the committed positions: \(error)"]
        }
        let source = ExportSource(clicks: clicks, conversions: conversions, refusals: refusals,
                                  clickIDText: { _, _, _ in "" }, eventName: { _, _ in "" })
        let positions = committed.normalized(shards: source.shardCount)
        var lines: [String] = []
        var total: UInt64 = 0
        var oldest: Int64?
        for position in positions {
            let behind = LogKind.allCases.map { kind -> UInt64 in
                let published = source.published(kind, shard: position.shard)
                guard published > position[kind].records else { return 0 }
                if let time = source.timeMillis(kind, shard: position.shard, sequence: position[kind].records) { oldest = min(oldest ?? time, time) }
                return published - position[kind].records
            }
            total += behind.reduce(0, +)
            lines.append("  shard \(position.shard): exported \(position.clicks.records) clicks, \(position.conversions.records) conversions, "
                + "\(position.refusals.records) refusals; not yet: \(behind[0]), \(behind[1]), \(behind[2])")
        }
        let age = oldest.map { "; the oldest is \(max(0, WallClock.nowMillis() - $0) / 1000) s old" } ?? ""
        return ["export to \(label): \(total) records not yet exported\(age)"] + lines
    }
}
