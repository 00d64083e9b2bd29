// The default reporting store: `data_dir/report.sqlite`, with a rollback journal. Each batch is one transaction
// that inserts the rows (clicks as blocks, SQLiteClickBlocks.swift) and updates `export_positions`, so
// a batch is either wholly there with its positions or not there at all: after a crash the exporter
// resumes exactly where the file says. The roll-ups (SQLiteRollups.swift, SQLiteConversionRollups.swift)
// change in that same transaction.
import TrackstarCore
import TrackstarStore

/// Writes batches to an SQLite database.
public final class SQLiteSink: ExportSink {
    public let path: String
    var database: SQLiteDatabase?
    var statements: Statements?
    /// The current batch's clicks by roll-up group (written just before the batch commits).
    var tally = ClickTally()
    /// The current batch's conversions as recorded, by roll-up group (written with the clicks').
    var conversionTally = ConversionTally()
    /// The current batch's refusals, by roll-up group.
    var refusalTally = RefusalTally()
    /// Event names bound without a String per row.
    let eventNames = EventNames()
    /// Conversion ids of the span being written that were in the store before it (rows a transition
    /// inserted first): those rows' inserts change nothing, so they are not tallied.
    var presentConversions = Set<UInt64>()
    /// Per row of a conversion insert: its click ID, currencies and country, bound without copies.
    let conversionScratch = RowScratch(rows: 32, bytes: 64)
    /// The text of the click block being written, kept from batch to batch.
    let blockText = ClickBlockText()
    /// Whether the store has clicks as rows from before blocks (`click_rows`).
    var legacyClickRows = false
    /// Clicks per block at most.
    var maxBlockClicks = SQLiteClickBlocks.maxClicks
    /// The store's user agents by id (SQLiteUserAgents.swift), read at open.
    var agents = UserAgentDictionary()
    public var label: String { "SQLite \(path)" }

    /// The report database of a data dir.
    public static func path(dataDir: String) -> String { dataDir + "/report.sqlite" }

    /// `synchronous = FULL` (the default: a committed batch survives a power loss) or NORMAL (fewer
    /// syncs; kept for measuring what durability costs).
    public let durableCommits: Bool
    /// The journal mode the connection runs in: "truncate", or "wal" for a store another connection
    /// held open when this one tried to leave WAL (it tries again at the next open).
    public private(set) var journalMode = ""

    public init(path: String, durableCommits: Bool = true) { self.path = path; self.durableCommits = durableCommits }

    /// The schema, created if missing; money in millionths (micros), times in Unix milliseconds UTC.
    /// Clicks are in `click_blocks` behind the `clicks` view (SQLiteClickBlocks.swift).
    public static let schema: String = """
        CREATE TABLE IF NOT EXISTS conversions (
          conversion_id INTEGER PRIMARY KEY, click_ref INTEGER NOT NULL, click_id TEXT NOT NULL,
          click_time_ms INTEGER NOT NULL, time_ms INTEGER NOT NULL, offer_id INTEGER NOT NULL, aff_id INTEGER NOT NULL,
          sub1 TEXT NOT NULL, sub2 TEXT NOT NULL, sub3 TEXT NOT NULL, sub4 TEXT NOT NULL, sub5 TEXT NOT NULL,
          aff_click_id TEXT NOT NULL, source TEXT NOT NULL, event TEXT NOT NULL, event_index INTEGER NOT NULL,
          status TEXT NOT NULL, amount_micros INTEGER, payout_micros INTEGER NOT NULL, revenue_micros INTEGER NOT NULL,
          currency TEXT NOT NULL, txid TEXT NOT NULL, amount_currency TEXT NOT NULL DEFAULT '',
          version INTEGER NOT NULL DEFAULT 0, extras TEXT NOT NULL DEFAULT ''\(EnrichmentColumns.sqliteDefinitions(EnrichmentColumns.conversions)));
        CREATE INDEX IF NOT EXISTS conversions_time ON conversions (time_ms);
        CREATE TABLE IF NOT EXISTS conversion_transitions (
          transition_id INTEGER PRIMARY KEY, conversion_id INTEGER NOT NULL, time_ms INTEGER NOT NULL,
          previous_status TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL, amount_micros INTEGER,
          amount_currency TEXT NOT NULL, payout_micros INTEGER NOT NULL, revenue_micros INTEGER NOT NULL, currency TEXT NOT NULL,
          actor TEXT NOT NULL, detail TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS conversion_transitions_conversion ON conversion_transitions (conversion_id);
        CREATE TABLE IF NOT EXISTS refusals (
          refusal_ref INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, reason TEXT NOT NULL, http_status INTEGER NOT NULL,
          offer_id INTEGER NOT NULL, aff_id INTEGER NOT NULL, params TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS refusals_time ON refusals (time_ms);
        CREATE TABLE IF NOT EXISTS export_positions (
          shard INTEGER NOT NULL, log TEXT NOT NULL, records INTEGER NOT NULL, bytes INTEGER NOT NULL,
          updated_ms INTEGER NOT NULL, PRIMARY KEY (shard, log)) WITHOUT ROWID;
        """

