// Conversion roll-ups of report.sqlite summed in Swift (issue 19 item 1): the sink tallies each
// conversion row it inserts (as recorded, and a transition's row when its conversion is not stored
// yet) while it binds the row, and writes one upsert per group and level per batch, instead of an
// insert trigger's upsert per row and level. Triggers stay for what the sink does not see cheaply: a
// status transition of a stored row (the row upsert's UPDATE) and retraction (DELETE). No insert
// trigger: even one whose WHEN is false for every row cost ~10,700 instructions a conversion (SQLite
// stages a multi-row INSERT through a temporary table and calls the trigger program per row when the
// table has a row trigger; callgrind of the sink's insert into this schema, 8,000 rows: 161 M
// instructions with it, 76 M without).
import TrackstarCore
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

/// A grouped column of a conversion roll-up level (`SQLiteRollups.Level.conversionDimensions`) that
/// `ConversionTally` knows how to key and bind; a level with any other column is rolled up by trigger.
enum ConversionDimension: UInt16 {
    case offer, affiliate, event, currency, country, asn, device, os, browser, reason, smartlink

    init?(column: String) {
        switch column {
        case "offer_id": self = .offer
        case "aff_id": self = .affiliate
        case "event": self = .event
        case "currency": self = .currency
        case "country": self = .country
        case "asn": self = .asn
        case "device": self = .device
        case "os": self = .os
        case "browser": self = .browser
        case "trafficback_reason": self = .reason
        case "smartlink": self = .smartlink
        default: return nil
        }
    }

    var bit: UInt16 { 1 << rawValue }

    /// The level's columns as dimensions, or nil when one is not known here.
    static func of(_ level: SQLiteRollups.Level) -> [ConversionDimension]? {
        var dimensions: [ConversionDimension] = []
        for column in level.conversionDimensions {
            guard let dimension = ConversionDimension(column: column) else { return nil }
            dimensions.append(dimension)
        }
        return dimensions
    }
}

extension SQLiteRollups {
    /// The conversion triggers by name: status transitions and deletions move every level's sums.
    /// Rows inserted are summed by the sink (`ConversionTally`), or by `rollUpConversions` for rows
    /// written by other means. Every level must be one `ConversionDimension` can key (a test holds it).
    static func conversionTriggers(_ levels: [Level]) -> [(name: String, sql: String)] {
        func all(_ r: String, _ sign: Int) -> String { levels.map { conversionUpsert($0, r, sign) }.joined(separator: " ") }
        return [
            ("rollup_conversions_status", "CREATE TRIGGER rollup_conversions_status AFTER UPDATE OF status ON conversions "
                + "WHEN OLD.status IS NOT NEW.status BEGIN \(all("OLD", -1)) \(all("NEW", 1)) END"),
            ("rollup_conversions_delete", "CREATE TRIGGER rollup_conversions_delete AFTER DELETE ON conversions BEGIN \(all("OLD", -1)) END"),
        ]
    }

    /// Triggers of earlier releases, dropped when a store is opened: the insert trigger (before the
    /// sink summed rows, it summed every row; then the rows transitions inserted).
    static let retiredConversionTriggers = ["rollup_conversions_insert"]

    /// The roll-up row of conversion row `r` (NEW or OLD) in `level`, negated with `sign` -1.
    static func conversionValues(_ level: Level, _ r: String, _ sign: Int) -> [String] {
        ["\(r).time_ms / \(level.bucketMillis)"] + level.conversionDimensions.map { "\(r).\($0)" }
            + conversionFigures(r).map { sign < 0 ? "-(\($0))" : $0 }
    }

