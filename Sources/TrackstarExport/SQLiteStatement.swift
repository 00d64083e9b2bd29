// SQLite's prepared statements, with typed binds that can point straight into mapped memory.
import CSQLite

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

    /// Ends a statement stepped before it returned false (its bindings stay).
    public func reset() { sqlite3_reset(handle) }

    public var columnCount: Int { Int(sqlite3_column_count(handle)) }
    public func int(_ column: Int) -> Int64 { sqlite3_column_int64(handle, Int32(column)) }
    /// A column's text as bytes (empty for NULL), valid until the statement steps, resets or is finalized.
    public func bytes(_ column: Int) -> UnsafeRawBufferPointer {
        let p = sqlite3_column_text(handle, Int32(column))
        return UnsafeRawBufferPointer(start: p, count: p == nil ? 0 : Int(sqlite3_column_bytes(handle, Int32(column))))
    }
    public func text(_ column: Int) -> String? {
        guard sqlite3_column_type(handle, Int32(column)) != SQLITE_NULL, let p = sqlite3_column_text(handle, Int32(column)) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, Int32(column)))
        return String(decoding: UnsafeRawBufferPointer(start: p, count: count), as: UTF8.self)
    }
}