    /// The prepared statements of an open connection.
    struct Statements {
        let begin, commit, rollback, position, transition, transitionAmount, clickBlock, insertAgent: SQLiteStatement
        /// The click roll-up upserts, one per level of `SQLiteRollups.levels`.
        let clickRollups: [SQLiteStatement]
        /// The ids of a span's conversions already stored (`presentConversions`); whether one is.
        let storedConversions, conversionStored: SQLiteStatement
        let conversions, refusals: BulkInsert
    }

    /// An insert of one row and one of `rowsPerStatement` rows (a multi-row VALUES amortises
    /// SQLite's per-statement cost, which is a large share of a small row's): conversions and refusals.
    final class BulkInsert {
        /// The statements, bound through `CachedBinds` (SQLiteSink+Binds.swift).
        let single, multi: CachedBinds
        let columns: Int32
        let rowsPerStatement: Int

        /// `upsert`: what follows the VALUES (an `ON CONFLICT` clause).
        init(_ db: SQLiteDatabase, table: String, columns: Int, rowsPerStatement: Int, upsert: String? = nil) throws(ExportError) {
            let row = "(" + Array(repeating: "?", count: columns).joined(separator: ",") + ")"
            let insert = "INSERT INTO \(table) VALUES "
            let suffix = upsert.map { " " + $0 } ?? ""
            single = CachedBinds(try db.prepare(insert + row + suffix))
            multi = CachedBinds(try db.prepare(insert + Array(repeating: row, count: rowsPerStatement).joined(separator: ",") + suffix))
            self.columns = Int32(columns)
            self.rowsPerStatement = rowsPerStatement
        }

        /// Inserts `rows` (at most `rowsPerStatement`), binding each with `bind(row, statement, firstParameter - 1)`.
        func run<Row>(_ rows: [Row], _ bind: (Row, CachedBinds, Int32) -> Void) throws(ExportError) {
            if rows.count == rowsPerStatement {
                for (i, row) in rows.enumerated() { bind(row, multi, Int32(i) * columns) }
                try multi.statement.run()
            } else {
                for row in rows { bind(row, single, 0); try single.statement.run() }
            }
        }
    }

