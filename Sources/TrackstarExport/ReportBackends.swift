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
    }

    public func intDiv(_ column: String, _ divisor: Int64) -> String { "(\(column) / \(divisor))" }
    public var tableSuffix: String { "" }
    public func table(_ name: String) -> String { name }
    public func query(_ sql: String) throws(ExportError) -> [[String?]] { try database.rows(sql) }
}

#if canImport(Glibc)
import Glibc
#endif

extension SQLiteReportBackend {
    static func exists(_ path: String) -> Bool { Glibc.access(path, F_OK) == 0 }
}
