// Roll-ups of report.sqlite (issue 19 item 5): per UTC hour × offer × affiliate × trafficback reason
// × smart link (and the same per UTC day), per UTC day × those × country, device, OS and browser, and
// per UTC day × country, device, OS, browser, reason and smart link without offer and affiliate, and
// the same with offer (conversions also × event and currency), so `trackstar report` reads thousands
// of rows instead of millions. They change in the transaction that changes the rows they sum: exactly
// as durable and exactly once as the rows.
import TrackstarCore
import TrackstarStore

/// The roll-up tables, their triggers, and the SQL that fills or trims them from raw rows.
/// Two levels: `rollup_clicks`/`rollup_conversions` (hour × offer × affiliate × trafficback reason ×
/// smart link; conversions also × event × currency) answer the everyday reports from a few hundred
/// thousand rows a month; `…_detail` adds country, device, OS and browser per UTC day (per hour it
/// would hold nearly a row per few clicks), read when a report groups by one of those and by offer or
/// affiliate; `…_audience` is the detail level without offer and affiliate (a few thousand rows a
/// day), read by every report it can answer; `…_daily` is the hourly level by UTC day (24 times
/// smaller), read by reports by offer or affiliate over whole UTC days; `…_offer_audience` is the
/// audience level with offer (the detail level without affiliate), read by reports by offer and
/// country, device, OS or browser. Refusals have one level (hour × offer × affiliate × reason).
enum SQLiteRollups {
    /// One level: its table suffix, time column and bucket, and grouped columns (after the time).
    struct Level: Equatable {
        let suffix: String
        let time: String
        let bucketMillis: Int64
        let clickDimensions: [String]
        let conversionDimensions: [String]
        /// The conversion table's key after the time, when not `conversionDimensions`' order: currency
        /// first, since every conversion query groups by it (the key's order is what lets SQLite read
        /// a GROUP BY's groups in key order instead of sorting the rows). The detail level keeps its
        /// order (its readers group by affiliate, second in its key, so it would gain little).
        var conversionKeyOrder: [String]? = nil
        var conversionKey: [String] { conversionKeyOrder ?? conversionDimensions }
        var clicks: String { "rollup_clicks" + suffix }
        var conversions: String { "rollup_conversions" + suffix }
    }

    static let coarse = Level(suffix: "", time: "hour", bucketMillis: CivilTime.hourMillis,
                              clickDimensions: ["offer_id", "aff_id", "trafficback_reason", "smartlink"],
                              conversionDimensions: ["offer_id", "aff_id", "event", "trafficback_reason", "smartlink", "currency"],
                              conversionKeyOrder: ["currency", "offer_id", "aff_id", "event", "trafficback_reason", "smartlink"])
    static let detail = Level(suffix: "_detail", time: "day", bucketMillis: CivilTime.dayMillis,
                              clickDimensions: ["offer_id", "aff_id", "country", "device", "os", "browser", "trafficback_reason", "smartlink"],
                              conversionDimensions: ["offer_id", "aff_id", "event", "country", "device", "os", "browser",
                                                     "trafficback_reason", "smartlink", "currency"])
    static let audience = Level(suffix: "_audience", time: "day", bucketMillis: CivilTime.dayMillis,
                                clickDimensions: ["country", "device", "os", "browser", "trafficback_reason", "smartlink"],
                                conversionDimensions: ["event", "country", "device", "os", "browser", "trafficback_reason", "smartlink",
                                                       "currency"],
                                conversionKeyOrder: ["currency", "country", "device", "os", "browser", "event", "trafficback_reason", "smartlink"])
    /// The hourly level by UTC day: reports by offer, affiliate, reason and smart link over whole days.
    static let daily = Level(suffix: "_daily", time: "day", bucketMillis: CivilTime.dayMillis,
                             clickDimensions: coarse.clickDimensions, conversionDimensions: coarse.conversionDimensions,
                             conversionKeyOrder: coarse.conversionKeyOrder)
    /// The audience level with offer (the detail level without affiliate, which multiplies its rows
    /// by the affiliates running each offer): reports by offer and country, device, OS or browser.
    static let offerAudience = Level(suffix: "_offer_audience", time: "day", bucketMillis: CivilTime.dayMillis,
                                     clickDimensions: ["offer_id"] + audience.clickDimensions,
                                     conversionDimensions: ["offer_id"] + audience.conversionDimensions,
                                     conversionKeyOrder: ["currency", "offer_id", "country", "device", "os", "browser", "event",
                                                          "trafficback_reason", "smartlink"])
    /// Every level the exporter keeps (`ClickTally` and the conversion roll-ups write each).
    static let levels = [coarse, detail, audience, daily, offerAudience]