    /// Makes the conversion triggers those of this release (and of today's `levels`): a trigger whose
    /// text differs is replaced, in one savepoint (inside or outside the caller's transaction).
    static func installConversionTriggers(_ db: SQLiteDatabase) throws(ExportError) {
        var present: [String: String] = [:]
        for row in try db.rows("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'conversions'") {
            if let name = row[0], let sql = row[1] { present[name] = sql }
        }
        var changes = ""
        for (name, sql) in conversionTriggers(levels) where present[name] != sql {
            if present[name] != nil { changes += "DROP TRIGGER \(name); " }
            changes += sql + "; "
        }
        for name in retiredConversionTriggers where present[name] != nil { changes += "DROP TRIGGER \(name); " }
        guard !changes.isEmpty else { return }
        do {
            try db.execute("SAVEPOINT conversion_triggers; " + changes + "RELEASE conversion_triggers;")
        } catch {
            try? db.execute("ROLLBACK TO conversion_triggers; RELEASE conversion_triggers;")
            throw error
        }
    }

    /// Adds the conversion rows `condition` selects to every level: for rows written into the store
    /// by other means than the sink (which tallies what it inserts itself; no trigger sums an insert).
    static func conversionsFromRaw(where condition: String) -> String {
        levels.map { level in
            let dimensions = level.conversionDimensions.joined(separator: ", ")
            return """
                INSERT INTO \(level.conversions) SELECT time_ms / \(level.bucketMillis) AS h, \(dimensions),
                  \(conversionFigures("conversions").map { "sum(\($0))" }.joined(separator: ", "))
                FROM conversions WHERE \(condition) GROUP BY h, \(dimensions) ON CONFLICT DO UPDATE SET \(conversionSums);
                """
        }.joined(separator: "\n")
    }
}

extension SQLiteSink {
    /// Rolls up conversion rows inserted into `db` with SQL rather than by the sink (the sink sums the
    /// rows it inserts itself, and no trigger sums an insert): `condition` selects them (e.g. by id).
    public static func rollUpConversions(_ db: SQLiteDatabase, where condition: String = "true") throws(ExportError) {
        try db.execute(SQLiteRollups.conversionsFromRaw(where: condition))
    }
}

/// One group of conversions: every dimension `ConversionDimension` names, or (projected to a level)
/// those of that level with the rest zero. OS and browser point into the mapped log (valid for the batch).
struct ConversionGroup: Hashable {
    var time: Int64
    var offerID: UInt32 = 0, affID: UInt32 = 0
    var event: Int32 = 0  // an `EventNames` id
    var currency: UInt32 = 0, asn: UInt32 = 0, smartlink: UInt32 = 0
    var country: UInt16 = 0
    var device: UInt8 = 0, reason: UInt8 = 0
    var os = UnsafeRawBufferPointer(start: nil, count: 0), browser = UnsafeRawBufferPointer(start: nil, count: 0)

    func hash(into hasher: inout Hasher) {
        hasher.combine(time); hasher.combine(offerID); hasher.combine(affID); hasher.combine(event)
        hasher.combine(currency); hasher.combine(asn); hasher.combine(smartlink); hasher.combine(country)
        hasher.combine(device); hasher.combine(reason)
        hasher.combine(bytes: os); hasher.combine(bytes: browser)
    }

    static func == (a: ConversionGroup, b: ConversionGroup) -> Bool {
        a.time == b.time && a.offerID == b.offerID && a.affID == b.affID && a.event == b.event && a.currency == b.currency
            && a.asn == b.asn && a.smartlink == b.smartlink && a.country == b.country && a.device == b.device && a.reason == b.reason
            && same(a.os, b.os) && same(a.browser, b.browser)
    }

    static func same(_ x: UnsafeRawBufferPointer, _ y: UnsafeRawBufferPointer) -> Bool {
        x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0)
    }

    /// The group of a level with the dimensions of `mask` (`ConversionDimension.bit`s), at `time`.
    func projected(_ mask: UInt16, time: Int64) -> ConversionGroup {
        func has(_ d: ConversionDimension) -> Bool { mask & d.bit != 0 }
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        return ConversionGroup(time: time, offerID: has(.offer) ? offerID : 0, affID: has(.affiliate) ? affID : 0,
                               event: has(.event) ? event : 0, currency: has(.currency) ? currency : 0, asn: has(.asn) ? asn : 0,
                               smartlink: has(.smartlink) ? smartlink : 0, country: has(.country) ? country : 0,
                               device: has(.device) ? device : 0, reason: has(.reason) ? reason : 0,
                               os: has(.os) ? os : none, browser: has(.browser) ? browser : none)
    }
}

