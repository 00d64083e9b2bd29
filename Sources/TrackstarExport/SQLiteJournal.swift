// The SQLite store's journal (issue 19): the sink's connection runs with a rollback journal
// (TRUNCATE), and readers from outside the server open a store that a crash left with a hot journal.
extension SQLiteSink {
    /// Puts the store in rollback-journal mode (`TRUNCATE`) and returns the mode it is in. A batch
    /// appends most of its pages (block text, new rows) past the end of the file; a rollback journal
    /// saves only the pages a transaction changes that existed before it (a dozen: B-tree edges,
    /// roll-up buckets, positions), where WAL writes every page twice, to the WAL and again at the
    /// checkpoint. Half the bytes written, and −25 % of the export's CPU (`ExportFigures`, docs/
    /// performance.md, thirteenth session). The price: a reader holding the store makes a COMMIT wait
    /// (the busy timeout, then the batch is retried; nothing is lost), and a COMMIT makes readers wait
    /// for it. Leaving WAL needs every other connection closed: if one is open, the store stays in
    /// WAL (as safe, only dearer) until an open finds it alone.
    static func useRollbackJournal(_ db: SQLiteDatabase) -> String {
        func mode(_ sql: String) -> String? { (try? db.rows(sql))?.first?.first ?? nil }
        return mode("PRAGMA journal_mode = TRUNCATE") ?? mode("PRAGMA journal_mode") ?? "unknown"
    }

    /// The store opened to read it from outside the server (`inspect`): read-only, unless a crash in
    /// the middle of a COMMIT left a hot journal, which only a connection that may write can roll back
    /// (any SQLite reader does so before reading); then read-write, without creating anything.
    static func openForReading(_ path: String) throws(ExportError) -> SQLiteDatabase {
        let readOnly = try SQLiteDatabase(path: path, readOnly: true)
        do {
            _ = try readOnly.rows("SELECT count(*) FROM sqlite_master")
            return readOnly
        } catch {
            return try SQLiteDatabase(path: path, readOnly: false, create: false)
        }
    }
}