    /// SQLite types of the grouped columns.
    static func sqlType(_ column: String) -> String { ["offer_id", "aff_id", "smartlink"].contains(column) ? "INTEGER" : "TEXT" }

    /// Tables (WITHOUT ROWID: the group is the key). `row_count` counts the raw rows a conversion
    /// group sums, so a group whose rows are all gone is told apart from one whose figures are zero.
    static func tables(_ level: Level) -> String {
        """
            CREATE TABLE IF NOT EXISTS \(level.clicks) (\(level.time) INTEGER NOT NULL, \(columns(level.clickDimensions))
              clicks INTEGER NOT NULL, unique_clicks INTEGER NOT NULL, bot_clicks INTEGER NOT NULL,
              PRIMARY KEY (\(level.time), \(level.clickDimensions.joined(separator: ", ")))) WITHOUT ROWID;
            \(conversionTable(level))
            """
    }

    /// The level's conversion table: columns in `conversionDimensions`' order, key in `conversionKey`'s.
    static func conversionTable(_ level: Level) -> String {
        """
            CREATE TABLE IF NOT EXISTS \(level.conversions) (\(level.time) INTEGER NOT NULL, \(columns(level.conversionDimensions))
              \(conversionFigureColumns.map { "\($0) INTEGER NOT NULL" }.joined(separator: ", ")),
              \(conversionPrimaryKey(level))) WITHOUT ROWID;
            """
    }

    static func conversionPrimaryKey(_ level: Level) -> String { "PRIMARY KEY (\(([level.time] + level.conversionKey).joined(separator: ", ")))" }

    static func columns(_ names: [String]) -> String { names.map { "\($0) \(sqlType($0)) NOT NULL, " }.joined() }

    static let refusalTable = """
        CREATE TABLE IF NOT EXISTS rollup_refusals (
          hour INTEGER NOT NULL, offer_id INTEGER NOT NULL, aff_id INTEGER NOT NULL, reason TEXT NOT NULL, refusals INTEGER NOT NULL,
          PRIMARY KEY (hour, offer_id, aff_id, reason)) WITHOUT ROWID;
        """

    /// Refusals' trigger: retraction. Rows inserted are summed by the sink (`RefusalTally`), or by
    /// `SQLiteSink.rollUpRefusals` for rows written by other means; an insert trigger of an earlier
    /// release is dropped (one upsert per row: ~12,000 instructions a refusal, callgrind `ExportFigures`).
    /// Conversions as recorded are summed by the sink too (`ConversionTally`); their triggers
    /// (`conversionTriggers`, SQLiteConversionRollups.swift) see the other ways a row changes — a status
    /// transition of a stored row (in whichever order versions arrive: the upsert keeps the highest, the
    /// trigger moves the row's money from its old status to its new one), retracted.
    static var triggers: String {
        """
            DROP TRIGGER IF EXISTS rollup_refusals_insert;
            CREATE TRIGGER IF NOT EXISTS rollup_refusals_delete AFTER DELETE ON refusals BEGIN \(refusalUpsert("OLD", -1)) END;
            """
    }

    /// Adds the refusal rows `condition` selects to `rollup_refusals`.
    static func refusalsFromRaw(where condition: String) -> String {
        """
        INSERT INTO rollup_refusals SELECT time_ms / \(CivilTime.hourMillis) AS h, offer_id, aff_id, reason, count(*)
        FROM refusals WHERE \(condition) GROUP BY h, offer_id, aff_id, reason ON CONFLICT DO UPDATE SET \(refusalSums);
        """
    }

    static let refusalSums = "refusals = refusals + excluded.refusals"

    /// The figures of one conversion row (`r` is NEW, OLD or the table), as the report's raw query counts them.
    static func conversionFigures(_ r: String) -> [String] {
        func money(_ column: String, _ status: String) -> String { "CASE WHEN \(r).status = '\(status)' THEN \(r).\(column) ELSE 0 END" }
        return ["1", "CASE WHEN \(r).status = 'rejected' THEN 0 ELSE 1 END"]
            + ["approved", "pending", "rejected"].flatMap { [money("payout_micros", $0), money("revenue_micros", $0)] }
    }