/// A group's sums, in `SQLiteRollups.conversionFigureColumns` order (what the triggers add per row).
struct ConversionFigures {
    var rows: Int64 = 0, conversions: Int64 = 0, payout: Int64 = 0, revenue: Int64 = 0
    var pendingPayout: Int64 = 0, pendingRevenue: Int64 = 0, rejectedPayout: Int64 = 0, rejectedRevenue: Int64 = 0

    init() {}

    init(_ row: ConversionRow) {
        rows = 1
        switch row.status {
        case .approved: conversions = 1; payout = row.payout; revenue = row.revenue
        case .pending: conversions = 1; pendingPayout = row.payout; pendingRevenue = row.revenue
        case .rejected: rejectedPayout = row.payout; rejectedRevenue = row.revenue
        }
    }

    mutating func add(_ o: ConversionFigures) {
        rows += o.rows; conversions += o.conversions; payout += o.payout; revenue += o.revenue
        pendingPayout += o.pendingPayout; pendingRevenue += o.pendingRevenue
        rejectedPayout += o.rejectedPayout; rejectedRevenue += o.rejectedRevenue
    }
}

/// A batch's conversions as recorded, summed by group (one hash per conversion), then written to each
/// level `ConversionDimension` can key as one upsert per group (`flush`, before the batch commits).
struct ConversionTally {
    struct Level {
        let dimensions: [ConversionDimension]
        let mask: UInt16
        /// The level's bucket in units of the tally's `unit`.
        let buckets: Int64
        let upsert: SQLiteStatement
    }

    var levels: [Level] = []
    /// The time unit of `groups`' keys: the greatest common divisor of the levels' buckets, so each
    /// level's bucket is a whole number of units (truncating divisions compose).
    var unit: Int64 = 1
    var groups: [ConversionGroup: ConversionFigures] = [:]

    init() {}

    /// Prepares the upserts of the levels of `SQLiteRollups.levels` it can key.
    init(_ db: SQLiteDatabase) throws(ExportError) {
        func gcd(_ a: Int64, _ b: Int64) -> Int64 { b == 0 ? a : gcd(b, a % b) }
        let keyed = SQLiteRollups.levels.compactMap { level in ConversionDimension.of(level).map { (level, $0) } }
        unit = keyed.reduce(0) { gcd($0, $1.0.bucketMillis) }
        if unit <= 0 { unit = 1 }
        for (level, dimensions) in keyed {
            let marks = Array(repeating: "?", count: 1 + dimensions.count + SQLiteRollups.conversionFigureColumns.count).joined(separator: ",")
            levels.append(Level(dimensions: dimensions, mask: dimensions.reduce(0) { $0 | $1.bit }, buckets: level.bucketMillis / unit,
                                upsert: try db.prepare("INSERT INTO \(level.conversions) VALUES (\(marks)) "
                                                       + "ON CONFLICT DO UPDATE SET \(SQLiteRollups.conversionSums)")))
        }
    }

    /// Counts a conversion as recorded (`event`: its name's `EventNames` id).
    mutating func add(_ row: ConversionRow, event: Int32) {
        let head = row.clickEnrichment, tail = row.clickEnrichmentTail, c = row.currency
        let key = ConversionGroup(time: row.timeMillis / unit, offerID: row.offerID, affID: row.affID, event: event,
                                  currency: c.0 == 0 ? 0 : UInt32(c.0) | UInt32(c.1) << 8 | UInt32(c.2) << 16,
                                  asn: tail.asn, smartlink: tail.traffic.smartlink, country: head.country,
                                  device: head.device.rawValue, reason: tail.traffic.reason.rawValue, os: tail.os, browser: tail.browser)
        groups[key, default: ConversionFigures()].add(ConversionFigures(row))
    }

