// The SQLite store `trackstar report` reads: report.sqlite (raw rows and roll-ups). The ClickHouse
// backend is in ClickHouseReport.swift.
import TrackstarCore
import TrackstarStore

/// Report queries against `report.sqlite`.
public final class SQLiteReportBackend: ReportBackend {
    let database: SQLiteDatabase
    /// False for a store the exporter has not opened since roll-ups were added (it fills them then).
    public let hasRollups: Bool

    public init(path: String) throws(ExportError) {
        guard SQLiteReportBackend.exists(path) else {
            throw ExportError("no report database at \(path) yet; it is created when `trackstar serve` runs with [export] sink = \"sqlite\"")
        }
        database = try SQLiteDatabase(path: path, busyTimeoutMillis: 10_000)
        hasRollups = try !database.rows("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name = 'rollup_refusals_delete'").isEmpty
        rollupTables = Set(try database.rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rollup%'").compactMap { $0[0] })
        hasBlocks = try SQLiteClickBlocks.hasTable(database, "click_blocks")
        hasClickRows = try SQLiteClickBlocks.hasTable(database, "click_rows")
    }

    /// The roll-up tables of the store (a store the exporter of an earlier version made lacks the
    /// levels added since until the exporter opens it); the figure program takes a level out to time
    /// the reports without it.
    public var rollupTables: Set<String>

    /// Whether clicks are in `click_blocks` (a store the exporter has opened since blocks), and
    /// whether some are still rows from before them (`click_rows`).
    let hasBlocks: Bool, hasClickRows: Bool

    public func intDiv(_ column: String, _ divisor: Int64) -> String { "(\(column) / \(divisor))" }
    public var tableSuffix: String { "" }
    public func table(_ name: String) -> String { name }
    public func query(_ sql: String) throws(ExportError) -> [[String?]] { try database.rows(sql) }

    /// Clicks are read from the blocks without the `clicks` view's UNION (which would make SQLite
    /// extract every column of every click), skipping blocks wholly outside the time range, and from
    /// `click_rows` apart; the report adds the two up.
    public func rawSources(_ kind: LogKind, fromMillis: Int64?, toMillis: Int64?) -> [String] {
        guard kind == .clicks, hasBlocks else { return [kind.name] }
        var blockRange: [String] = []
        if let fromMillis { blockRange.append("b.max_time_ms >= \(fromMillis)") }
        if let toMillis { blockRange.append("b.min_time_ms < \(toMillis)") }
        let blocks = "(" + SQLiteClickBlocks.rowsSQL(where: blockRange.isEmpty ? nil : blockRange.joined(separator: " AND ")) + ")"
        return hasClickRows ? [blocks, "click_rows"] : [blocks]
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension SQLiteReportBackend {
    static func exists(_ path: String) -> Bool { Glibc.access(path, F_OK) == 0 }
}