    static let conversionFigureColumns = ["row_count", "conversions", "payout_micros", "revenue_micros", "pending_payout_micros",
                                          "pending_revenue_micros", "rejected_payout_micros", "rejected_revenue_micros"]

    static let conversionSums = conversionFigureColumns.map { "\($0) = \($0) + excluded.\($0)" }.joined(separator: ", ")

    static func conversionUpsert(_ level: Level, _ r: String, _ sign: Int) -> String {
        "INSERT INTO \(level.conversions) VALUES (\(conversionValues(level, r, sign).joined(separator: ", "))) ON CONFLICT DO UPDATE SET \(conversionSums);"
    }

    static func refusalUpsert(_ r: String, _ sign: Int) -> String {
        "INSERT INTO rollup_refusals VALUES (\(r).time_ms / \(CivilTime.hourMillis), \(r).offer_id, \(r).aff_id, \(r).reason, \(sign)) "
            + "ON CONFLICT DO UPDATE SET \(refusalSums);"
    }

    static let clickSums = "clicks = clicks + excluded.clicks, unique_clicks = unique_clicks + excluded.unique_clicks, "
        + "bot_clicks = bot_clicks + excluded.bot_clicks"

    /// Adds (or, with `sign` -1, subtracts) the clicks `condition` selects from `source` (the `clicks`
    /// view, or a narrower subquery of its columns) to both click roll-ups, in SQL: used to fill the
    /// roll-ups of a store made before them, and to take out retracted rows.
    static func clicksFromRaw(from source: String = "clicks", where condition: String, sign: Int, levels: [Level] = levels) -> String {
        let s = sign < 0 ? "-" : ""
        return levels.map { level in
            let dimensions = level.clickDimensions.joined(separator: ", ")
            return """
                INSERT INTO \(level.clicks) SELECT time_ms / \(level.bucketMillis) AS h, \(dimensions),
                  \(s)count(*), \(s)sum(is_unique), \(s)sum(CASE WHEN bot_reason = '' THEN 0 ELSE 1 END)
                FROM \(source) WHERE \(condition) GROUP BY h, \(dimensions) ON CONFLICT DO UPDATE SET \(clickSums);
                DELETE FROM \(level.clicks) WHERE clicks = 0;
                """
        }.joined(separator: "\n")
    }

    /// Fills the conversion and refusal roll-ups from raw rows (a store made before roll-ups).
    static var othersFromRaw: String {
        conversionsFromRaw(where: "true") + "\n" + refusalsFromRaw(where: "true")
    }