    public func open() throws(ExportError) -> [ExportPosition] {
        close()
        let db = try SQLiteDatabase(path: path, vfs: SQLiteDatabase.yieldingVFS)  // next to the click loops (SQLiteYield.swift)
        db.yieldsCoreWhileRunning()
        journalMode = SQLiteSink.useRollbackJournal(db)
        try db.execute(SQLiteSink.pragmas + (durableCommits ? "" : " PRAGMA synchronous = NORMAL;"))
        try db.execute(SQLiteSink.schema)
        try db.addColumnsIfMissing("conversions", SQLiteSink.addedConversionColumns)
        try SQLiteSink.dropRetiredIndexes(db)
        legacyClickRows = try SQLiteClickBlocks.create(db)
        try agents.load(db)
        try EnrichmentColumns.addMissing(db, table: "conversions", EnrichmentColumns.conversions)
        try SQLiteRollups.create(db)
        statements = Statements(
            begin: try db.prepare("BEGIN IMMEDIATE"), commit: try db.prepare("COMMIT"), rollback: try db.prepare("ROLLBACK"),
            position: try db.prepare("INSERT OR REPLACE INTO export_positions VALUES (?,?,?,?,?)"),
            transition: try db.prepare("INSERT OR REPLACE INTO conversion_transitions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"),
            transitionAmount: try db.prepare(SQLiteSink.transitionAmount),
            // Plain inserts: a batch is written once (its positions commit with it) and rows past a
            // cut log are deleted before anything is written again (`retract`), so nothing needs replacing.
            clickBlock: try db.prepare(SQLiteClickBlocks.insertSQL),
            insertAgent: try db.prepare("INSERT INTO user_agents VALUES (?,?)"),
            clickRollups: try SQLiteRollups.clickUpserts(db),
            storedConversions: try db.prepare("SELECT conversion_id FROM conversions WHERE conversion_id > ?1 AND conversion_id <= ?2"),
            conversionStored: try db.prepare("SELECT 1 FROM conversions WHERE conversion_id = ?1"),
            conversions: try BulkInsert(db, table: "conversions", columns: 25 + EnrichmentColumns.conversions.count,
                                        rowsPerStatement: conversionScratch.rows, upsert: SQLiteSink.conversionUpsert),
            refusals: try BulkInsert(db, table: "refusals", columns: 7, rowsPerStatement: 64))
        conversionTally = try ConversionTally(db)
        refusalTally = try RefusalTally(db)
        database = db
        return try SQLiteSink.positions(db)
    }

    /// The connection's settings. `synchronous = FULL`: a COMMIT returns once the batch and its
    /// positions are on disk (the journal synced, then the database), so they survive a power loss;
    /// the syncs are the exporter thread's, off the loops. An 8 MiB page cache holds a 10,000-row
    /// batch's pages (~3 MB, most of them block text written once) and the roll-ups' current buckets;
    /// 64 MiB bought nothing but 60 MB more resident (`ExportFigures 1000000`, 8 alternating rounds:
    /// median 2,223 ns a row with it, 2,180 with 8 MiB). `wal_autocheckpoint` applies only while a
    /// store is still in WAL mode (`useRollbackJournal`).
    static let pragmas = "PRAGMA synchronous = FULL; PRAGMA cache_size = -8192; PRAGMA wal_autocheckpoint = 10000;"

    /// Deletes the rows of records at or past `positions` (logs that recovery cut after a machine
    /// crash: those records are gone, so their rows must go too) and stores the positions, in one
    /// transaction. Rows carry `shard << 40 | sequence` ids, so each log's rows past a position are one range.
    public func retract(to positions: [ExportPosition]) throws(ExportError) {
        guard let db = database, let s = statements else { throw ExportError("\(label) is not open") }
        try s.begin.run()
        do {
            for position in positions {
                let shardEnd = Int64(position.shard + 1) << 40
                func from(_ kind: LogKind) -> Int64 { Int64(position.shard) << 40 | Int64(position[kind].records) }
                let deletes: [(String, Int64)] = [
                    // Conversion and transition ids are the record's ref + 1.
                    ("DELETE FROM conversions WHERE conversion_id > ?1 AND conversion_id <= ?2", from(.conversions)),
                    ("DELETE FROM conversion_transitions WHERE transition_id > ?1 AND transition_id <= ?2", from(.conversions)),
                    ("DELETE FROM refusals WHERE refusal_ref >= ?1 AND refusal_ref < ?2", from(.refusals)),
                ]
                // The click roll-ups lose what the cut clicks added (the other roll-ups follow by trigger).
                try SQLiteClickBlocks.retract(db, from: from(.clicks), shardEnd: shardEnd, legacy: legacyClickRows)
                for (sql, start) in deletes { _ = try db.rows(sql, [start, shardEnd]) }
                try storePosition(position, s, now: WallClock.nowMillis())
            }
            try s.commit.run()
        } catch {
            try? s.rollback.run()
            throw error
        }
    }

