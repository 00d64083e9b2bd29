// Click rows of report.sqlite as blocks (issue 19 item 1): one row of `click_blocks` per stretch of a
// batch's span (≤ `maxClicks` clicks) holding its clicks as one JSON text, read through the `clicks`
// view (json_each), so `SELECT … FROM clicks` works as before; clicks a store kept as rows before
// blocks stay in `click_rows`, and the view reads both. Retraction cuts blocks by position.
import TrackstarCore
import TrackstarStore

/// The block table, the `clicks` view over it, the upgrade of a row-per-click store, and retraction.
enum SQLiteClickBlocks {
    /// A block's clicks at most: a batch's span is cut into blocks of this many (a block is a few MB of
    /// text at most, and a retraction rewrites at most one).
    static let maxClicks = 10_000

    /// The click columns, in the order each click's JSON array holds them (and the view lists them).
    static let columns = ["click_ref", "click_id", "time_ms", "offer_id", "aff_id", "sub1", "sub2", "sub3", "sub4", "sub5",
                          "aff_click_id", "source", "ip", "user_agent"] + EnrichmentColumns.clicks.map(\.name)

    /// `first_ref`/`end_ref`: the block covers the records `first_ref ..< end_ref` of one shard's click
    /// log (as `shard << 40 | sequence`; records not available, such as quarantined ones, have no click
    /// in it); `clicks` of them are in `rows`, with times from `min_time_ms` to `max_time_ms`. A click's
    /// ref and time in `rows` are less `ref_base` and `time_base` (the block's first record and first
    /// click's time; 0 in blocks written before the bases, which hold them whole).
    static let schema = """
        CREATE TABLE IF NOT EXISTS click_blocks (
          first_ref INTEGER PRIMARY KEY, end_ref INTEGER NOT NULL, clicks INTEGER NOT NULL,
          min_time_ms INTEGER NOT NULL, max_time_ms INTEGER NOT NULL, rows TEXT NOT NULL,
          \(bases.map { "\($0.name) \($0.definition)" }.joined(separator: ", ")));
        \(UserAgentDictionary.schema)
        """

    /// The columns a click's ref and time are relative to, added to a store made before them.
    static let bases = [(name: "ref_base", definition: "INTEGER NOT NULL DEFAULT 0"), (name: "time_base", definition: "INTEGER NOT NULL DEFAULT 0")]

    /// A block's insert (`ClickBlockWriter.write` binds its parameters in this order).
    static let insertSQL = "INSERT INTO click_blocks (first_ref, end_ref, clicks, min_time_ms, max_time_ms, rows, ref_base, time_base) "
        + "VALUES (?,?,?,?,?,?,?,?)"

    /// A click's element of the block `block` as its column: ref and time with the block's bases added.
    static func element(_ index: Int, _ value: String = "j.value", block: String = "b") -> String {
        switch index {
        case 0: return "(\(value) ->> 0) + \(block).ref_base"
        case 2: return "(\(value) ->> 2) + \(block).time_base"
        default: return "\(value) ->> \(index)"
        }
    }

    /// The clicks of the blocks `condition` selects (over `b`), as rows with the `clicks` columns: a
    /// subquery SQLite flattens, so a query reads only the columns it names.
    static func rowsSQL(where condition: String? = nil) -> String {
        let values = columns.enumerated().map { column in
            column.element == "user_agent" ? UserAgentDictionary.viewExpression("j.value", index: column.offset) + " AS user_agent"
                : "\(element(column.offset)) AS \(column.element)"
        }.joined(separator: ", ")
        return "SELECT \(values) FROM click_blocks b, json_each(b.rows) j" + (condition.map { " WHERE \($0)" } ?? "")
    }

    /// The view: the blocks' clicks, and those of `click_rows` when the store has it.
    static func viewSQL(legacy: Bool) -> String {
        "CREATE VIEW clicks AS " + rowsSQL() + (legacy ? " UNION ALL SELECT \(columns.joined(separator: ", ")) FROM click_rows" : "")
    }

    /// Whether `name` is a table of `db`.
    static func hasTable(_ db: SQLiteDatabase, _ name: String) throws(ExportError) -> Bool {
        try !db.rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '\(name)'").isEmpty
    }

