// `trackstar report`'s engine: what to group by, the three aggregate queries (clicks, conversions,
// refusals) each sink answers in its own SQL dialect, and the merge into rows with the derived
// figures (conversion rate, profit, EPC). Both sinks run the same queries, so they give the same numbers.
import TrackstarCore
import TrackstarStore
import TrackstarConfiguration

/// A report column to group by.
public enum ReportDimension: String, CaseIterable, Sendable {
    case offer, affiliate, sub1, sub2, sub3, sub4, sub5, source, day, hour, event
    /// The click's enrichment (clicks and conversions; empty for clicks recorded before it).
    case country, asn, device, os, browser
    /// Why the click did not land on its offer ("" when it did), and its smart link (0: none).
    case trafficbackReason = "trafficback_reason", smartlink

    /// Parses a comma-separated list ("offer,affiliate,day"); aliases offer_id, aff, aff_id.
    public static func parseList(_ text: String) -> Result<[ReportDimension], ExportError> {
        var result: [ReportDimension] = []
        for part in text.split(separator: ",").map({ $0.trimmingWhitespace() }) where !part.isEmpty {
            let name = ["offer_id": "offer", "aff": "affiliate", "aff_id": "affiliate", "affiliate_id": "affiliate"][part] ?? part
            guard let dimension = ReportDimension(rawValue: name) else {
                return .failure(ExportError("--group-by: unknown column \"\(part)\"; use any of "
                    + ReportDimension.allCases.map(\.rawValue).joined(separator: ",")))
            }
            if !result.contains(dimension) { result.append(dimension) }
        }
        return .success(result)
    }

    /// Whether a log's rows carry this column (refusals have no subs or source; only conversions have events).
    func applies(to kind: LogKind) -> Bool {
        switch self {
        case .offer, .affiliate, .day, .hour: true
        case .sub1, .sub2, .sub3, .sub4, .sub5, .source, .country, .asn, .device, .os, .browser, .trafficbackReason, .smartlink:
            kind != .refusals
        case .event: kind == .conversions
        }
    }

    /// The SQL expression of this column; `intDiv` renders integer division in the dialect. In a
    /// time zone, days and hours are queried as UTC quarter hours (`zonedBucketMillis`) and mapped to
    /// local days and hours in Swift: every UTC offset in use is a whole number of quarter hours, and
    /// offsets change only on quarter-hour boundaries, so each bucket lies in one local day and hour.
    func expression(_ intDiv: (String, Int64) -> String, zoned: Bool = false) -> String {
        switch self {
        case .offer: "offer_id"
        case .affiliate: "aff_id"
        case .day: intDiv("time_ms", zoned ? ReportDimension.zonedBucketMillis : CivilTime.dayMillis)
        case .hour: intDiv("time_ms", zoned ? ReportDimension.zonedBucketMillis : CivilTime.hourMillis)
        default: rawValue
        }
    }

    /// The bucket days and hours are queried in when a time zone is given.
    static let zonedBucketMillis: Int64 = 900_000

    /// Whether the column holds numbers (ids, day and hour numbers) rather than text.
    var isNumeric: Bool { [.offer, .affiliate, .day, .hour, .asn, .smartlink].contains(self) }
}

extension Substring {
    func trimmingWhitespace() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

/// A grouping value: a number (offer, affiliate, day, hour) or text.
public enum ReportValue: Hashable, Comparable, Sendable {
    case number(Int64)
    case text(String)

    public static func < (a: ReportValue, b: ReportValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): x < y
        case (.text(let x), .text(let y)): x < y
        case (.number, .text): true
        case (.text, .number): false
        }
    }
}

