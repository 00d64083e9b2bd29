// The ClickHouse store `trackstar report` reads (raw tables with FINAL, or the roll-ups of
// ClickHouseRollups.swift when they cover every committed record), and ClickHouse's TabSeparated
// escaping of the answers.
import TrackstarCore
import TrackstarStore

/// Report queries against ClickHouse: the roll-up views when they hold every committed record,
/// else the raw tables with FINAL (rows written twice count once).
public final class ClickHouseReportBackend: ReportBackend {
    let sink: ClickHouseSink
    /// Whether the roll-ups hold every committed record (`ClickHouseSink.rollupsCover`); false for a
    /// store no exporter with roll-ups has written to yet (it fills them with its first batch).
    public let hasRollups: Bool
    public init(sink: ClickHouseSink) throws(ExportError) {
        self.sink = sink
        hasRollups = try sink.rollupsCover()
    }

    public func intDiv(_ column: String, _ divisor: Int64) -> String { "intDiv(\(column), \(divisor))" }
    public var tableSuffix: String { " FINAL" }
    public func table(_ name: String) -> String { "\(sink.database).\(name)" }
    public func query(_ sql: String) throws(ExportError) -> [[String?]] {
        let text = try sink.execute(sql + " FORMAT TabSeparated").text
        return text.split(separator: "\n", omittingEmptySubsequences: true).map { line in
            line.split(separator: "\t", omittingEmptySubsequences: false).map { TabSeparated.unescape($0) }
        }
    }
}

/// ClickHouse's TabSeparated escaping.
enum TabSeparated {
    static func unescape(_ field: Substring) -> String? {
        if field == "\\N" { return nil }
        guard field.contains("\\") else { return String(field) }
        var out: [UInt8] = []
        var escaped = false
        for byte in field.utf8 {
            if escaped {
                switch byte {
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "0"): out.append(0)
                default: out.append(byte)
                }
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
