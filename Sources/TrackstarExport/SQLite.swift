// A thin wrapper over the system SQLite: a connection and errors that name the database file
// (its prepared statements: SQLiteStatement.swift).
import CSQLite

/// One SQLite connection, used by one thread at a time.
public final class SQLiteDatabase {
    let handle: OpaquePointer
    public let path: String

    /// Opens (creating it unless `readOnly` or not `create`) the database at `path`, with a busy
    /// timeout, through the VFS named `vfs` (nil: SQLite's default).
    public init(path: String, readOnly: Bool = false, create: Bool = true, busyTimeoutMillis: Int32 = 2000, vfs: String? = nil) throws(ExportError) {
        var db: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0)
        let code = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, vfs)
        guard code == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
            if let db { sqlite3_close_v2(db) }
            throw ExportError("cannot open SQLite database \(path): \(message); check the path and its permissions")
        }
        handle = db
        self.path = path
        sqlite3_busy_timeout(db, busyTimeoutMillis)
    }

    deinit { sqlite3_close_v2(handle) }

    /// Runs one or more statements without results.
    public func execute(_ sql: String) throws(ExportError) {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        guard code == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_free(message)
            throw ExportError("SQLite \(path): \(text) (code \(code))")
        }
    }

    /// Compiles `sql`.
    public func prepare(_ sql: String) throws(ExportError) -> SQLiteStatement {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw error("preparing \(sql.prefix(60))")
        }
        return SQLiteStatement(statement, database: self)
    }

    /// Every row of a query, each as text columns (NULL as nil), after binding `arguments` in order.
    public func rows(_ sql: String, _ arguments: [Int64] = []) throws(ExportError) -> [[String?]] {
        let statement = try prepare(sql)
        for (i, value) in arguments.enumerated() { statement.bind(Int32(i + 1), value) }
        var rows: [[String?]] = []
        while try statement.step() {
            rows.append((0..<statement.columnCount).map { statement.text($0) })
        }
        return rows
    }

    /// Appends each of `columns` (name and SQL definition) that `table` lacks, in order: a table made
    /// by an earlier release gets them last, where the inserts bind them.
    func addColumnsIfMissing(_ table: String, _ columns: [(name: String, definition: String)]) throws(ExportError) {
        let present = try rows("PRAGMA table_info(\(table))").compactMap { $0.count > 1 ? $0[1] : nil }
        for column in columns where !present.contains(column.name) {
            try execute("ALTER TABLE \(table) ADD COLUMN \(column.name) \(column.definition)")
        }
    }

    func error(_ doing: String) -> ExportError {
        ExportError("SQLite \(path): \(doing): \(String(cString: sqlite3_errmsg(handle))) (code \(sqlite3_extended_errcode(handle)))")
    }
}