    /// Creates what is missing; a store that had rows but no roll-ups gets them filled from its rows
    /// (in one transaction, before the triggers exist, so nothing is counted twice).
    static func create(_ db: SQLiteDatabase) throws(ExportError) {
        let tables = levels.map(SQLiteRollups.tables).joined() + refusalTable
        let existed = try !db.rows("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name = 'rollup_refusals_delete'").isEmpty
        guard !existed else {
            try addMissingLevels(db)
            try db.execute(tables + triggers)
            try installConversionTriggers(db)
            return
        }
        try db.execute("BEGIN IMMEDIATE")
        do {
            try db.execute(tables)
            try db.execute(clicksFromRaw(where: "true", sign: 1) + othersFromRaw)
            try db.execute(triggers)
            try installConversionTriggers(db)
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// The upsert of one tallied click group into `level` (`ClickTally.flush`).
    static func clickUpsert(_ level: Level) -> String {
        let marks = Array(repeating: "?", count: level.clickDimensions.count + 4).joined(separator: ",")
        return "INSERT INTO \(level.clicks) VALUES (\(marks)) ON CONFLICT DO UPDATE SET \(clickSums)"
    }

    /// The click upserts of every level, in the order of `levels` (what `ClickTally.flush` takes).
    static func clickUpserts(_ db: SQLiteDatabase) throws(ExportError) -> [SQLiteStatement] {
        var upserts: [SQLiteStatement] = []
        for level in levels { upserts.append(try db.prepare(clickUpsert(level))) }
        return upserts
    }
}

extension SQLiteRollups {
    /// A store made with roll-ups but before a level of `levels` was added (audience, daily, offer audience):
    /// the level's tables are created and filled, in one transaction with the conversion triggers
    /// made anew to keep it too; a conversion table with another key than its level's is copied into
    /// one with it (`rekeyConversions`). Filled from a finer level the store has (same columns and more,
    /// buckets that divide the level's): exact, and right even where raw rows were deleted and the
    /// roll-ups kept (item 5 lets raw rows age out); from raw rows only when no such level exists.
    static func addMissingLevels(_ db: SQLiteDatabase) throws(ExportError) {
        var missing: [Level] = [], present: [Level] = [], rekeyed: [Level] = []
        for level in levels {
            let clicks = try SQLiteClickBlocks.hasTable(db, level.clicks), conversions = try SQLiteClickBlocks.hasTable(db, level.conversions)
            if clicks && conversions {
                present.append(level)
                let sql = try db.rows("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '\(level.conversions)'").first?[0] ?? ""
                if !sql.contains(conversionPrimaryKey(level)) { rekeyed.append(level) }
            } else {
                missing.append(level)
            }
        }
        guard !missing.isEmpty || !rekeyed.isEmpty else { return }
        try db.execute("BEGIN IMMEDIATE")
        do {
            if !rekeyed.isEmpty {  // made again below: their text names the table being renamed
                try db.execute((conversionTriggers(levels).map(\.name) + retiredConversionTriggers).map { "DROP TRIGGER IF EXISTS \($0);" }.joined())
            }
            for level in rekeyed { try db.execute(rekeyConversions(level)) }
            for level in missing {
                try db.execute(tables(level))
                if let source = present.first(where: { level.canBeSummed(from: $0) }) {
                    try db.execute(levelFromLevel(level, source))
                } else {
                    try db.execute(clicksFromRaw(where: "true", sign: 1, levels: [level]) + conversionsFromRaw(level))
                }
                present.append(level)
            }
            try installConversionTriggers(db)  // their text names every level: made again with the new one
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// Copies a conversion table made with another key (the hourly, daily and audience levels had
    /// currency last up to main 17d4f0b) into one with the level's key: the same columns in the same order.
    static func rekeyConversions(_ level: Level) -> String {
        """
            ALTER TABLE \(level.conversions) RENAME TO \(level.conversions)_rekeyed;
            \(conversionTable(level))
            INSERT INTO \(level.conversions) SELECT * FROM \(level.conversions)_rekeyed;
            DROP TABLE \(level.conversions)_rekeyed;
            """
    }

    /// INSERTs summing `source`'s click and conversion rows into `level`'s (empty) tables.
    static func levelFromLevel(_ level: Level, _ source: Level) -> String {
        let ratio = level.bucketMillis / source.bucketMillis
        let bucket = ratio == 1 ? source.time : "\(source.time) / \(ratio)"
        let clicks = level.clickDimensions.joined(separator: ", "), conversions = level.conversionDimensions.joined(separator: ", ")
        return """
            INSERT INTO \(level.clicks) SELECT \(bucket) AS b, \(clicks), sum(clicks), sum(unique_clicks), sum(bot_clicks)
            FROM \(source.clicks) GROUP BY b, \(clicks) HAVING sum(clicks) != 0;
            INSERT INTO \(level.conversions) SELECT \(bucket) AS b, \(conversions), \(conversionFigureColumns.map { "sum(\($0))" }.joined(separator: ", "))
            FROM \(source.conversions) GROUP BY b, \(conversions);
            """
    }

    /// Fills `level`'s conversion table from the raw conversion rows.
    static func conversionsFromRaw(_ level: Level) -> String {
        let dimensions = level.conversionDimensions.joined(separator: ", ")
        return """
            INSERT INTO \(level.conversions) SELECT time_ms / \(level.bucketMillis) AS h, \(dimensions),
              \(conversionFigures("conversions").map { "sum(\($0))" }.joined(separator: ", "))
            FROM conversions GROUP BY h, \(dimensions);
            """
    }
}

extension SQLiteRollups.Level {
    /// Whether summing `finer`'s rows gives this level's: it keeps every column of this one and its
    /// buckets divide this one's.
    func canBeSummed(from finer: SQLiteRollups.Level) -> Bool {
        finer != self && bucketMillis % finer.bucketMillis == 0
            && clickDimensions.allSatisfy(finer.clickDimensions.contains) && conversionDimensions.allSatisfy(finer.conversionDimensions.contains)
    }

    /// Whether the level keeps a report column (days are in every level; hours only in hourly ones).
    func keeps(_ dimension: ReportDimension) -> Bool {
        switch dimension {
        case .day: true
        case .hour: time == "hour"
        case .event: conversionDimensions.contains("event")
        default: clickDimensions.contains(dimension.expression({ c, _ in c }))
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