/// What to report on.
public struct ReportRequest: Sendable {
    /// Inclusive start, Unix ms UTC (nil: from the beginning).
    public var fromMillis: Int64?
    /// Exclusive end, Unix ms UTC (nil: up to now).
    public var toMillis: Int64?
    public var groupBy: [ReportDimension]
    /// Days and hours are those of this zone (nil: UTC).
    public var timeZone: ReportTimeZone?
    /// Whether the roll-ups may answer (false: raw rows always; tests compare the two).
    public var useRollups = true
    public init(fromMillis: Int64? = nil, toMillis: Int64? = nil, groupBy: [ReportDimension] = [], timeZone: ReportTimeZone? = nil) {
        self.fromMillis = fromMillis; self.toMillis = toMillis; self.groupBy = groupBy; self.timeZone = timeZone
    }

    /// The time range of `--from` and `--to` (dates or times, local to `timeZone` when given, else
    /// UTC): a date as `--to` includes that whole day. The error names the option and the value; a
    /// start that is not before the end is an error naming both.
    public static func range(from: String?, to: String?, timeZone: ReportTimeZone?) -> Result<(from: Int64?, to: Int64?), ExportError> {
        let zone = timeZone.map { "in \($0.name)" } ?? "UTC"
        func instant(_ local: Int64) -> Int64 { timeZone?.utcMillis(fromLocal: local) ?? local }
        var start: Int64?, end: Int64?
        if let from {
            guard let parsed = CivilTime.parse(from) else {
                return .failure(ExportError("--from: expected YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS] (\(zone)), got \(from)"))
            }
            start = instant(parsed.millis)
        }
        if let to {
            guard let parsed = CivilTime.parse(to) else {
                return .failure(ExportError("--to: expected YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS] (\(zone)), got \(to)"))
            }
            end = instant(parsed.dateOnly ? parsed.millis + CivilTime.dayMillis : parsed.millis)
        }
        if let start, let end, let from, let to, start >= end {
            return .failure(ExportError("--from \(from) is not before --to \(to) (the range would be empty); swap them or widen the range"))
        }
        return .success((start, end))
    }
}

/// One currency's conversions and money within a report row (micros).
public struct CurrencyFigures: Sendable, Equatable {
    /// The three-letter code of payout and revenue (the offer's currency when recorded).
    public var currency: String
    /// Approved and pending conversions paid in this currency.
    public var conversions: Int64 = 0
    /// Payout and revenue of approved conversions: the row's money (profit and EPC are theirs).
    public var payout: Int64 = 0
    public var revenue: Int64 = 0
    /// Payout and revenue of conversions still pending, and of rejected ones (reversals included).
    public var pendingPayout: Int64 = 0
    public var pendingRevenue: Int64 = 0
    public var rejectedPayout: Int64 = 0
    public var rejectedRevenue: Int64 = 0
    public init(currency: String) { self.currency = currency }

    mutating func add(_ other: CurrencyFigures) {
        conversions += other.conversions; payout += other.payout; revenue += other.revenue
        pendingPayout += other.pendingPayout; pendingRevenue += other.pendingRevenue
        rejectedPayout += other.rejectedPayout; rejectedRevenue += other.rejectedRevenue
    }
    public var profit: Int64 { revenue - payout }
}

/// One row of the report: a group and its figures (money in micros). Money is summed per currency
/// and never across currencies: `payout`, `revenue`, `profit` and `epc` are the row's sums only when
/// its conversions are in one currency (nil when in several; then `money` has one entry each).
public struct ReportRow: Sendable, Equatable {
    public var key: [ReportValue]
    public var clicks: Int64 = 0
    /// Clicks flagged unique (no earlier click from the address and agent within the offer's window).
    public var uniqueClicks: Int64 = 0
    /// Clicks with a bot reason.
    public var botClicks: Int64 = 0
    /// Approved and pending conversions (rejected ones are kept in the sink but not counted).
    public var conversions: Int64 = 0
    /// Money per currency, sorted by code.
    public var money: [CurrencyFigures] = []
    public init(key: [ReportValue]) { self.key = key }

