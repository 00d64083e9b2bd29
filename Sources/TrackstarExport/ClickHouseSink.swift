// The ClickHouse reporting store, over its HTTP interface: ReplacingMergeTree tables partitioned by
// day and ordered for the report's group-bys, rows inserted in RowBinary (ClickHouseRows.swift) in
// inserts of at most `batch_bytes`. Exactly once comes from idempotence: a row's sorting key ends in
// its id, so a batch written twice collapses to one row (queries use FINAL); the positions are
// inserted after the rows, and a "sent" mark before them, so rows whose positions never committed
// can be found and retracted when recovery cuts their records. Roll-ups: ClickHouseRollups.swift.
import TrackstarCore
import TrackstarStore
import TrackstarConfiguration
#if canImport(Glibc)
import Glibc
#endif

/// Writes batches to ClickHouse.
public final class ClickHouseSink: ExportSink {
    public let client: HTTPClient
    public let database: String
    /// An INSERT's body is sent once it reaches this many bytes (`[export] batch_bytes`), so a batch
    /// of any size is written in bounded inserts from bounded buffers.
    public let batchBytes: Int
    public var label: String { "ClickHouse \(client.baseURL) database \(database)" }
    /// Row buffers kept from batch to batch: one per log, and one for status transitions.
    let buffers = LogKind.allCases.map { _ in RowBinary() }
    let transitions = RowBinary()
    /// Event names met in the current batch, by offer << 32 | event id.
    var eventNames: [UInt64: [UInt8]] = [:]
    /// The sent marks: per shard and log, the end of the last span whose rows were (or were about to
    /// be) inserted. Read by `open`, raised by `write`, lowered by `retract`.
    var sent: [Int: ExportPosition] = [:]
    /// Roll-ups (ClickHouseRollups.swift): per shard, the records of clicks and refusals the sums
    /// hold (the marks, as read by `open` and raised by each insert of sums), whether the conversion
    /// roll-ups were filled, and the current batch's click groups, refusal groups and conversion hours.
    var rolled: [Int: ExportPosition] = [:]
    var conversionsFilled = false
    var tally = ClickTally()
    var refusalTally: [RefusalGroup: Int64] = [:]
    var conversionHours = Set<Int64>()
    let rollupRows = RowBinary()

    /// A sink for `[export] url` and `database`.
    public init(config: ExportConfig) throws(ExportError) {
        guard let text = config.url else { throw ExportError("[export] sink = \"clickhouse\" needs url = \"http://HOST:PORT\"") }
        switch ExportURL.parse(text) {
        case .success(let url): client = try HTTPClient(baseURL: url.base, user: config.user, password: config.password, caFile: config.caFile)
        case .failure(let error): throw ExportError("[export] url: \(error.message)")
        }
        guard ExportURL.isValidDatabase(config.database) else {
            throw ExportError("[export] database: \"\(config.database)\" is not a plain name (letters, digits, _)")
        }
        database = config.database
        batchBytes = config.batchBytes
    }

    /// The tables rows are inserted into.
    enum Table: Int, CaseIterable {
        case clicks, conversions, refusals, transitions
        init(_ kind: LogKind) { self = Table(rawValue: kind.rawValue)! }
        var name: String {
            switch self {
            case .clicks: "clicks"
            case .conversions: "conversions"
            case .refusals: "refusals"
            case .transitions: "conversion_transitions"
            }
        }
    }

    /// The tables, created if missing. Money in micros, times in Unix ms (UTC) plus a DateTime for partitioning.
    public func schema() -> [String] {
        let subs = "sub1 String, sub2 String, sub3 String, sub4 String, sub5 String, aff_click_id String, source String"
        let engine = "ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(time)"
        return [
            "CREATE DATABASE IF NOT EXISTS \(database)",
            """
            CREATE TABLE IF NOT EXISTS \(database).clicks (click_ref UInt64, click_id String, time DateTime('UTC'), time_ms Int64,
              offer_id UInt32, aff_id UInt32, \(subs), ip String, user_agent String\(EnrichmentColumns.clickHouseDefinitions(EnrichmentColumns.clicks)))
              \(engine) ORDER BY (offer_id, aff_id, time_ms, click_ref)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(database).conversions (conversion_id UInt64, click_ref UInt64, click_id String,
              click_time_ms Int64, time DateTime('UTC'), time_ms Int64, offer_id UInt32, aff_id UInt32, \(subs),
              event String, event_index UInt8, status String, amount_micros Nullable(Int64), payout_micros Int64,
              revenue_micros Int64, currency String, txid String, amount_currency String, version UInt8, extras String\(EnrichmentColumns.clickHouseDefinitions(EnrichmentColumns.conversions)))
              ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMMDD(time) ORDER BY (offer_id, aff_id, time_ms, conversion_id)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(database).conversion_transitions (transition_id UInt64, conversion_id UInt64,
              time DateTime('UTC'), time_ms Int64, previous_status String, status String, version UInt8,
              amount_micros Nullable(Int64), amount_currency String, payout_micros Int64, revenue_micros Int64, currency String,
              actor String, detail String)
              \(engine) ORDER BY (conversion_id, transition_id)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(database).refusals (refusal_ref UInt64, time DateTime('UTC'), time_ms Int64,
              reason String, http_status UInt16, offer_id UInt32, aff_id UInt32, params String)
              \(engine) ORDER BY (reason, time_ms, refusal_ref)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(database).export_positions (shard UInt16, log String, records UInt64, bytes UInt64,
              updated DateTime('UTC')) ENGINE = ReplacingMergeTree(records) ORDER BY (shard, log)
            """,
        ]
    }

