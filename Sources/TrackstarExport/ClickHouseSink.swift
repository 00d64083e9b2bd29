// The ClickHouse reporting store, over its HTTP interface: ReplacingMergeTree tables partitioned by
// day and ordered for the report's group-bys, rows inserted in RowBinary. Exactly once comes from
// idempotence: a row's sorting key ends in its id, so a batch written twice collapses to one row
// (queries use FINAL), and the positions are inserted after the rows.
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
    public var label: String { "ClickHouse \(client.baseURL) database \(database)" }

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

    /// Inserts RowBinary rows into `table`.
    func insert(_ table: String, _ rows: [UInt8]) throws(ExportError) {
        let query = "INSERT INTO \(database).\(table) FORMAT RowBinary"
        try check(client.request(.post, "/?query=" + HTTPClient.encode(query), body: rows), doing: query)
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
        return try positions()
    }

    /// A table created before conversions carried the currency of their amount gets the column (last,
    /// where RowBinary inserts put it); its older rows read ''.
    func addAmountCurrency() throws(ExportError) {
        let found = try execute("""
            SELECT count() FROM system.columns WHERE database = '\(database)' AND table = 'conversions'
            AND name = 'amount_currency' FORMAT TabSeparated
            """).text
        if found.trimmingWhitespaceAndNewlines() == "0" {
            try execute("ALTER TABLE \(database).conversions ADD COLUMN amount_currency String")
        }
    }

    /// A conversions table created before status updates gets the version column (last). Its engine
    /// keeps no version, so of a conversion's rows the one inserted last stays (the transitions are
    /// inserted after their conversion in all but rare cross-shard cases); new tables replace by version.
    func addVersion() throws(ExportError) {
        let found = try execute("""
            SELECT count() FROM system.columns WHERE database = '\(database)' AND table = 'conversions'
            AND name = 'version' FORMAT TabSeparated
            """).text
        if found.trimmingWhitespaceAndNewlines() == "0" {
            try execute("ALTER TABLE \(database).conversions ADD COLUMN version UInt8 DEFAULT 0")
        }
        // Issue 17: the parameters a sender's profile did not map (after version, where RowBinary puts them).
        let extras = try execute("""
            SELECT count() FROM system.columns WHERE database = '\(database)' AND table = 'conversions'
            AND name = 'extras' FORMAT TabSeparated
            """).text
        if extras.trimmingWhitespaceAndNewlines() == "0" {
            try execute("ALTER TABLE \(database).conversions ADD COLUMN extras String")
        }
    }

    /// The committed positions: the highest recorded per (shard, log).
    public func positions() throws(ExportError) -> [ExportPosition] {
        let text = try execute("""
            SELECT shard, log, max(records), argMax(bytes, records) FROM \(database).export_positions
            GROUP BY shard, log FORMAT TabSeparated
            """).text
        var byShard: [Int: ExportPosition] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 4, let shard = Int(f[0]), let kind = LogKind(name: String(f[1])),
                  let records = UInt64(f[2]), let bytes = UInt64(f[3]) else { continue }
            byShard[shard, default: ExportPosition(shard: shard)][kind] = LogPosition(records: records, bytes: bytes)
        }
        return byShard.values.sorted { $0.shard < $1.shard }
    }

    public func write(_ batch: ExportBatch, from source: ExportSource) throws(ExportError) {
        var buffers = [RowBinary](repeating: RowBinary(), count: LogKind.allCases.count)
        var transitions = RowBinary()
        for span in batch.spans { encode(span, from: source, into: &buffers[span.kind.rawValue], transitions: &transitions) }
        for kind in LogKind.allCases where !buffers[kind.rawValue].bytes.isEmpty {
            try insert(kind.name, buffers[kind.rawValue].bytes)
        }
        if !transitions.bytes.isEmpty { try insert("conversion_transitions", transitions.bytes) }
        var values: [String] = []
        let now = WallClock.nowMillis() / 1000
        for position in batch.positions {
            for kind in LogKind.allCases {
                values.append("(\(position.shard),'\(kind.name)',\(position[kind].records),\(position[kind].bytes),\(now))")
            }
        }
        guard !values.isEmpty else { return }
        try execute("INSERT INTO \(database).export_positions VALUES " + values.joined(separator: ","))
    }

    /// Deletes the rows past `positions` with mutations (`ALTER TABLE … DELETE`, which touch only
    /// parts that existed when submitted, so rows inserted afterwards are safe), waits until they are
    /// done, then drops the position rows beyond and inserts the lowered ones.
    public func retract(to positions: [ExportPosition]) throws(ExportError) {
        for position in positions {
            let shardEnd = UInt64(position.shard + 1) << 40
            func from(_ kind: LogKind) -> UInt64 { UInt64(position.shard) << 40 | position[kind].records }
            try execute("ALTER TABLE \(database).clicks DELETE WHERE click_ref >= \(from(.clicks)) AND click_ref < \(shardEnd)")
            try execute("ALTER TABLE \(database).conversions DELETE WHERE conversion_id > \(from(.conversions)) AND conversion_id <= \(shardEnd)")
            try execute("ALTER TABLE \(database).conversion_transitions DELETE WHERE transition_id > \(from(.conversions)) AND transition_id <= \(shardEnd)")
            try execute("ALTER TABLE \(database).refusals DELETE WHERE refusal_ref >= \(from(.refusals)) AND refusal_ref < \(shardEnd)")
            for kind in LogKind.allCases {
                try execute("ALTER TABLE \(database).export_positions DELETE WHERE shard = \(position.shard) AND log = '\(kind.name)' "
                    + "AND records > \(position[kind].records)")
            }
        }
        try waitForMutations()
        let now = WallClock.nowMillis() / 1000
        let values = positions.flatMap { position in
            LogKind.allCases.map { "(\(position.shard),'\($0.name)',\(position[$0].records),\(position[$0].bytes),\(now))" }
        }
        try execute("INSERT INTO \(database).export_positions VALUES " + values.joined(separator: ","))
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

extension ClickHouseSink {
    /// Encodes the rows of one span.
    func encode(_ span: LogSpan, from source: ExportSource, into out: inout RowBinary, transitions: inout RowBinary) {
        for sequence in span.range {
            switch span.kind {
            case .clicks:
                if let row = source.click(shard: span.shard, sequence: sequence) {
                    encode(row, source, into: &out)
                }
            case .conversions:
                if let row = source.conversion(shard: span.shard, sequence: sequence) {
                    encode(row, source, into: &out)
                    if row.isTransition { encodeTransition(row, into: &transitions) }
                }
            case .refusals:
                if let row = source.refusal(shard: span.shard, sequence: sequence) { encode(row, into: &out) }
            }
        }
    }

    func encode(_ row: ClickRow, _ source: ExportSource, into out: inout RowBinary) {
        out.uint64(row.ref)
        source.withClickID(shard: row.shard, sequence: row.sequence, mintMillis: row.timeMillis) { out.string($0) }
        out.dateTime(row.timeMillis); out.int64(row.timeMillis)
        out.uint32(row.offerID); out.uint32(row.affID)
        for i in 0..<7 { out.string(row.fields[i]) }
        RowText.withIP(row.peer) { out.string($0) }
        out.string(row.fields.userAgent)
        EnrichmentColumns.encode(row.enrichment, row.enrichmentTail, click: true, into: &out)
    }

    /// A conversion row; a transition writes its conversion's row again with the new status and
    /// version (the table keeps the highest version).
    func encode(_ row: ConversionRow, _ source: ExportSource, into out: inout RowBinary) {
        out.uint64(row.conversionID); out.uint64(row.clickRef)
        out.string(row.clickTimeMillis == 0 ? "" : source.clickID(shard: Int(row.clickRef >> 40), sequence: row.clickRef & ClickID.maxSequence,
                                                                 mintMillis: row.clickTimeMillis))
        out.int64(row.clickTimeMillis); out.dateTime(row.timeMillis); out.int64(row.timeMillis)
        out.uint32(row.offerID); out.uint32(row.affID)
        for i in 0..<7 { out.string(row.click[i]) }
        out.string(source.event(offerID: row.offerID, index: row.eventIndex)); out.uint8(UInt8(truncatingIfNeeded: row.eventIndex))
        out.string(row.status.name)
        if let amount = row.amount { out.uint8(0); out.int64(amount) } else { out.uint8(1) }
        out.int64(row.payout); out.int64(row.revenue)
        withUnsafeBytes(of: row.currency) { out.string(row.currency.0 == 0 ? UnsafeRawBufferPointer(rebasing: $0[0..<0]) : $0) }
        out.string(row.txid)
        withUnsafeBytes(of: row.amountCurrency) {
            out.string(row.amountCurrency.0 == 0 ? UnsafeRawBufferPointer(rebasing: $0[0..<0]) : $0)
        }
        out.uint8(UInt8(truncatingIfNeeded: row.version))
        out.string(row.extras)
        EnrichmentColumns.encode(row.clickEnrichment, row.clickEnrichmentTail, click: false, into: &out)
    }

    /// A transition's row in `conversion_transitions`.
    func encodeTransition(_ row: ConversionRow, into out: inout RowBinary) {
        out.uint64(row.id); out.uint64(row.conversionID); out.dateTime(row.changedMillis); out.int64(row.changedMillis)
        out.string(row.previousStatus?.name ?? ""); out.string(row.status.name); out.uint8(UInt8(truncatingIfNeeded: row.version))
        if row.amountChanged, let amount = row.amount { out.uint8(0); out.int64(amount) } else { out.uint8(1) }
        out.string(row.amountChanged ? RowText.currency(row.amountCurrency) : "")
        out.int64(row.payout); out.int64(row.revenue); out.string(RowText.currency(row.currency))
        out.string(row.actor?.name ?? ""); out.string(row.detail)
    }

    func encode(_ row: RefusalRow, into out: inout RowBinary) {
        out.uint64(row.ref); out.dateTime(row.timeMillis); out.int64(row.timeMillis)
        out.string(row.reason.name); out.uint16(UInt16(truncatingIfNeeded: row.httpStatus))
        out.uint32(row.offerID); out.uint32(row.affID); out.string(row.params)
    }
}

/// ClickHouse's RowBinary: little-endian integers, strings as a LEB128 length and bytes.
struct RowBinary {
    var bytes: [UInt8] = []

    mutating func uint8(_ v: UInt8) { bytes.append(v) }
    mutating func uint16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func uint32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func uint64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func int64(_ v: Int64) { uint64(UInt64(bitPattern: v)) }
    /// DateTime: Unix seconds as UInt32.
    mutating func dateTime(_ millis: Int64) { uint32(UInt32(clamping: max(0, millis / 1000))) }

    mutating func length(_ n: Int) {
        var v = UInt(n)
        while v >= 0x80 { bytes.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }

    mutating func string(_ raw: UnsafeRawBufferPointer) {
        length(raw.count)
        if raw.count > 0 { bytes.append(contentsOf: raw) }
    }

    mutating func string(_ text: StaticString) {
        string(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { string(UnsafeRawBufferPointer($0)) }
    }
}

extension String {
    func trimmingWhitespaceAndNewlines() -> String {
        String(drop { $0 == " " || $0 == "\n" || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\n" || $0 == "\t" }.reversed())
    }
}
