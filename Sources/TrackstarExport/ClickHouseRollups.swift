// Roll-ups of the ClickHouse store (issue 19 item 5), with the dimensions of SQLite's (SQLiteRollups):
// clicks and refusals as sums the exporter writes per batch, each insert carrying its own "rolled up
// to record N" marks so a re-sent batch is never summed twice; conversions (whose status changes)
// re-summed from their raw rows for the hours a batch touched, which is idempotent. Reports read
// them through views named like SQLite's tables, so the same SQL answers from either store.
import TrackstarCore
import TrackstarStore

/// The roll-up tables and views, and the SQL that fills them from raw rows.
///
/// - `rollup_sums` (SummingMergeTree, not partitioned: an insert is one part, so it is applied whole
///   or not at all) holds, by `level`: 0 clicks per UTC hour × offer × affiliate × trafficback
///   reason × smart link; 1 clicks per UTC day × those × country × device × OS × browser; 2 refusals
///   per hour × offer × affiliate × reason (in `trafficback_reason`, the count in `clicks`); 254 the
///   flag "conversion roll-ups filled"; 255 the marks: per shard (`bucket`) and log (`offer_id`), the
///   records rolled up (`clicks`, summed). Every insert of sums carries the marks of the records it
///   sums, so the marks say exactly which records the sums hold.
/// - `rollup_conversion_sums` (ReplacingMergeTree(ver)): level 0 per hour, 1 per UTC day, each group
///   re-summed from `conversions FINAL`; `ver` is the sum over the group's conversions of (1 +
///   version), which grows with every row or transition the group gains, so of two re-summings the
///   one that saw more wins whatever order they are inserted in (several exporter threads).
enum ClickHouseRollups {
    static let hourlyClicks: UInt8 = 0, dailyClicks: UInt8 = 1, hourlyRefusals: UInt8 = 2
    static let conversionsFilled: UInt8 = 254, mark: UInt8 = 255

    /// Grouped columns of `rollup_sums` after `level, bucket`, and of `rollup_conversion_sums`.
    static let sumColumns = ["offer_id", "aff_id", "trafficback_reason", "smartlink", "country", "device", "os", "browser"]
    static let conversionColumns = ["offer_id", "aff_id", "event", "trafficback_reason", "smartlink", "currency", "country", "device", "os", "browser"]
    static func isNumber(_ column: String) -> Bool { ["offer_id", "aff_id", "smartlink"].contains(column) }

    /// The views reports read, named and shaped as SQLite's roll-up tables.
    static let views = ["rollup_clicks", "rollup_clicks_detail", "rollup_conversions", "rollup_conversions_detail", "rollup_refusals"]

    static func schema(_ db: String) -> [String] {
        func typed(_ columns: [String]) -> String { columns.map { "\($0) \(isNumber($0) ? "UInt32" : "String")" }.joined(separator: ", ") }
        let levels = [(hourlyClicks, SQLiteRollups.coarse), (dailyClicks, SQLiteRollups.detail)]
        return [
            """
            CREATE TABLE IF NOT EXISTS \(db).rollup_sums (level UInt8, bucket Int64, \(typed(sumColumns)),
              clicks Int64, unique_clicks Int64, bot_clicks Int64)
              ENGINE = SummingMergeTree() ORDER BY (level, bucket, \(sumColumns.joined(separator: ", ")))
            """,
            """
            CREATE TABLE IF NOT EXISTS \(db).rollup_conversion_sums (level UInt8, bucket Int64, \(typed(conversionColumns)), ver UInt64,
              \(SQLiteRollups.conversionFigureColumns.map { "\($0) Int64" }.joined(separator: ", ")))
              ENGINE = ReplacingMergeTree(ver) ORDER BY (level, bucket, \(conversionColumns.joined(separator: ", ")))
            """,
            """
            CREATE VIEW IF NOT EXISTS \(db).rollup_refusals AS SELECT bucket AS hour, offer_id, aff_id, trafficback_reason AS reason,
              clicks AS refusals FROM \(db).rollup_sums WHERE level = \(hourlyRefusals)
            """,
        ] + levels.flatMap { number, level in
            [
                """
                CREATE VIEW IF NOT EXISTS \(db).\(level.clicks) AS SELECT bucket AS \(level.time), \(level.clickDimensions.joined(separator: ", ")),
                  clicks, unique_clicks, bot_clicks FROM \(db).rollup_sums WHERE level = \(number)
                """,
                """
                CREATE VIEW IF NOT EXISTS \(db).\(level.conversions) AS SELECT bucket AS \(level.time), \(level.conversionDimensions.joined(separator: ", ")),
                  \(SQLiteRollups.conversionFigureColumns.joined(separator: ", ")) FROM \(db).rollup_conversion_sums FINAL WHERE level = \(number)
                """,
            ]
        }
    }