    /// Creates the blocks and the view. A store made before blocks has `clicks` as a table: it is
    /// renamed `click_rows` (instant, its rows stay where they are; the view reads them too), after its
    /// missing columns are added. The view is made again whenever its text differs from this release's.
    /// Returns whether the store has `click_rows`.
    @discardableResult
    static func create(_ db: SQLiteDatabase) throws(ExportError) -> Bool {
        func view() throws(ExportError) -> String? {
            try db.rows("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'clicks'").first?.first ?? nil
        }
        // Nothing to change (every open but the first): no write transaction, so no wait for the lock.
        let legacy = try hasTable(db, "click_rows")
        if try view() == viewSQL(legacy: legacy), try hasTable(db, "click_blocks") { return legacy }
        try db.execute("BEGIN IMMEDIATE")
        do {
            try db.execute(schema)
            try db.addColumnsIfMissing("click_blocks", bases)
            if try hasTable(db, "clicks") {
                try EnrichmentColumns.addMissing(db, table: "clicks", EnrichmentColumns.clicks)
                try db.execute("ALTER TABLE clicks RENAME TO click_rows")
            }
            let legacy = try hasTable(db, "click_rows")
            let current = try view(), wanted = viewSQL(legacy: legacy)
            if current != wanted {
                if current != nil { try db.execute("DROP VIEW clicks") }
                try db.execute(wanted)
            }
            try db.execute("COMMIT")
            return legacy
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// Removes the clicks of shard records at or past `cut` (`shard << 40 | sequence`), inside the
    /// caller's transaction: the click roll-ups lose what they added, blocks starting at or past the
    /// cut go, and the one block that straddles it is rewritten with the clicks before it.
    static func retract(_ db: SQLiteDatabase, from cut: Int64, shardEnd: Int64, legacy: Bool) throws(ExportError) {
        let shardStart = shardEnd - (1 << 40)
        let touched = "b.first_ref >= \(shardStart) AND b.first_ref < \(shardEnd) AND b.end_ref > \(cut)"
        let cutClicks = "click_ref >= \(cut) AND click_ref < \(shardEnd)"
        try db.execute(SQLiteRollups.clicksFromRaw(from: "(\(rowsSQL(where: touched)))", where: cutClicks, sign: -1))
        if legacy {
            try db.execute(SQLiteRollups.clicksFromRaw(from: "click_rows", where: cutClicks, sign: -1))
            try db.execute("DELETE FROM click_rows WHERE \(cutClicks)")
        }
        try db.execute("DELETE FROM click_blocks WHERE first_ref >= \(cut) AND first_ref < \(shardEnd)")
        let straddling = "first_ref >= \(shardStart) AND first_ref < \(cut) AND end_ref > \(cut)"
        try db.execute("""
            UPDATE click_blocks SET end_ref = \(cut),
              rows = (SELECT json_group_array(json(j.value)) FROM json_each(click_blocks.rows) j
                      WHERE \(element(0, block: "click_blocks")) < \(cut))
            WHERE \(straddling);
            UPDATE click_blocks SET clicks = json_array_length(rows),
              min_time_ms = ifnull((SELECT min(\(element(2, block: "click_blocks"))) FROM json_each(click_blocks.rows) j), 0),
              max_time_ms = ifnull((SELECT max(\(element(2, block: "click_blocks"))) FROM json_each(click_blocks.rows) j), 0)
            WHERE first_ref >= \(shardStart) AND first_ref < \(cut) AND end_ref = \(cut);
            DELETE FROM click_blocks WHERE first_ref >= \(shardStart) AND first_ref < \(cut) AND clicks = 0;
            """)
    }
}

/// Writes a span's clicks as blocks: `add` each available click, `close` at the end of the span.
struct ClickBlockWriter {
    let text: ClickBlockText
    let insert: SQLiteStatement
    /// The agents as ids, and their rows' insert (`UserAgentDictionary.id`).
    let agents: UserAgentDictionary
    let insertAgent: SQLiteStatement
    /// Clicks per block at most (`SQLiteClickBlocks.maxClicks`; tests make it small).
    let maxClicks: Int
    /// The shard and the first record of the block being filled.
    var shard = 0, first: UInt64 = 0

    /// Starts a span at `sequence`.
    mutating func begin(shard: Int, at sequence: UInt64) {
        self.shard = shard
        first = sequence
        text.start(refBase: UInt64(shard) << 40 | sequence)
    }

    /// Adds a click (`sequence` is its record's); a full block is written and the next one begun after it.
    /// `row` is `inout` (here and in `ClickBlockText.append`) only so that it is passed by address:
    /// taken by value, it was copied for each call (272 bytes, a `memcpy` call). It is not changed.
    mutating func add(_ row: inout ClickRow, sequence: UInt64, _ source: ExportSource) throws(ExportError) {
        let agentID = try agents.id(row.fields.userAgent, insert: insertAgent)
        text.append(&row, source, agentID: agentID)
        if text.clicks >= maxClicks {
            try write(end: sequence + 1)
            begin(shard: shard, at: sequence + 1)
        }
    }

    /// Writes what the block holds, as covering the records up to `end` (nothing for no click).
    mutating func close(end: UInt64) throws(ExportError) {
        try write(end: end)
        text.start()
    }

    func write(end: UInt64) throws(ExportError) {
        guard text.clicks > 0 else { return }
        text.finish()
        let base = Int64(shard) << 40
        insert.bind(1, base | Int64(first)); insert.bind(2, base | Int64(end)); insert.bind(3, Int64(text.clicks))
        insert.bind(4, text.minTime); insert.bind(5, text.maxTime)
        insert.bind(6, text.bytes)  // not copied: the buffer stays put until the statement has run
        insert.bind(7, Int64(text.refBase)); insert.bind(8, text.timeBase)
        try insert.run()
    }
}
