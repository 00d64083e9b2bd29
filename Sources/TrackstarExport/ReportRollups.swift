// When `trackstar report` may read the roll-ups instead of the raw rows, which level it reads (the
// smallest that answers exactly), and the SQL that reads them: the same groups and figures, with days
// and hours made from the roll-ups' UTC hour or day. A request no level answers exactly (a column they
// lack, a range or zone cutting their buckets) reads raw rows, and the report says why.
import TrackstarStore

extension ReportDimension {
    /// The hourly level for columns every level with offer and affiliate keeps, the daily detail level
    /// for those only daily levels keep (nil: no level; subs, source and ASN have too many values).
    var rollupLevel: SQLiteRollups.Level? {
        switch self {
        case .offer, .affiliate, .day, .hour, .event, .trafficbackReason, .smartlink: SQLiteRollups.coarse
        case .country, .device, .os, .browser: SQLiteRollups.detail
        case .sub1, .sub2, .sub3, .sub4, .sub5, .source, .asn: nil
        }
    }

    /// The column's expression over a roll-up level's table. In a zone, days and hours are made from
    /// quarter-hour bucket numbers (as over raw rows): an hour's is `hour * 4`, a day's `day * 96`.
    func rollupExpression(_ intDiv: (String, Int64) -> String, zoned: Bool, level: SQLiteRollups.Level) -> String {
        switch self {
        case .day where level.time == "day": zoned ? "(day * 96)" : "day"
        case .day: zoned ? "(hour * 4)" : intDiv("hour", 24)
        case .hour: zoned ? "(hour * 4)" : "hour"
        default: expression(intDiv, zoned: zoned)
        }
    }
}

extension Reporter {
    /// The roll-up levels a report tries, smallest first: the audience level (no offer or affiliate:
    /// a few thousand rows a day), the hourly level by day, the audience level with offer, the hourly
    /// level, the daily detail level (with affiliate: what only a report by affiliate and country,
    /// device, OS or browser reads).
    static let readOrder = [SQLiteRollups.audience, SQLiteRollups.daily, SQLiteRollups.offerAudience, SQLiteRollups.coarse,
                            SQLiteRollups.detail]

    /// The smallest of `available` levels that answers `request` exactly, or why none does (said of
    /// the finest level keeping its columns, as if the others were not there).
    static func rollupLevel(_ request: ReportRequest, among available: [SQLiteRollups.Level] = SQLiteRollups.levels)
        -> (level: SQLiteRollups.Level?, miss: String?) {
        let missing = request.groupBy.filter { $0.rollupLevel == nil }
        if !missing.isEmpty {
            return (nil, "the roll-ups have no " + missing.map(\.rawValue).joined(separator: ", ") + " (they keep offer, affiliate, day, "
                + "hour, event, trafficback_reason, smartlink; and by UTC day country, device, os, browser)")
        }
        let candidates = readOrder.filter { level in available.contains(level) && request.groupBy.allSatisfy { $0 == .hour || level.keeps($0) } }
        for level in candidates where miss(request, level) == nil { return (level, nil) }
        let finest = candidates.min { $0.bucketMillis < $1.bucketMillis || $0.bucketMillis == $1.bucketMillis && $0.clickDimensions.count > $1.clickDimensions.count }
        return (nil, finest.flatMap { miss(request, $0) } ?? "no roll-up level of this store keeps " + request.groupBy.map(\.rawValue).joined(separator: ", "))
    }

    /// Why `level` (keeping the request's columns) cannot answer it exactly: hours from a daily level,
    /// a range or a zone cutting its buckets; nil when it can.
    static func miss(_ request: ReportRequest, _ level: SQLiteRollups.Level) -> String? {
        let daily = level.time == "day"
        let detailed = request.groupBy.filter { $0.rollupLevel?.time == "day" }
        let bucket = daily ? "UTC day" : "hour"
        let why = detailed.isEmpty ? "" : " (grouping by \(detailed.map(\.rawValue).joined(separator: ", ")))"
        if daily && request.groupBy.contains(.hour) {
            return "the roll-up with \(detailed.map(\.rawValue).joined(separator: ", ")) holds UTC days, not hours"
        }
        for (option, millis) in [("--from", request.fromMillis), ("--to", request.toMillis)] {
            if let millis, millis % level.bucketMillis != 0 { return "\(option) is not on a whole \(bucket)\(why)" }
        }
        let local = request.groupBy.contains(.day) || request.groupBy.contains(.hour)  // else the zone changes nothing
        if let zone = request.timeZone, local, !zone.keepsWhole(level.bucketMillis, fromMillis: request.fromMillis, toMillis: request.toMillis) {
            return "the UTC offset of \(zone.name) is not a whole number of \(bucket)s\(why)"
        }
        return nil
    }