    /// The one currency of the row's money (nil without conversions or with several currencies).
    public var currency: String? { money.count == 1 ? money[0].currency : nil }
    public var payout: Int64? { money.count <= 1 ? (money.first?.payout ?? 0) : nil }
    public var revenue: Int64? { money.count <= 1 ? (money.first?.revenue ?? 0) : nil }
    public var profit: Int64? { money.count <= 1 ? (money.first?.profit ?? 0) : nil }
    /// Conversions per 100 clicks, nil without clicks.
    public var conversionRatePercent: Double? { ReportRow.rate(conversions, clicks) }
    /// Revenue per click in micros (rounded), nil without clicks or with several currencies.
    public var epc: Int64? { revenue.flatMap { ReportRow.perClick($0, clicks) } }

    static func rate(_ conversions: Int64, _ clicks: Int64) -> Double? {
        clicks > 0 ? Double(conversions) * 100 / Double(clicks) : nil
    }

    static func perClick(_ micros: Int64, _ clicks: Int64) -> Int64? { clicks > 0 ? (micros + clicks / 2) / clicks : nil }

    /// Adds one currency's figures (merging with an entry of the same currency).
    mutating func add(_ figures: CurrencyFigures) {
        conversions += figures.conversions
        if let i = money.firstIndex(where: { $0.currency == figures.currency }) {
            money[i].add(figures)
        } else {
            money.append(figures)
            money.sort { $0.currency < $1.currency }
        }
    }

    mutating func add(_ other: ReportRow) {
        clicks += other.clicks
        uniqueClicks += other.uniqueClicks
        botClicks += other.botClicks
        for figures in other.money { add(figures) }
    }
}

/// Refusals of one reason (within a group of the refusal-capable columns).
public struct RefusalCount: Sendable, Equatable {
    public var key: [ReportValue]
    public var reason: String
    public var count: Int64
}

/// A computed report.
public struct ReportResult: Sendable, Equatable {
    public var groupBy: [ReportDimension]
    public var rows: [ReportRow]
    public var totals: ReportRow
    /// Columns the refusal section is grouped by (those of `groupBy` refusals carry), then reason.
    public var refusalGroupBy: [ReportDimension]
    public var refusals: [RefusalCount]
    /// Why the report was read from raw rows though the store has roll-ups (nil: from roll-ups, or
    /// a store without them); the output says it.
    public var note: String? = nil

    /// Two reports are equal when they hold the same figures, whichever tables they were read from.
    public static func == (a: ReportResult, b: ReportResult) -> Bool {
        a.groupBy == b.groupBy && a.rows == b.rows && a.totals == b.totals && a.refusalGroupBy == b.refusalGroupBy && a.refusals == b.refusals
    }
}

/// Runs SQL for the report; each sink supplies one.
public protocol ReportBackend {
    /// Whether the store keeps the roll-up tables (`rollup_clicks`, `rollup_conversions`, their `_detail` levels, `rollup_refusals`).
    var hasRollups: Bool { get }
    /// The roll-up tables reports may read (by default the hourly and daily detail levels' and
    /// `rollup_refusals`; SQLite lists what the store has, the `_audience` level included once added).
    var rollupTables: Set<String> { get }
    /// Integer division in this dialect.
    func intDiv(_ column: String, _ divisor: Int64) -> String
    /// What follows a table name in FROM (ClickHouse: FINAL, so replaced rows count once).
    var tableSuffix: String { get }
    /// Table name as written in FROM.
    func table(_ name: String) -> String
    /// Runs a query; each row's columns as text (nil for NULL).
    func query(_ sql: String) throws(ExportError) -> [[String?]]
    /// What a raw query on a log's rows reads FROM, for a time range: one source, or several whose
    /// figures are added up group by group (SQLite's clicks: the blocks, and rows from before them).
    func rawSources(_ kind: LogKind, fromMillis: Int64?, toMillis: Int64?) -> [String]
}

extension ReportBackend {
    /// The tables every store with roll-ups has (ClickHouse's views keep these two levels).
    public var rollupTables: Set<String> {
        ["rollup_clicks", "rollup_conversions", "rollup_clicks_detail", "rollup_conversions_detail", "rollup_refusals"]
    }

