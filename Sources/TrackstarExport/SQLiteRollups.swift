// Roll-ups of report.sqlite (issue 19 item 5): per UTC hour × offer × affiliate × trafficback reason
// × smart link, and per UTC day × those × country, device, OS and browser (conversions also × event
// and currency), so `trackstar report` reads thousands of rows instead of millions. They change in
// the transaction that changes the rows they sum: exactly as durable and exactly once as the rows.
import TrackstarCore
import TrackstarStore

/// The roll-up tables, their triggers, and the SQL that fills or trims them from raw rows.
/// Two levels: `rollup_clicks`/`rollup_conversions` (hour × offer × affiliate × trafficback reason ×
/// smart link; conversions also × event × currency) answer the everyday reports from a few hundred
/// thousand rows a month; `…_detail` adds country, device, OS and browser per UTC day (per hour it
/// would hold nearly a row per few clicks), read only when a report groups by one of those. Refusals
/// have one level (hour × offer × affiliate × reason).
enum SQLiteRollups {
    /// One level: its table suffix, time column and bucket, and grouped columns (after the time).
    struct Level {
        let suffix: String
        let time: String
        let bucketMillis: Int64
        let clickDimensions: [String]
        let conversionDimensions: [String]
        var clicks: String { "rollup_clicks" + suffix }
        var conversions: String { "rollup_conversions" + suffix }
    }

    static let coarse = Level(suffix: "", time: "hour", bucketMillis: CivilTime.hourMillis,
                              clickDimensions: ["offer_id", "aff_id", "trafficback_reason", "smartlink"],
                              conversionDimensions: ["offer_id", "aff_id", "event", "trafficback_reason", "smartlink", "currency"])
    static let detail = Level(suffix: "_detail", time: "day", bucketMillis: CivilTime.dayMillis,
                              clickDimensions: ["offer_id", "aff_id", "country", "device", "os", "browser", "trafficback_reason", "smartlink"],
                              conversionDimensions: ["offer_id", "aff_id", "event", "country", "device", "os", "browser",
                                                     "trafficback_reason", "smartlink", "currency"])
    static let levels = [coarse, detail]

    /// SQLite types of the grouped columns.
    static func sqlType(_ column: String) -> String { ["offer_id", "aff_id", "smartlink"].contains(column) ? "INTEGER" : "TEXT" }

    /// Tables (WITHOUT ROWID: the group is the key). `row_count` counts the raw rows a conversion
    /// group sums, so a group whose rows are all gone is told apart from one whose figures are zero.
    static func tables(_ level: Level) -> String {
        func columns(_ names: [String]) -> String { names.map { "\($0) \(sqlType($0)) NOT NULL, " }.joined() }
        return """
            CREATE TABLE IF NOT EXISTS \(level.clicks) (\(level.time) INTEGER NOT NULL, \(columns(level.clickDimensions))
              clicks INTEGER NOT NULL, unique_clicks INTEGER NOT NULL, bot_clicks INTEGER NOT NULL,
              PRIMARY KEY (\(level.time), \(level.clickDimensions.joined(separator: ", ")))) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS \(level.conversions) (\(level.time) INTEGER NOT NULL, \(columns(level.conversionDimensions))
              \(conversionFigureColumns.map { "\($0) INTEGER NOT NULL" }.joined(separator: ", ")),
              PRIMARY KEY (\(level.time), \(level.conversionDimensions.joined(separator: ", ")))) WITHOUT ROWID;
            """
    }

    static let refusalTable = """
        CREATE TABLE IF NOT EXISTS rollup_refusals (
          hour INTEGER NOT NULL, offer_id INTEGER NOT NULL, aff_id INTEGER NOT NULL, reason TEXT NOT NULL, refusals INTEGER NOT NULL,
          PRIMARY KEY (hour, offer_id, aff_id, reason)) WITHOUT ROWID;
        """