    /// FROM, WHERE (whole buckets), GROUP BY and HAVING of a roll-up query. HAVING drops groups whose
    /// raw rows are all gone (retracted), which the raw query would not have seen.
    static func rollupQuery(_ request: ReportRequest, _ kind: LogKind, _ level: SQLiteRollups.Level, _ backend: ReportBackend,
                            columns: [String]) -> String {
        let table = kind == .clicks ? level.clicks : kind == .conversions ? level.conversions : "rollup_refusals"
        let time = kind == .refusals ? "hour" : level.time, bucket = kind == .refusals ? CivilTime.hourMillis : level.bucketMillis
        var conditions: [String] = []
        if let from = request.fromMillis { conditions.append("\(time) >= \(from / bucket)") }
        if let to = request.toMillis { conditions.append("\(time) < \(to / bucket)") }
        var sql = " FROM \(backend.table(table))" + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
        guard !columns.isEmpty else { return sql }
        // Grouped by the bucket column itself (not its quarter-hour number, one to one with it) and
        // first: the tables' keys start with it, so SQLite reads the groups in key order, no sort.
        var grouped = columns.map { $0 == "(\(time) * 4)" || $0 == "(\(time) * 96)" ? time : $0 }
        if let at = grouped.firstIndex(of: time) { grouped.insert(grouped.remove(at: at), at: 0) }
        // Not by time, but by fewer than half the key's columns, those right after the bucket (in
        // any order): summed per bucket first, in key order, and those sums (buckets × groups rows)
        // then grouped, instead of sorting every row of the level. With more of the key the sums are
        // nearly as many as the rows (offer × affiliate by day: 18,000 of 20,000), and the extra pass
        // costs more than it saves. SQLite only (ClickHouse lets an alias shadow its column).
        let key = kind == .clicks ? level.clickDimensions : kind == .conversions ? level.conversionKey : ["offer_id", "aff_id", "reason"]
        if backend is SQLiteReportBackend, !grouped.contains(time), grouped.count * 2 < key.count,
           Set(grouped) == Set(key.prefix(grouped.count)) {
            let figures = kind == .clicks ? ["clicks", "unique_clicks", "bot_clicks"] : kind == .conversions ? SQLiteRollups.conversionFigureColumns : ["refusals"]
            let list = grouped.joined(separator: ", ")
            sql = " FROM (SELECT \(list), \(figures.map { "sum(\($0)) AS \($0)" }.joined(separator: ", "))\(sql) GROUP BY \(time), \(list))"
        }
        sql += " GROUP BY " + grouped.joined(separator: ", ")
        switch kind {
        case .clicks: sql += " HAVING sum(clicks) > 0"
        case .conversions: sql += " HAVING sum(row_count) > 0"
        case .refusals: sql += " HAVING sum(refusals) > 0"
        }
        return sql
    }
}

extension ReportTimeZone {
    /// Whether each UTC bucket of `unitMillis` (an hour or a day) from `fromMillis` (or 1970) to
    /// `toMillis` lies within one local bucket: the offsets in force are whole units and change only
    /// on whole UTC units (for days: the zone is UTC there).
    func keepsWhole(_ unitMillis: Int64, fromMillis: Int64?, toMillis: Int64?) -> Bool {
        let unit = unitMillis / 1000
        let from = max(0, fromMillis ?? 0) / 1000, to = (toMillis ?? Int64.max) / 1000
        guard offsetMillis(atUTC: from * 1000) % unitMillis == 0 else { return false }
        for (instant, offset) in zip(transitions, offsets) where instant > from && instant < to {
            if instant % unit != 0 || offset % unit != 0 { return false }
        }
        return true
    }
}
