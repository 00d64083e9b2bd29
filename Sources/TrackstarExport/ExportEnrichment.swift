// The enrichment columns of the reporting feed: clicks carry country, ASN, device, OS and browser
// family, bot reason, the unique flag and the city (from MaxMind City files; '' otherwise);
// conversions carry their click's country, ASN, device, OS and browser; both carry where the click
// went and why (issue 14's trafficback reason and smart link). Both sinks add the columns to tables
// made by earlier releases (their rows read empty).
import TrackstarCore
import TrackstarStore

/// Column lists and encoders shared by the SQLite and ClickHouse sinks.
enum EnrichmentColumns {
    /// Click columns after `user_agent`, in insert order, with their SQLite and ClickHouse types.
    static let clicks: [(name: String, sqlite: String, clickhouse: String)] = [
        ("country", "TEXT NOT NULL DEFAULT ''", "String"), ("asn", "INTEGER NOT NULL DEFAULT 0", "UInt32"),
        ("device", "TEXT NOT NULL DEFAULT ''", "String"), ("os", "TEXT NOT NULL DEFAULT ''", "String"),
        ("browser", "TEXT NOT NULL DEFAULT ''", "String"), ("bot_reason", "TEXT NOT NULL DEFAULT ''", "String"),
        ("is_unique", "INTEGER NOT NULL DEFAULT 0", "UInt8"),
        // Issue 14: why a click did not land on its offer ("" when it did), where it was sent
        // ("offer" when it landed), the offer it asked for (set on diverted and smart-link clicks;
        // 0 on a plain click, which asked for `offer_id`), and the smart link it came through (0: none).
        ("trafficback_reason", "TEXT NOT NULL DEFAULT ''", "String"), ("destination", "TEXT NOT NULL DEFAULT ''", "String"),
        ("requested_offer", "INTEGER NOT NULL DEFAULT 0", "UInt32"), ("smartlink", "INTEGER NOT NULL DEFAULT 0", "UInt32"),
        // Issue 13: the city from a MaxMind City file ('' otherwise); last, added after issue 14's.
        ("city", "TEXT NOT NULL DEFAULT ''", "String"),
    ]
    /// Conversion columns after `extras`: the click's attributes (enrichment, trafficback reason, smart link).
    static let conversions = Array(clicks[0..<5]) + [clicks[7], clicks[10]]

    /// `, name TYPE` for each column, for a CREATE TABLE.
    static func sqliteDefinitions(_ columns: [(name: String, sqlite: String, clickhouse: String)]) -> String {
        columns.map { ", \($0.name) \($0.sqlite)" }.joined()
    }

    static func clickHouseDefinitions(_ columns: [(name: String, sqlite: String, clickhouse: String)]) -> String {
        columns.map { ", \($0.name) \($0.clickhouse)" }.joined()
    }

    /// Adds the columns a table made before enrichment lacks (appended, where inserts bind them).
    static func addMissing(_ db: SQLiteDatabase, table: String, _ columns: [(name: String, sqlite: String, clickhouse: String)]) throws(ExportError) {
        try db.addColumnsIfMissing(table, columns.map { ($0.name, $0.sqlite) })
    }

    /// Encodes a click's (`click`) or a conversion's enrichment columns in RowBinary.
    static func encode(_ head: ClickEnrichmentHead, _ tail: ClickEnrichmentTail, click: Bool, into out: inout RowBinary) {
        withCountry(head) { out.string($0) }
        out.uint32(tail.asn); out.string(head.device.name); out.string(tail.os); out.string(tail.browser)
        let traffic = tail.traffic
        guard click else {
            out.string(traffic.reason.name); out.uint32(traffic.smartlink)
            return
        }
        out.string(head.botReason.name); out.uint8(head.unique ? 1 : 0)
        out.string(traffic.reason.name); out.string(traffic.destination.name)
        out.uint32(traffic.requestedOffer); out.uint32(traffic.smartlink); out.string(tail.city)
    }

    /// The country's two letters (empty when unknown), without allocating.
    static func withCountry<T>(_ head: ClickEnrichmentHead, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        withUnsafeBytes(of: head.country.littleEndian) { body(head.country == 0 ? UnsafeRawBufferPointer(rebasing: $0[0..<0]) : $0) }
    }
}

extension ClickHouseSink {
    /// Tables made before enrichment get its columns (last, where RowBinary inserts put them).
    func addEnrichmentColumns() throws(ExportError) {
        for (table, columns) in [("clicks", EnrichmentColumns.clicks), ("conversions", EnrichmentColumns.conversions)] {
            let text = try execute("""
                SELECT name FROM system.columns WHERE database = '\(database)' AND table = '\(table)' FORMAT TabSeparated
                """).text
            let present = Set(text.split(separator: "\n").map(String.init))
            for column in columns where !present.contains(column.name) {
                try execute("ALTER TABLE \(database).\(table) ADD COLUMN \(column.name) \(column.clickhouse)")
            }
        }
    }
}