    /// The levels of `SQLiteRollups.levels` whose tables the store has.
    var rollupLevels: [SQLiteRollups.Level] {
        let tables = rollupTables
        return SQLiteRollups.levels.filter { tables.contains($0.clicks) && tables.contains($0.conversions) }
    }

    /// The log's table.
    public func rawSources(_ kind: LogKind, fromMillis: Int64?, toMillis: Int64?) -> [String] {
        [table(kind.name) + tableSuffix]
    }
}

/// Computes reports from a backend.
public enum Reporter {
    /// Runs the three aggregate queries and merges them.
    public static func run(_ request: ReportRequest, on backend: ReportBackend) throws(ExportError) -> ReportResult {
        let (level, miss) = backend.hasRollups && request.useRollups ? rollupLevel(request, among: backend.rollupLevels) : (level: nil, miss: nil)
        var result = try run(request, on: backend, rollup: level)
        result.note = miss.map { "read from raw rows: \($0)" }
        return result
    }

    /// The report from raw rows or from a roll-up level (the same figures, summed instead of counted).
    static func run(_ request: ReportRequest, on backend: ReportBackend, rollup: SQLiteRollups.Level?) throws(ExportError) -> ReportResult {
        var rows: [[ReportValue]: ReportRow] = [:]
        let clickFigures = rollup != nil ? "sum(clicks), sum(unique_clicks), sum(bot_clicks)"
            : "count(*), sum(is_unique), sum(CASE WHEN bot_reason = '' THEN 0 ELSE 1 END)"
        for (key, values) in try aggregate(.clicks, clickFigures, request, backend, rollup: rollup) {
            rows[key, default: ReportRow(key: key)].clicks = values[0]
            rows[key, default: ReportRow(key: key)].uniqueClicks = values[1]
            rows[key, default: ReportRow(key: key)].botClicks = values[2]
        }
        // Grouped by currency too: money of different currencies is never added up.
        // Money by the conversion's current status (the sinks keep it current): approved is the
        // row's payout and revenue, pending and rejected have columns of their own.
        func money(_ column: String, _ status: String) -> String { "sum(CASE WHEN status = '\(status)' THEN \(column) ELSE 0 END)" }
        let sums = rollup != nil ? SQLiteRollups.conversionFigureColumns.dropFirst().map { "sum(\($0))" }.joined(separator: ", ")
            : "sum(CASE WHEN status = 'rejected' THEN 0 ELSE 1 END), " + ["approved", "pending", "rejected"].map {
                money("payout_micros", $0) + ", " + money("revenue_micros", $0)
            }.joined(separator: ", ")
        for (fullKey, values) in try aggregate(.conversions, sums, request, backend, extra: "currency", rollup: rollup) {
            guard case .text(let currency)? = fullKey.last else { continue }
            let key = Array(fullKey.dropLast())
            var figures = CurrencyFigures(currency: currency)
            figures.conversions = values[0]; figures.payout = values[1]; figures.revenue = values[2]
            figures.pendingPayout = values[3]; figures.pendingRevenue = values[4]
            figures.rejectedPayout = values[5]; figures.rejectedRevenue = values[6]
            rows[key, default: ReportRow(key: key)].add(figures)
        }
        let refusalGroupBy = request.groupBy.filter { $0.applies(to: .refusals) }
        var refusalRequest = request
        refusalRequest.groupBy = refusalGroupBy
        var refusals: [RefusalCount] = []
        for (key, values) in try aggregate(.refusals, rollup != nil ? "sum(refusals)" : "count(*)", refusalRequest, backend, extra: "reason", rollup: rollup) {
            guard case .text(let reason)? = key.last else { continue }
            refusals.append(RefusalCount(key: Array(key.dropLast()), reason: reason, count: values[0]))
        }
        let sorted = rows.values.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        var totals = ReportRow(key: [])
        for row in sorted { totals.add(row) }
        refusals.sort { a, b in
            if a.key != b.key { return a.key.lexicographicallyPrecedes(b.key) }
            return a.count != b.count ? a.count > b.count : a.reason < b.reason
        }
        return ReportResult(groupBy: request.groupBy, rows: sorted, totals: totals, refusalGroupBy: refusalGroupBy, refusals: refusals)
    }