    /// Writes the sums to every level it keys and empties the tally.
    mutating func flush(_ names: EventNames) throws(ExportError) {
        defer { groups.removeAll(keepingCapacity: true) }
        guard !groups.isEmpty else { return }
        for level in levels {
            var sums: [ConversionGroup: ConversionFigures] = [:]
            for (group, figures) in groups {
                sums[group.projected(level.mask, time: group.time / level.buckets), default: ConversionFigures()].add(figures)
            }
            for (group, figures) in sums { try ConversionTally.write(group, figures, level, names) }
        }
    }

    static func write(_ group: ConversionGroup, _ f: ConversionFigures, _ level: Level, _ names: EventNames) throws(ExportError) {
        let st = level.upsert
        st.bind(1, group.time)
        var texts = (group.currency.littleEndian, group.country.littleEndian)  // bound as copies below
        for (i, dimension) in level.dimensions.enumerated() {
            let at = Int32(i + 2)
            switch dimension {
            case .offer: st.bind(at, Int64(group.offerID))
            case .affiliate: st.bind(at, Int64(group.affID))
            case .event: st.bind(at, names.bytes(group.event))
            case .currency: withUnsafeBytes(of: &texts.0) { st.bindCopy(at, UnsafeRawBufferPointer(rebasing: $0[0..<(group.currency == 0 ? 0 : 3)])) }
            case .country: withUnsafeBytes(of: &texts.1) { st.bindCopy(at, UnsafeRawBufferPointer(rebasing: $0[0..<(group.country == 0 ? 0 : 2)])) }
            case .asn: st.bind(at, Int64(group.asn))
            case .device: st.bind(at, ClickDevice(rawValue: group.device)!.name)
            case .os: st.bind(at, group.os)
            case .browser: st.bind(at, group.browser)
            case .reason: st.bind(at, TrafficReason(rawValue: group.reason)!.name)
            case .smartlink: st.bind(at, Int64(group.smartlink))
            }
        }
        let first = Int32(level.dimensions.count + 2)
        for (i, value) in [f.rows, f.conversions, f.payout, f.revenue, f.pendingPayout, f.pendingRevenue, f.rejectedPayout,
                           f.rejectedRevenue].enumerated() { st.bind(first + Int32(i), value) }
        try st.run()
    }
}

/// Event names by (offer, stable id), each distinct name kept once for the sink's life in memory of
/// its own, so a row binds it without a copy and a tally keys it by a small id. The (offer, id) map
/// is cleared each batch (`startBatch`), so a catalog reload is seen from the next batch on.
final class EventNames {
    private var ids: [UInt64: Int32] = [:]
    private var byName: [String: Int32] = [:]
    /// Each name's bytes (allocated here, at least one byte; `count` is the name's length).
    private var names: [UnsafeRawBufferPointer] = []

    deinit { for name in names { UnsafeMutableRawPointer(mutating: name.baseAddress!).deallocate() } }

    func startBatch() { ids.removeAll(keepingCapacity: true) }

    /// The id of an offer's event name (looked up in `source` once per batch).
    func id(offerID: UInt32, index: Int, _ source: ExportSource) -> Int32 {
        let key = UInt64(offerID) << 32 | UInt64(UInt32(truncatingIfNeeded: index))
        if let id = ids[key] { return id }
        let name = source.event(offerID: offerID, index: index)
        let id: Int32
        if let known = byName[name] {
            id = known
        } else {
            let count = name.utf8.count
            let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
            _ = bytes.initializeMemory(as: UInt8.self, from: name.utf8)
            id = Int32(names.count)
            names.append(UnsafeRawBufferPointer(start: bytes.baseAddress, count: count))
            byName[name] = id
        }
        ids[key] = id
        return id
    }

    /// The name's bytes (valid as long as this object).
    func bytes(_ id: Int32) -> UnsafeRawBufferPointer { names[Int(id)] }
}