    /// Sums of the raw rows `condition` selects into `rollup_sums` (times `sign`), with the mark
    /// (`records`, times `sign`) of `kind` for `shard`, as one INSERT … SELECT (sent as one block).
    static func fromRaw(_ db: String, _ kind: LogKind, shard: Int, where condition: String, records: UInt64, sign: Int) -> String {
        let s = sign < 0 ? "-" : ""
        /// One level's SELECT; `source` names the raw column a grouped column is read from (refusals:
        /// `reason` into `trafficback_reason`).
        func level(_ number: UInt8, _ bucket: Int64, _ grouped: [String], figures: String, table: String,
                   source: [String: String] = [:]) -> String {
            let columns = sumColumns.map { column in
                grouped.contains(column) ? source[column] ?? column : isNumber(column) ? "toUInt32(0)" : "''"
            }
            let keys = grouped.map { source[$0] ?? $0 }
            return "SELECT toUInt8(\(number)), toInt64(intDiv(time_ms, \(bucket))) AS b, \(columns.joined(separator: ", ")), \(figures) "
                + "FROM \(db).\(table) FINAL WHERE \(condition) GROUP BY b, \(keys.joined(separator: ", "))"
        }
        let clickFigures = "\(s)toInt64(count()), \(s)toInt64(sum(is_unique)), \(s)toInt64(sum(bot_reason != ''))"
        let selects = kind == .clicks
            ? [level(hourlyClicks, CivilTime.hourMillis, SQLiteRollups.coarse.clickDimensions, figures: clickFigures, table: "clicks"),
               level(dailyClicks, CivilTime.dayMillis, SQLiteRollups.detail.clickDimensions, figures: clickFigures, table: "clicks")]
            : [level(hourlyRefusals, CivilTime.hourMillis, ["offer_id", "aff_id", "trafficback_reason"],
                     figures: "\(s)toInt64(count()), toInt64(0), toInt64(0)", table: "refusals", source: ["trafficback_reason": "reason"])]
        let mark = "SELECT toUInt8(\(mark)), toInt64(\(shard)), toUInt32(\(kind.rawValue)), toUInt32(0), '', toUInt32(0), '', '', '', '', "
            + "toInt64(\(s)\(records)), toInt64(0), toInt64(0)"
        return "INSERT INTO \(db).rollup_sums " + (selects + [mark]).joined(separator: " UNION ALL ")
    }

    /// Re-sums conversion groups of both levels from `conversions FINAL` where `condition` holds
    /// (`hours` and `days` restrict each level to the buckets a batch touched; nil: all).
    static func conversionsFromRaw(_ db: String, hours: [Int64]?, days: [Int64]?) -> [String] {
        let levels = [(hourlyClicks, SQLiteRollups.coarse, hours), (dailyClicks, SQLiteRollups.detail, days)]
        return levels.compactMap { number, level, buckets in
            if let buckets, buckets.isEmpty { return nil }
            let grouped = level.conversionDimensions
            let columns = conversionColumns.map { grouped.contains($0) ? $0 : isNumber($0) ? "toUInt32(0)" : "''" }
            func money(_ column: String, _ status: String) -> String { "toInt64(sumIf(\(column), status = '\(status)'))" }
            let figures = ["toInt64(count())", "toInt64(sum(status != 'rejected'))"]
                + ["approved", "pending", "rejected"].flatMap { [money("payout_micros", $0), money("revenue_micros", $0)] }
            var condition = "1"
            if let buckets, let low = buckets.min(), let high = buckets.max() {
                let from = low * level.bucketMillis, to = (high + 1) * level.bucketMillis
                condition = "time >= toDateTime(\(from / 1000)) AND time < toDateTime(\(to / 1000)) AND time_ms >= \(from) AND time_ms < \(to) "
                    + "AND intDiv(time_ms, \(level.bucketMillis)) IN (\(buckets.map(String.init).joined(separator: ", ")))"
            }
            return "INSERT INTO \(db).rollup_conversion_sums SELECT toUInt8(\(number)), toInt64(intDiv(time_ms, \(level.bucketMillis))) AS b, "
                + "\(columns.joined(separator: ", ")), toUInt64(sum(1 + version)), \(figures.joined(separator: ", ")) "
                + "FROM \(db).conversions FINAL WHERE \(condition) GROUP BY b, \(grouped.joined(separator: ", "))"
        }
    }
}