    /// `SELECT dims, figures FROM table WHERE time GROUP BY dims`: key (dims not in the table as "") and figures.
    static func aggregate(_ kind: LogKind, _ figures: String, _ request: ReportRequest, _ backend: ReportBackend,
                          extra: String? = nil, rollup: SQLiteRollups.Level? = nil) throws(ExportError) -> [([ReportValue], [Int64])] {
        let present = request.groupBy.filter { $0.applies(to: kind) }
        let zone = request.timeZone
        var columns = present.map { dimension in
            rollup.map { dimension.rollupExpression(backend.intDiv, zoned: zone != nil, level: kind == .refusals ? SQLiteRollups.coarse : $0) }
                ?? dimension.expression(backend.intDiv, zoned: zone != nil)
        }
        if let extra { columns.append(extra) }
        let select = "SELECT " + (columns + [figures]).joined(separator: ", ")
        var queries: [String] = []
        if let rollup {
            queries = [select + rollupQuery(request, kind, rollup, backend, columns: columns)]
        } else {
            var conditions: [String] = []
            if let from = request.fromMillis { conditions.append("time_ms >= \(from)") }
            if let to = request.toMillis { conditions.append("time_ms < \(to)") }
            for source in backend.rawSources(kind, fromMillis: request.fromMillis, toMillis: request.toMillis) {
                var sql = select + " FROM \(source)"
                if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
                if !columns.isEmpty { sql += " GROUP BY " + columns.joined(separator: ", ") }
                queries.append(sql)
            }
        }
        var result: [([ReportValue], [Int64])] = []
        // Key → index in `result`, to merge the buckets of one local day or hour, or the groups of several sources.
        var merged: [[ReportValue]: Int] = [:]
        let merging = zone != nil || queries.count > 1
        var answers: [[String?]] = []
        for sql in queries { answers += try backend.query(sql) }
        for row in answers {
            var key: [ReportValue] = []
            var at = 0
            for dimension in request.groupBy {
                guard present.contains(dimension) else { key.append(.text("")); continue }
                let text = row[at] ?? ""
                var value = dimension.isNumeric ? ReportValue.number(Int64(text) ?? 0) : .text(text)
                if let zone, case .number(let bucket) = value, dimension == .day || dimension == .hour {
                    value = .number(localNumber(bucket, dimension, zone))
                }
                key.append(value)
                at += 1
            }
            if extra != nil { key.append(.text(row[at] ?? "")); at += 1 }
            let figures = row[at...].map { Int64($0 ?? "0") ?? 0 }
            if merging, let i = merged[key] {
                result[i].1 = zip(result[i].1, figures).map { $0 + $1 }
            } else {
                if merging { merged[key] = result.count }
                result.append((key, figures))
            }
        }
        return result
    }

    /// The local day or hour number of a UTC quarter-hour bucket.
    static func localNumber(_ bucket: Int64, _ dimension: ReportDimension, _ zone: ReportTimeZone) -> Int64 {
        let start = bucket * ReportDimension.zonedBucketMillis
        let local = start + zone.offsetMillis(atUTC: start)
        let unit = dimension == .day ? CivilTime.dayMillis : CivilTime.hourMillis
        return local >= 0 ? local / unit : (local - unit + 1) / unit
    }

    /// The backend for the configured sink.
    public static func backend(config: ExportConfig, dataDir: String) throws(ExportError) -> ReportBackend {
        switch config.sink {
        case .none:
            throw ExportError("[export] sink = \"none\": nothing is exported, so there is nothing to report; set sink = \"sqlite\" or \"clickhouse\"")
        case .sqlite: return try SQLiteReportBackend(path: SQLiteSink.path(dataDir: dataDir))
        case .clickhouse: return try ClickHouseReportBackend(sink: ClickHouseSink(config: config))
        }
    }
}