    /// Conversions are few (a click in a hundred): triggers keep their roll-ups, and see every way a
    /// row changes — recorded, a status transition (in whichever order versions arrive: the upsert
    /// keeps the highest, the trigger moves the row's money from its old status to its new one), retracted.
    static var triggers: String {
        func both(_ r: String, _ sign: Int) -> String { levels.map { conversionUpsert($0, r, sign) }.joined(separator: " ") }
        return """
            CREATE TRIGGER IF NOT EXISTS rollup_conversions_insert AFTER INSERT ON conversions BEGIN \(both("NEW", 1)) END;
            CREATE TRIGGER IF NOT EXISTS rollup_conversions_status AFTER UPDATE OF status ON conversions WHEN OLD.status IS NOT NEW.status
              BEGIN \(both("OLD", -1)) \(both("NEW", 1)) END;
            CREATE TRIGGER IF NOT EXISTS rollup_conversions_delete AFTER DELETE ON conversions BEGIN \(both("OLD", -1)) END;
            CREATE TRIGGER IF NOT EXISTS rollup_refusals_insert AFTER INSERT ON refusals BEGIN \(refusalUpsert("NEW", 1)) END;
            CREATE TRIGGER IF NOT EXISTS rollup_refusals_delete AFTER DELETE ON refusals BEGIN \(refusalUpsert("OLD", -1)) END;
            """
    }

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
        let values = ["\(r).time_ms / \(level.bucketMillis)"] + level.conversionDimensions.map { "\(r).\($0)" }
            + conversionFigures(r).map { sign < 0 ? "-(\($0))" : $0 }
        return "INSERT INTO \(level.conversions) VALUES (\(values.joined(separator: ", "))) ON CONFLICT DO UPDATE SET \(conversionSums);"
    }

    static func refusalUpsert(_ r: String, _ sign: Int) -> String {
        "INSERT INTO rollup_refusals VALUES (\(r).time_ms / \(CivilTime.hourMillis), \(r).offer_id, \(r).aff_id, \(r).reason, \(sign)) "
            + "ON CONFLICT DO UPDATE SET refusals = refusals + excluded.refusals;"
    }

    static let clickSums = "clicks = clicks + excluded.clicks, unique_clicks = unique_clicks + excluded.unique_clicks, "
        + "bot_clicks = bot_clicks + excluded.bot_clicks"

    /// Adds (or, with `sign` -1, subtracts) the clicks `condition` selects from `source` (the `clicks`
    /// view, or a narrower subquery of its columns) to both click roll-ups, in SQL: used to fill the
    /// roll-ups of a store made before them, and to take out retracted rows.
    static func clicksFromRaw(from source: String = "clicks", where condition: String, sign: Int) -> String {
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
        levels.map { level in
            let dimensions = level.conversionDimensions.joined(separator: ", ")
            return """
                INSERT INTO \(level.conversions) SELECT time_ms / \(level.bucketMillis) AS h, \(dimensions),
                  \(conversionFigures("conversions").map { "sum(\($0))" }.joined(separator: ", "))
                FROM conversions WHERE true GROUP BY h, \(dimensions) ON CONFLICT DO UPDATE SET \(conversionSums);
                """
        }.joined(separator: "\n") + """

            INSERT INTO rollup_refusals SELECT time_ms / \(CivilTime.hourMillis) AS h, offer_id, aff_id, reason, count(*)
            FROM refusals WHERE true GROUP BY h, offer_id, aff_id, reason ON CONFLICT DO UPDATE SET refusals = refusals + excluded.refusals;
            """
    }

    /// Creates what is missing; a store that had rows but no roll-ups gets them filled from its rows
    /// (in one transaction, before the triggers exist, so nothing is counted twice).
    static func create(_ db: SQLiteDatabase) throws(ExportError) {
        let tables = levels.map(SQLiteRollups.tables).joined() + refusalTable
        let existed = try !db.rows("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name = 'rollup_refusals_delete'").isEmpty
        guard !existed else { try db.execute(tables + triggers); return }
        try db.execute("BEGIN IMMEDIATE")
        do {
            try db.execute(tables)
            try db.execute(clicksFromRaw(where: "true", sign: 1) + othersFromRaw)
            try db.execute(triggers)
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
}

/// A batch's clicks summed by roll-up group in memory, then written as one upsert per group: a
/// batch of thousands of clicks from a few campaigns touches a few dozen roll-up rows. Keys point
/// at the OS and browser names in the mapped log (valid for the batch); nothing is copied per click.
struct ClickTally {
    struct Group: Hashable {
        var hour: Int64
        var offerID: UInt32, affID: UInt32
        var country: UInt16
        var device: ClickDevice
        var reason: TrafficReason
        var smartlink: UInt32
        var os: UnsafeRawBufferPointer, browser: UnsafeRawBufferPointer

        func hash(into hasher: inout Hasher) {
            hasher.combine(hour); hasher.combine(offerID); hasher.combine(affID); hasher.combine(country)
            hasher.combine(device.rawValue); hasher.combine(reason.rawValue); hasher.combine(smartlink)
            hasher.combine(bytes: os); hasher.combine(bytes: browser)
        }

        static func == (a: Group, b: Group) -> Bool {
            a.hour == b.hour && a.offerID == b.offerID && a.affID == b.affID && a.country == b.country && a.device == b.device
                && a.reason == b.reason && a.smartlink == b.smartlink && same(a.os, b.os) && same(a.browser, b.browser)
        }

        static func same(_ x: UnsafeRawBufferPointer, _ y: UnsafeRawBufferPointer) -> Bool {
            x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0)
        }
    }

    struct Figures { var clicks: Int64 = 0, unique: Int64 = 0, bots: Int64 = 0 }

    var groups: [Group: Figures] = [:]

    /// Counts one exported click.
    mutating func add(_ row: ClickRow) {
        let head = row.enrichment, tail = row.enrichmentTail
        let hour = row.timeMillis / CivilTime.hourMillis  // truncated, as SQLite's `time_ms / 3600000`
        let key = Group(hour: hour, offerID: row.offerID, affID: row.affID, country: head.country, device: head.device,
                        reason: tail.traffic.reason, smartlink: tail.traffic.smartlink, os: tail.os, browser: tail.browser)
        groups[key, default: Figures()].add(Figures(clicks: 1, unique: head.unique ? 1 : 0, bots: head.botReason == .none ? 0 : 1))
    }

    /// The coarse level's key: a detail group without country, device, OS and browser.
    struct CoarseGroup: Hashable {
        var hour: Int64
        var offerID: UInt32, affID: UInt32
        var reason: TrafficReason
        var smartlink: UInt32
    }

    /// Writes the groups' sums by day to the detail roll-up and by hour without the detail columns to
    /// the coarse one (upserts made with `SQLiteRollups.clickUpsert`), and empties the tally.
    mutating func flush(detail: SQLiteStatement, coarse: SQLiteStatement) throws(ExportError) {
        var sums: [CoarseGroup: Figures] = [:], days: [Group: Figures] = [:]
        for (group, figures) in groups {
            var day = group
            day.hour = group.hour / 24  // the UTC day (hours are never negative)
            days[day, default: Figures()].add(figures)
            let key = CoarseGroup(hour: group.hour, offerID: group.offerID, affID: group.affID, reason: group.reason, smartlink: group.smartlink)
            sums[key, default: Figures()].add(figures)
        }
        for (group, figures) in days {
            detail.bind(1, group.hour); detail.bind(2, Int64(group.offerID)); detail.bind(3, Int64(group.affID))
            var country = group.country.littleEndian
            withUnsafeBytes(of: &country) { detail.bindCopy(4, group.country == 0 ? UnsafeRawBufferPointer(rebasing: $0[0..<0]) : $0) }
            detail.bind(5, group.device.name); detail.bind(6, group.os); detail.bind(7, group.browser)
            detail.bind(8, group.reason.name); detail.bind(9, Int64(group.smartlink))
            ClickTally.bind(figures, detail, from: 10)
            try detail.run()
        }
        for (group, figures) in sums {
            coarse.bind(1, group.hour); coarse.bind(2, Int64(group.offerID)); coarse.bind(3, Int64(group.affID))
            coarse.bind(4, group.reason.name); coarse.bind(5, Int64(group.smartlink))
            ClickTally.bind(figures, coarse, from: 6)
            try coarse.run()
        }
        groups.removeAll(keepingCapacity: true)
    }

    static func bind(_ figures: Figures, _ st: SQLiteStatement, from index: Int32) {
        st.bind(index, figures.clicks); st.bind(index + 1, figures.unique); st.bind(index + 2, figures.bots)
    }
}

extension ClickTally.Figures {
    mutating func add(_ other: ClickTally.Figures) { clicks += other.clicks; unique += other.unique; bots += other.bots }
}

#if canImport(Glibc)
import Glibc
#endif