/// A batch's refusals summed by roll-up group (hour × offer × affiliate × reason).
struct RefusalGroup: Hashable {
    var hour: Int64
    var offerID: UInt32, affID: UInt32
    var reason: RefusalReason
    init(_ row: RefusalRow) { hour = row.timeMillis / CivilTime.hourMillis; offerID = row.offerID; affID = row.affID; reason = row.reason }
}

extension ClickHouseSink {
    /// Settings that make an INSERT one block, hence one part of the unpartitioned `rollup_sums`:
    /// its sums and marks are stored together or not at all.
    static let oneBlock = "max_insert_block_size=1000000000&min_insert_block_size_rows=1000000000000&min_insert_block_size_bytes=1000000000000"

    /// Creates the roll-up tables and views, reads the marks, and fills the conversion roll-ups
    /// if they never were (a store from before roll-ups; a crash while filling them).
    func openRollups() throws(ExportError) {
        for statement in ClickHouseRollups.schema(database) { try execute(statement) }
        try readRollupMarks()
        if !conversionsFilled { try fillConversionRollups() }
    }

    /// The marks (records rolled up per shard and log) and the "conversions filled" flag.
    func readRollupMarks() throws(ExportError) {
        let text = try execute("""
            SELECT level, bucket, offer_id, sum(clicks) FROM \(database).rollup_sums WHERE level >= \(ClickHouseRollups.conversionsFilled)
            GROUP BY level, bucket, offer_id FORMAT TabSeparated
            """).text
        rolled = [:]
        conversionsFilled = false
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t")
            guard f.count == 4, let level = UInt8(f[0]), let shard = Int(f[1]), let log = Int(f[2]), let count = Int64(f[3]) else { continue }
            if level == ClickHouseRollups.conversionsFilled {
                conversionsFilled = count > 0
            } else if let kind = LogKind(rawValue: log), count > 0 {
                rolled[shard, default: ExportPosition(shard: shard)][kind] = LogPosition(records: UInt64(count))
            }
        }
    }

    /// Re-sums every conversion group from the raw rows (idempotent), then sets the flag.
    func fillConversionRollups() throws(ExportError) {
        for statement in ClickHouseRollups.conversionsFromRaw(database, hours: nil, days: nil) { try execute(statement) }
        try execute("INSERT INTO \(database).rollup_sums (level, clicks) VALUES (\(ClickHouseRollups.conversionsFilled), 1)")
        conversionsFilled = true
    }

    /// After a retraction: the flag is cleared, the conversion sums deleted and filled again from
    /// the rows that are left (a crash in between leaves no flag, so the next `open` fills them).
    func refillConversionRollups() throws(ExportError) {
        try execute("ALTER TABLE \(database).rollup_sums DELETE WHERE level = \(ClickHouseRollups.conversionsFilled)")
        try execute("ALTER TABLE \(database).rollup_conversion_sums DELETE WHERE 1")
        try waitForMutations()
        conversionsFilled = false
        try fillConversionRollups()
    }

    func resetRollupTallies() {
        tally.groups.removeAll(keepingCapacity: true)
        refusalTally.removeAll(keepingCapacity: true)
        conversionHours.removeAll(keepingCapacity: true)
    }

    /// Sums records a span starts after but the marks do not hold — a store whose clicks and refusals
    /// predate roll-ups — from their raw rows, in chunks of 2^25 records each inserted with its mark.
    func fillRollupGaps(before spans: [LogSpan]) throws(ExportError) {
        for span in spans where span.kind != .conversions {
            var from = rolled[span.shard]?[span.kind].records ?? 0
            while from < span.range.lowerBound {
                let to = min(span.range.lowerBound, from + 1 << 25)
                try addRawSums(span.kind, shard: span.shard, from: from, to: to, sign: 1)
                from = to
            }
        }
    }

    /// Adds (or subtracts) the sums of records `from..<to` of a shard's clicks or refusals, read from
    /// their raw rows, with the mark, in one insert; then moves the mark in memory.
    func addRawSums(_ kind: LogKind, shard: Int, from: UInt64, to: UInt64, sign: Int) throws(ExportError) {
        let base = UInt64(shard) << 40, id = kind == .clicks ? "click_ref" : "refusal_ref"
        let sql = ClickHouseRollups.fromRaw(database, kind, shard: shard, where: "\(id) >= \(base | from) AND \(id) < \(base | to)",
                                            records: to - from, sign: sign)
        try check(client.request(.post, "/?" + ClickHouseSink.oneBlock, body: Array(sql.utf8)), doing: String(sql.prefix(80)))
        rolled[shard, default: ExportPosition(shard: shard)][kind] = LogPosition(records: sign < 0 ? from : to)
    }

    /// Inserts the batch's click and refusal sums with the marks of the records they hold (those at
    /// or past the marks: a re-sent batch adds only what the first attempt did not), then re-sums the
    /// conversion groups of the hours and days the batch touched.
    func writeRollups(_ spans: [LogSpan]) throws(ExportError) {
        let out = rollupRows
        out.removeAll()
        for (group, figures) in tally.groups {
            withUnsafeBytes(of: group.country.littleEndian) { bytes in
                let letters = group.country == 0 ? UnsafeRawBufferPointer(rebasing: bytes[0..<0]) : bytes
                for level in [ClickHouseRollups.hourlyClicks, ClickHouseRollups.dailyClicks] {
                    let daily = level == ClickHouseRollups.dailyClicks
                    out.uint8(level); out.int64(daily ? group.hour / 24 : group.hour)
                    out.uint32(group.offerID); out.uint32(group.affID); out.string(group.reason.name); out.uint32(group.smartlink)
                    if daily {
                        out.string(letters); out.string(group.device.name); out.string(group.os); out.string(group.browser)
                    } else {
                        for _ in 0..<4 { out.uint8(0) }  // four empty strings
                    }
                    out.int64(figures.clicks); out.int64(figures.unique); out.int64(figures.bots)
                }
            }
        }
        for (group, count) in refusalTally {
            out.uint8(ClickHouseRollups.hourlyRefusals); out.int64(group.hour); out.uint32(group.offerID); out.uint32(group.affID)
            out.string(group.reason.name); out.uint32(0); for _ in 0..<4 { out.uint8(0) }
            out.int64(count); out.int64(0); out.int64(0)
        }
        var moved: [LogSpan] = []
        for span in spans where span.kind != .conversions {
            let from = max(span.range.lowerBound, rolled[span.shard]?[span.kind].records ?? 0)
            guard span.range.upperBound > from else { continue }
            out.uint8(ClickHouseRollups.mark); out.int64(Int64(span.shard)); out.uint32(UInt32(span.kind.rawValue)); out.uint32(0)
            out.uint8(0); out.uint32(0); for _ in 0..<4 { out.uint8(0) }
            out.int64(Int64(span.range.upperBound - from)); out.int64(0); out.int64(0)
            moved.append(span)
        }
        if !out.isEmpty {
            let query = "INSERT INTO \(database).rollup_sums FORMAT RowBinary"
            try check(client.request(.post, "/?\(ClickHouseSink.oneBlock)&query=" + HTTPClient.encode(query), body: out.bytes), doing: query)
            out.removeAll()
        }
        for span in moved { rolled[span.shard, default: ExportPosition(shard: span.shard)][span.kind] = LogPosition(records: span.range.upperBound) }
        if !conversionHours.isEmpty {
            let hours = conversionHours.sorted(), days = Set(hours.map { $0 / 24 }).sorted()
            for statement in ClickHouseRollups.conversionsFromRaw(database, hours: hours, days: days) { try execute(statement) }
        }
        resetRollupTallies()
    }

    /// Before a retraction deletes rows: the sums of the click and refusal records past `positions`
    /// that the roll-ups hold are subtracted (read from their raw rows, which are still there), each
    /// with its mark lowered in the same insert.
    func retractRollups(to positions: [ExportPosition]) throws(ExportError) {
        for position in positions {
            for kind in [LogKind.clicks, .refusals] {
                let held = rolled[position.shard]?[kind].records ?? 0, cut = position[kind].records
                if held > cut { try addRawSums(kind, shard: position.shard, from: cut, to: held, sign: -1) }
            }
        }
    }

    /// Whether reports may read the roll-ups: the tables exist, the conversion roll-ups are filled,
    /// and the marks hold every committed click and refusal record (false for a store an exporter
    /// with roll-ups has not written to since it was made, or while it fills them).
    public func rollupsCover() throws(ExportError) -> Bool {
        let names = (["rollup_sums", "rollup_conversion_sums"] + ClickHouseRollups.views).map { "'\($0)'" }.joined(separator: ", ")
        let found = try execute("SELECT count() FROM system.tables WHERE database = '\(database)' AND name IN (\(names)) FORMAT TabSeparated").text
        guard Int(found.trimmingWhitespaceAndNewlines()) == ClickHouseRollups.views.count + 2 else { return false }
        try readRollupMarks()
        guard conversionsFilled else { return false }
        for position in try positions() {
            for kind in [LogKind.clicks, .refusals] where position[kind].records > (rolled[position.shard]?[kind].records ?? 0) { return false }
        }
        return true
    }
}