    /// Indexes an earlier release kept that no query of this one reads, dropped at open (a B-tree
    /// insert a row saved): `conversions(click_ref)` (no report, roll-up, retraction or API query
    /// looks conversions up by click; ~2,000 instructions a conversion, callgrind `ExportFigures`).
    static let retiredIndexes = ["conversions_click"]

    /// Drops the `retiredIndexes` a store has (an open with none to drop writes nothing).
    static func dropRetiredIndexes(_ db: SQLiteDatabase) throws(ExportError) {
        let present = try db.rows("SELECT name FROM sqlite_master WHERE type = 'index'").compactMap { $0.first ?? nil }
        for name in retiredIndexes where present.contains(name) { try db.execute("DROP INDEX IF EXISTS \(name)") }
    }

    /// Columns a conversions table of an earlier release lacks, appended in this order (where the
    /// inserts bind them; older rows read the defaults): the amount's currency, the version of status
    /// updates, and (issue 17) the parameters a sender's profile did not map.
    static let addedConversionColumns: [(name: String, definition: String)] = [
        ("amount_currency", "TEXT NOT NULL DEFAULT ''"),
        ("version", "INTEGER NOT NULL DEFAULT 0"),
        ("extras", "TEXT NOT NULL DEFAULT ''"),
    ]

    /// A conversion row is written once per version: the row as recorded (version 0), then once per
    /// transition with the new status. The highest version stays, whichever order they arrive in
    /// (a transition and its conversion may sit in different shards' logs). The amount is set apart
    /// (`transitionAmount`). A batch written again changes nothing.
    static let conversionUpsert = """
        ON CONFLICT(conversion_id) DO UPDATE SET status = excluded.status, version = excluded.version
        WHERE excluded.version > conversions.version
        """

    /// After a transition is stored: the conversion's amount is that of its latest transition that
    /// carried one (in any arrival order), else the one it was recorded with.
    static let transitionAmount = """
        UPDATE conversions SET (amount_micros, amount_currency) = (SELECT t.amount_micros, t.amount_currency
          FROM conversion_transitions t WHERE t.conversion_id = conversions.conversion_id AND t.amount_micros IS NOT NULL
          ORDER BY t.version DESC LIMIT 1)
        WHERE conversion_id = ?1 AND EXISTS (SELECT 1 FROM conversion_transitions t WHERE t.conversion_id = ?1 AND t.amount_micros IS NOT NULL)
        """

    /// The committed positions stored in `db`.
    static func positions(_ db: SQLiteDatabase) throws(ExportError) -> [ExportPosition] {
        var byShard: [Int: ExportPosition] = [:]
        for row in try db.rows("SELECT shard, log, records, bytes FROM export_positions") {
            guard let shard = row[0].flatMap({ Int($0) }), let kind = row[1].flatMap({ LogKind(name: $0) }),
                  let records = row[2].flatMap({ UInt64($0) }), let bytes = row[3].flatMap({ UInt64($0) }) else { continue }
            byShard[shard, default: ExportPosition(shard: shard)][kind] = LogPosition(records: records, bytes: bytes)
        }
        return byShard.values.sorted { $0.shard < $1.shard }
    }

