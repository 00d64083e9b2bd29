// Refusal roll-up summed in Swift (issue 19 item 1): the SQLite sink counts each refusal row it inserts
// by hour × offer × affiliate × reason and writes one upsert per group per batch, instead of an insert
// trigger's upsert per row (~12,000 instructions a refusal; callgrind, `ExportFigures`). Retraction
// still subtracts by trigger (`SQLiteRollups.triggers`).
import TrackstarStore

/// A batch's refusals by `rollup_refusals` group; `flush` writes them before the batch commits.
struct RefusalTally {
    struct Group: Hashable {
        var hour: Int64
        var offerID: UInt32, affID: UInt32
        var reason: RefusalReason
    }

    var groups: [Group: Int64] = [:]
    let upsert: SQLiteStatement?

    init() { upsert = nil }

    init(_ db: SQLiteDatabase) throws(ExportError) {
        upsert = try db.prepare("INSERT INTO rollup_refusals VALUES (?,?,?,?,?) ON CONFLICT DO UPDATE SET \(SQLiteRollups.refusalSums)")
    }

    /// Counts a refusal row as inserted (the hour as SQL's `time_ms / 3600000`: both truncate).
    mutating func add(_ row: RefusalRow) {
        groups[Group(hour: row.timeMillis / CivilTime.hourMillis, offerID: row.offerID, affID: row.affID, reason: row.reason), default: 0] += 1
    }

    /// Writes the counts and empties the tally.
    mutating func flush() throws(ExportError) {
        defer { groups.removeAll(keepingCapacity: true) }
        guard let st = upsert else { return }
        for (group, count) in groups {
            st.bind(1, group.hour); st.bind(2, Int64(group.offerID)); st.bind(3, Int64(group.affID))
            st.bind(4, group.reason.name); st.bind(5, count)
            try st.run()
        }
    }
}

extension SQLiteSink {
    /// Rolls up refusal rows inserted into `db` with SQL rather than by the sink (which counts the rows
    /// it inserts itself; no trigger counts an insert): `condition` selects them.
    public static func rollUpRefusals(_ db: SQLiteDatabase, where condition: String = "true") throws(ExportError) {
        try db.execute(SQLiteRollups.refusalsFromRaw(where: condition))
    }
}