    /// Runs a statement (query in the body); returns the answer's body.
    @discardableResult
    public func execute(_ sql: String) throws(ExportError) -> HTTPResponse {
        try check(client.request(.post, "/", body: Array(sql.utf8)), doing: String(sql.prefix(80)))
    }

    /// Sends a buffer's rows as one INSERT into `table` and empties it.
    func flush(_ rows: RowBinary, into table: Table) throws(ExportError) {
        guard !rows.isEmpty else { return }
        let query = "INSERT INTO \(database).\(table.name) FORMAT RowBinary"
        try check(client.request(.post, "/?query=" + HTTPClient.encode(query), body: rows.bytes), doing: query)
        rows.removeAll()
    }

    @discardableResult
    func check(_ response: HTTPResponse, doing: String) throws(ExportError) -> HTTPResponse {
        guard response.status == 200 else {
            let message = response.text.split(separator: "\n").first.map(String.init) ?? "HTTP \(response.status)"
            throw ExportError("\(label): \(doing): \(message)")
        }
        return response
    }

    public func open() throws(ExportError) -> [ExportPosition] {
        for statement in schema() { try execute(statement) }
        try addAmountCurrency()
        try addVersion()
        try addEnrichmentColumns()
        let found = try positions()
        try openRollups()
        return found
    }

    /// A table created before conversions carried the currency of their amount gets the column (last,
    /// where RowBinary inserts put it); its older rows read ''.
    func addAmountCurrency() throws(ExportError) {
        try addColumnIfMissing("conversions", "amount_currency", "String")
    }

    /// A conversions table created before status updates gets the version column (last). Its engine
    /// keeps no version, so of a conversion's rows the one inserted last stays (the transitions are
    /// inserted after their conversion in all but rare cross-shard cases); new tables replace by version.
    func addVersion() throws(ExportError) {
        try addColumnIfMissing("conversions", "version", "UInt8 DEFAULT 0")
        // Issue 17: the parameters a sender's profile did not map (after version, where RowBinary puts them).
        try addColumnIfMissing("conversions", "extras", "String")
    }

    /// Appends `column` (`type`, with its default) to `table` when a table made by an earlier release lacks it.
    func addColumnIfMissing(_ table: String, _ column: String, _ type: String) throws(ExportError) {
        let found = try execute("""
            SELECT count() FROM system.columns WHERE database = '\(database)' AND table = '\(table)'
            AND name = '\(column)' FORMAT TabSeparated
            """).text
        if found.trimmingWhitespaceAndNewlines() == "0" {
            try execute("ALTER TABLE \(database).\(table) ADD COLUMN \(column) \(type)")
        }
    }