    public func write(_ batch: ExportBatch, from source: ExportSource) throws(ExportError) {
        guard let s = statements else { throw ExportError("\(label) is not open") }
        try s.begin.run()
        eventNames.startBatch()
        do {
            for span in batch.spans { try insert(span, from: source, s) }
            try tally.flush(s.clickRollups)
            try conversionTally.flush(eventNames)
            try refusalTally.flush()
            let now = WallClock.nowMillis()
            for position in batch.positions { try storePosition(position, s, now: now) }
            try s.commit.run()
            agents.commit()
        } catch {
            agents.rollBack()
            tally.groups.removeAll(keepingCapacity: true)
            conversionTally.groups.removeAll(keepingCapacity: true)
            refusalTally.groups.removeAll(keepingCapacity: true)
            try? s.rollback.run()
            throw error
        }
    }

    /// Writes a shard's three positions (inside the caller's transaction).
    func storePosition(_ position: ExportPosition, _ s: Statements, now: Int64) throws(ExportError) {
        for kind in LogKind.allCases {
            s.position.bind(1, Int64(position.shard)); s.position.bind(2, kind.name)
            s.position.bind(3, Int64(position[kind].records)); s.position.bind(4, Int64(position[kind].bytes))
            s.position.bind(5, now)
            try s.position.run()
        }
    }

    /// Inserts a span's available records, a multi-row statement at a time.
    func insert(_ span: LogSpan, from source: ExportSource, _ s: Statements) throws(ExportError) {
        switch span.kind {
        case .clicks:
            var blocks = ClickBlockWriter(text: blockText, insert: s.clickBlock, agents: agents, insertAgent: s.insertAgent,
                                          maxClicks: maxBlockClicks)
            try SQLiteSink.insertClicks(span, from: source, &blocks, &tally)
        case .conversions:
            // Conversions as recorded, a multi-row statement at a time; then the span's transitions in
            // order, a row each (`insertTransitions`). A transition follows its conversion in a log
            // (or sits in another shard's), so writing it after the span's conversions changes nothing.
            try findStoredConversions(span, s)
            let columns = s.conversions.columns
            try insert(span, s.conversions, read: { sequence in
                source.isTransition(shard: span.shard, sequence: sequence) ? nil : source.conversion(shard: span.shard, sequence: sequence)
            }) { row, st, base in
                let event = eventNames.id(offerID: row.offerID, index: row.eventIndex, source)
                // Summed here unless its row is already stored (its insert then changes nothing).
                if presentConversions.isEmpty || !presentConversions.contains(row.conversionID) {
                    conversionTally.add(row, event: event)
                }
                SQLiteSink.bind(row, event: eventNames.bytes(event), source, st, base, scratch: conversionScratch.row(Int(base / columns)))
            }
            try insertTransitions(span, from: source, s)
        case .refusals:
            try insert(span, s.refusals, read: { source.refusal(shard: span.shard, sequence: $0) }) { row, st, base in
                refusalTally.add(row)
                SQLiteSink.bind(row, st, base)
            }
        }
    }

    /// A span's clicks as blocks, each counted in `tally`: passed in (one exclusivity check for the
    /// span, not one a click as for the sink's property; ~120 instructions a click in callgrind).
    static func insertClicks(_ span: LogSpan, from source: ExportSource, _ blocks: inout ClickBlockWriter,
                             _ tally: inout ClickTally) throws(ExportError) {
        blocks.begin(shard: span.shard, at: span.range.lowerBound)
        var row = ClickRow.empty  // one row read into for the span (no copy of a row per click)
        for sequence in span.range {
            if sequence & 31 == 0 { BackgroundPriority.yieldIfDue() }  // SQLiteYield.swift
            guard source.readClick(shard: span.shard, sequence: sequence, into: &row) else { continue }  // unavailable: no click
            tally.add(row)
            try blocks.add(&row, sequence: sequence, source)
        }
        try blocks.close(end: span.range.upperBound)
    }

