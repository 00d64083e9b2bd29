// A thin wrapper over the system SQLite: a connection, prepared statements with typed binds that
// can point straight into mapped memory, and errors that name the database file.
import CSQLite

/// One SQLite connection, used by one thread at a time.
public final class SQLiteDatabase {
    let handle: OpaquePointer
    public let path: String

    /// Opens (creating when asked) the database at `path`, with a busy timeout.
    public init(path: String, readOnly: Bool = false, busyTimeoutMillis: Int32 = 2000) throws(ExportError) {
        var db: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        let code = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
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

/// A prepared statement. Text bound from buffers is not copied: the memory must stay valid until
/// the statement is stepped and reset (true of mapped log memory).
public final class SQLiteStatement {
    let handle: OpaquePointer
    let database: SQLiteDatabase
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    static let empty: StaticString = ""

    init(_ handle: OpaquePointer, database: SQLiteDatabase) { self.handle = handle; self.database = database }
    deinit { sqlite3_finalize(handle) }

    public func bind(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(handle, index, value) }
    public func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(handle, index, value) } else { sqlite3_bind_null(handle, index) }
    }

    /// Binds bytes as TEXT without copying them.
    public func bind(_ index: Int32, _ bytes: UnsafeRawBufferPointer) {
        let start = bytes.count > 0 ? bytes.baseAddress!.assumingMemoryBound(to: CChar.self) : UnsafeRawPointer(SQLiteStatement.empty.utf8Start).assumingMemoryBound(to: CChar.self)
        sqlite3_bind_text(handle, index, start, Int32(bytes.count), nil)
    }

    /// Binds a static string as TEXT without copying it.
    public func bind(_ index: Int32, _ text: StaticString) {
        sqlite3_bind_text(handle, index, UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self),
                          Int32(text.utf8CodeUnitCount), nil)
    }

    /// Binds bytes as TEXT, copied (for memory that goes away before the statement runs).
    public func bindCopy(_ index: Int32, _ bytes: UnsafeRawBufferPointer) {
        let start = bytes.count > 0 ? bytes.baseAddress!.assumingMemoryBound(to: CChar.self)
            : UnsafeRawPointer(SQLiteStatement.empty.utf8Start).assumingMemoryBound(to: CChar.self)
        sqlite3_bind_text(handle, index, start, Int32(bytes.count), SQLiteStatement.transient)
    }

    /// Binds a string as TEXT (copied).
    public func bind(_ index: Int32, _ text: String) {
        sqlite3_bind_text(handle, index, text, -1, SQLiteStatement.transient)
    }

    /// Executes a statement without results and resets it.
    public func run() throws(ExportError) {
        defer { sqlite3_reset(handle) }
        guard sqlite3_step(handle) == SQLITE_DONE else { throw database.error("writing") }
    }

    /// Advances to the next row; false when done (the statement is then reset).
    public func step() throws(ExportError) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: sqlite3_reset(handle); return false
        default:
            let error = database.error("reading")
            sqlite3_reset(handle)
            throw error
        }
    }

    public var columnCount: Int { Int(sqlite3_column_count(handle)) }
    public func int(_ column: Int) -> Int64 { sqlite3_column_int64(handle, Int32(column)) }
    public func text(_ column: Int) -> String? {
        guard sqlite3_column_type(handle, Int32(column)) != SQLITE_NULL, let p = sqlite3_column_text(handle, Int32(column)) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, Int32(column)))
        return String(decoding: UnsafeRawBufferPointer(start: p, count: count), as: UTF8.self)
    }
}