    /// The committed positions: the highest recorded per (shard, log). Also reads the sent marks.
    public func positions() throws(ExportError) -> [ExportPosition] {
        let text = try execute("""
            SELECT shard, log, max(records), argMax(bytes, records) FROM \(database).export_positions
            GROUP BY shard, log FORMAT TabSeparated
            """).text
        var byShard: [Int: ExportPosition] = [:]
        sent = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 4, let shard = Int(f[0]), let records = UInt64(f[2]), let bytes = UInt64(f[3]) else { continue }
            if let kind = LogKind(name: String(f[1])) {
                byShard[shard, default: ExportPosition(shard: shard)][kind] = LogPosition(records: records, bytes: bytes)
            } else if f[1].hasPrefix(ClickHouseSink.sentPrefix), let kind = LogKind(name: String(f[1].dropFirst(ClickHouseSink.sentPrefix.count))) {
                sent[shard, default: ExportPosition(shard: shard)][kind] = LogPosition(records: records)
            }
        }
        return byShard.values.sorted { $0.shard < $1.shard }
    }

    /// The `log` of a sent mark is this prefix and the log's name (earlier releases skip such rows).
    static let sentPrefix = "sent_"

    /// Per shard and log, the furthest record rows may have been inserted for (the sent marks, as
    /// `open` read them; the exporter takes the committed position where that is higher, as for
    /// stores written before the marks existed).
    public func writtenPositions() -> [ExportPosition] {
        sent.values.sorted { $0.shard < $1.shard }
    }

    /// 1. Marks the batch's ends as sent (if not already), 2. inserts the rows, each table in inserts
    /// of at most `batchBytes`, 3. inserts the roll-up sums of records not yet rolled up with their
    /// marks, in one insert, and re-sums the conversion hours touched, 4. commits the positions. A
    /// crash after 1, 2 or 3 leaves rows the positions do not cover; they collapse with the rows written again, and `writtenPositions`
    /// shows where they may be should recovery cut their records.
    public func write(_ batch: ExportBatch, from source: ExportSource) throws(ExportError) {
        try markSent(batch.spans)
        eventNames.removeAll(keepingCapacity: true)
        for buffer in buffers { buffer.removeAll() }
        transitions.removeAll()
        resetRollupTallies()
        try fillRollupGaps(before: batch.spans)
        for span in batch.spans { try encode(span, from: source) }
        for kind in LogKind.allCases { try flush(buffers[kind.rawValue], into: Table(kind)) }
        try flush(transitions, into: .transitions)
        try writeRollups(batch.spans)
        guard !batch.positions.isEmpty else { return }
        try insertPositions(batch.positions.flatMap { position in LogKind.allCases.map { (position.shard, $0.name, position[$0]) } })
    }

    /// Records the spans' ends as sent, where they pass the marks already stored.
    func markSent(_ spans: [LogSpan]) throws(ExportError) {
        let rising = spans.filter { sent[$0.shard]?[$0.kind].records ?? 0 < $0.range.upperBound }
        guard !rising.isEmpty else { return }
        try insertPositions(rising.map { ($0.shard, ClickHouseSink.sentPrefix + $0.kind.name, LogPosition(records: $0.range.upperBound)) })
        for span in rising { sent[span.shard, default: ExportPosition(shard: span.shard)][span.kind] = LogPosition(records: span.range.upperBound) }
    }

    /// Inserts rows into `export_positions` (the table keeps the highest `records` per shard and log).
    func insertPositions(_ rows: [(shard: Int, log: String, position: LogPosition)]) throws(ExportError) {
        let now = WallClock.nowMillis() / 1000
        let values = rows.map { "(\($0.shard),'\($0.log)',\($0.position.records),\($0.position.bytes),\(now))" }
        try execute("INSERT INTO \(database).export_positions VALUES " + values.joined(separator: ","))
    }

    /// Deletes the rows past `positions` with mutations (`ALTER TABLE … DELETE`, which touch only
    /// parts that existed when submitted, so rows inserted afterwards are safe), waits until they are
    /// done, then drops the position rows beyond and inserts the lowered ones.
    public func retract(to positions: [ExportPosition]) throws(ExportError) {
        try retractRollups(to: positions)
        for position in positions {
            let shardEnd = UInt64(position.shard + 1) << 40
            func from(_ kind: LogKind) -> UInt64 { UInt64(position.shard) << 40 | position[kind].records }
            try execute("ALTER TABLE \(database).clicks DELETE WHERE click_ref >= \(from(.clicks)) AND click_ref < \(shardEnd)")
            try execute("ALTER TABLE \(database).conversions DELETE WHERE conversion_id > \(from(.conversions)) AND conversion_id <= \(shardEnd)")
            try execute("ALTER TABLE \(database).conversion_transitions DELETE WHERE transition_id > \(from(.conversions)) AND transition_id <= \(shardEnd)")
            try execute("ALTER TABLE \(database).refusals DELETE WHERE refusal_ref >= \(from(.refusals)) AND refusal_ref < \(shardEnd)")
            for kind in LogKind.allCases {
                try execute("ALTER TABLE \(database).export_positions DELETE WHERE shard = \(position.shard) "
                    + "AND log IN ('\(kind.name)', '\(ClickHouseSink.sentPrefix + kind.name)') AND records > \(position[kind].records)")
            }
        }
        try waitForMutations()
        try refillConversionRollups()
        try insertPositions(positions.flatMap { position in
            LogKind.allCases.flatMap { kind in
                [(position.shard, kind.name, position[kind]), (position.shard, ClickHouseSink.sentPrefix + kind.name, LogPosition(records: position[kind].records))]
            }
        })
        for position in positions {
            var lowered = ExportPosition(shard: position.shard)
            for kind in LogKind.allCases { lowered[kind] = LogPosition(records: position[kind].records) }
            sent[position.shard] = lowered
        }
    }

    /// Waits (up to a minute) until the database's mutations are done.
    func waitForMutations() throws(ExportError) {
        for _ in 0..<600 {
            let pending = try execute("SELECT count() FROM system.mutations WHERE database = '\(database)' AND is_done = 0 FORMAT TabSeparated").text
            if pending.trimmingWhitespaceAndNewlines() == "0" { return }
            var ts = timespec(tv_sec: 0, tv_nsec: 100_000_000)
            nanosleep(&ts, nil)
        }
        throw ExportError("\(label): deleting the rows of cut records did not finish within a minute (see system.mutations)")
    }

    public func close() {}
}

extension String {
    func trimmingWhitespaceAndNewlines() -> String {
        String(drop { $0 == " " || $0 == "\n" || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\n" || $0 == "\t" }.reversed())
    }
}