    func insert<Row>(_ span: LogSpan, _ bulk: BulkInsert, read: (UInt64) -> Row?,
                     bind: (Row, CachedBinds, Int32) -> Void) throws(ExportError) {
        var rows: [Row] = []
        rows.reserveCapacity(bulk.rowsPerStatement)
        for sequence in span.range {
            guard let row = read(sequence) else { continue }  // unavailable (quarantined): nothing to write
            rows.append(row)
            if rows.count == bulk.rowsPerStatement {
                try bulk.run(rows, bind)
                rows.removeAll(keepingCapacity: true)
            }
        }
        try bulk.run(rows, bind)
    }

    /// The ids of the span's conversions the store already holds (`presentConversions`; usually none:
    /// one index probe). Ids are the record's `shard << 40 | sequence` + 1.
    func findStoredConversions(_ span: LogSpan, _ s: Statements) throws(ExportError) {
        presentConversions.removeAll(keepingCapacity: true)
        let base = Int64(span.shard) << 40
        s.storedConversions.bind(1, base + Int64(span.range.lowerBound)); s.storedConversions.bind(2, base + Int64(span.range.upperBound))
        while try s.storedConversions.step() { presentConversions.insert(UInt64(s.storedConversions.int(0))) }
    }

    /// The span's transitions (rare: statements of one row each): the conversion row upserted with
    /// the new status and version (inserted when its conversion is not stored yet, and then summed
    /// here; a stored row's status change is moved by the status trigger), and the history row.
    func insertTransitions(_ span: LogSpan, from source: ExportSource, _ s: Statements) throws(ExportError) {
        let st = s.transition, upsert = s.conversions.single
        for sequence in span.range where source.isTransition(shard: span.shard, sequence: sequence) {
            guard let row = source.conversion(shard: span.shard, sequence: sequence) else { continue }
            let event = eventNames.id(offerID: row.offerID, index: row.eventIndex, source)
            s.conversionStored.bind(1, Int64(row.conversionID))
            let stored = try s.conversionStored.step()
            s.conversionStored.reset()
            SQLiteSink.bind(row, event: eventNames.bytes(event), source, upsert, 0, scratch: conversionScratch.row(0))
            try upsert.statement.run()
            if !stored { conversionTally.add(row, event: event) }
            guard let previous = row.previousStatus else { continue }
            st.bind(1, Int64(row.id)); st.bind(2, Int64(row.conversionID)); st.bind(3, row.changedMillis)
            st.bind(4, previous.name); st.bind(5, row.status.name); st.bind(6, Int64(row.version))
            st.bind(7, row.amountChanged ? row.amount : nil)
            st.bind(8, row.amountChanged ? RowText.currency(row.amountCurrency) : "")
            st.bind(9, row.payout); st.bind(10, row.revenue); st.bind(11, RowText.currency(row.currency))
            st.bind(12, row.actor?.name ?? ""); st.bind(13, row.detail)
            try st.run()
            s.transitionAmount.bind(1, Int64(row.conversionID))
            try s.transitionAmount.run()
        }
    }

    /// Closes the connection: every statement prepared on it goes (the tallies' upserts too, which
    /// would otherwise keep it open until the next `open`, and with it, a store that stays in WAL).
    public func close() {
        statements = nil
        conversionTally = ConversionTally()
        refusalTally = RefusalTally()
        database = nil
    }
}

extension RowText {
    /// Three currency letters (empty when unset).
    public static func currency(_ c: (UInt8, UInt8, UInt8)) -> String {
        c.0 == 0 ? "" : String(decoding: [c.0, c.1, c.2], as: UTF8.self)
    }
}

/// Scratch memory of a multi-row statement: `rows` slots of `bytes` each, for values bound without a
/// copy (they must outlive the statement's run). Exporter thread only.
final class RowScratch {
    let rows: Int, bytes: Int
    private let base: UnsafeMutableRawPointer

    init(rows: Int, bytes: Int) {
        self.rows = rows
        self.bytes = bytes
        base = .allocate(byteCount: rows * bytes, alignment: 16)
    }

    deinit { base.deallocate() }

    /// Slot `i` (`0..<rows`).
    func row(_ i: Int) -> UnsafeMutableRawPointer { base + i * bytes }
}
