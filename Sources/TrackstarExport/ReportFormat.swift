// Renders a report as an aligned text table, CSV or JSON. Money is printed exactly (micros to at
// least two decimals), the conversion rate as a percentage with two decimals.
import TrackstarCore
import TrackstarStore
import TrackstarConfiguration

/// How `trackstar report` prints.
public enum ReportFormat: String, CaseIterable, Sendable {
    case table, csv, json

    /// The whole output, ending with a newline.
    public func render(_ result: ReportResult, request: ReportRequest) -> String {
        switch self {
        case .table: ReportText.table(result)
        case .csv: ReportText.csv(result)
        case .json: ReportText.json(result, request: request)
        }
    }
}

/// Text forms of report values.
public enum ReportText {
    static let figureNames = ["clicks", "unique_clicks", "bot_clicks", "conversions", "conversion_rate", "currency", "payout", "revenue", "profit", "epc"]
        + statusMoneyNames
    /// Money of pending and rejected conversions (payout and revenue above are approved money).
    static let statusMoneyNames = ["pending_payout", "pending_revenue", "rejected_payout", "rejected_revenue"]

    /// Micros as a decimal with at least two places: 2500000 → "2.50", 1234567 → "1.234567".
    public static func money(_ micros: Int64) -> String { MoneyText.decimal(micros, minimumFractionDigits: 2) }

    /// A percentage with two decimals ("12.50"), or "" when undefined.
    public static func percent(_ value: Double?) -> String {
        guard let value else { return "" }
        let hundredths = Int64((value * 100).rounded())
        let fraction = String(hundredths % 100)
        return "\(hundredths / 100).\(fraction.count == 1 ? "0" : "")\(fraction)"
    }

    /// A grouping value as text.
    public static func value(_ value: ReportValue, _ dimension: ReportDimension) -> String {
        switch (value, dimension) {
        case (.number(let n), .day): CivilTime.dayText(n)
        case (.number(let n), .hour): CivilTime.hourText(n)
        case (.number(let n), _): String(n)
        case (.text(let t), _): t
        }
    }

    /// The figures of a row: one line per currency of its money (one line without conversions).
    /// Clicks are on the first line only, so a column sums to the right total; each line's
    /// conversions, CR and EPC are those of its currency.
    static func figureLines(_ row: ReportRow) -> [[String]] {
        guard !row.money.isEmpty else {
            return [[String(row.clicks), String(row.uniqueClicks), String(row.botClicks), String(row.conversions), percent(row.conversionRatePercent), "", money(0), money(0), money(0),
                     ReportRow.perClick(0, row.clicks).map(money) ?? "", money(0), money(0), money(0), money(0)]]
        }
        return row.money.enumerated().map { i, m in
            [i == 0 ? String(row.clicks) : "", i == 0 ? String(row.uniqueClicks) : "", i == 0 ? String(row.botClicks) : "", String(m.conversions), percent(ReportRow.rate(m.conversions, row.clicks)), m.currency,
             money(m.payout), money(m.revenue), money(m.profit), ReportRow.perClick(m.revenue, row.clicks).map(money) ?? "",
             money(m.pendingPayout), money(m.pendingRevenue), money(m.rejectedPayout), money(m.rejectedRevenue)]
        }
    }

    // MARK: Table

    static func table(_ result: ReportResult) -> String {
        let header = result.groupBy.map(\.rawValue) + ["clicks", "unique", "bots", "conversions", "CR%", "currency", "payout", "revenue", "profit", "EPC"]
            + ["pending payout", "pending revenue", "rejected payout", "rejected revenue"]
        var lines = result.groupBy.isEmpty ? [] : result.rows.flatMap { row in
            figureLines(row).map { zip(row.key, result.groupBy).map { tableCell($0, $1) } + $0 }
        }
        let total = result.groupBy.isEmpty ? [] : ["TOTAL"] + Array(repeating: "", count: result.groupBy.count - 1)
        lines += figureLines(result.totals).map { total + $0 }
        var out = aligned([header] + lines, numericFrom: result.groupBy.count)
        out += "\nrefusals by reason\n"
        let refusalHeader = result.refusalGroupBy.map(\.rawValue) + ["reason", "count"]
        let refusalLines = result.refusals.map { r in zip(r.key, result.refusalGroupBy).map { tableCell($0, $1) } + [r.reason, String(r.count)] }
        out += refusalLines.isEmpty ? "(none)\n" : aligned([refusalHeader] + refusalLines, numericFrom: refusalHeader.count - 1)
        if let note = result.note { out += "\n(\(note))\n" }
        return out
    }

    /// A grouping value in the table. Text that could be misread is quoted with JSON's escapes: an
    /// empty value is `""` (a literal `-` stays `-`), and a value with a line break, tab or other
    /// control character, a leading or trailing space, or a leading quote is quoted (`"a\nb"`), so
    /// every row stays one line.
    static func tableCell(_ v: ReportValue, _ dimension: ReportDimension) -> String {
        let text = value(v, dimension)
        guard case .text = v else { return text }
        let ambiguous = text.isEmpty || text.hasPrefix(" ") || text.hasSuffix(" ") || text.hasPrefix("\"")
            || text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || $0 == "\u{2028}" || $0 == "\u{2029}" || $0 == "\u{85}" }
        return ambiguous ? quoted(text) : text
    }

    /// Left-aligned text columns, right-aligned figures from column `numericFrom`.
    static func aligned(_ rows: [[String]], numericFrom: Int) -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, text in
                let pad = String(repeating: " ", count: widths[column] - text.count)
                return column >= numericFrom ? pad + text : text + pad
            }.joined(separator: "  ").trimmingTrailingSpaces() + "\n"
        }.joined()
    }

    // MARK: CSV

    static func csv(_ result: ReportResult) -> String {
        var out = csvLine(result.groupBy.map(\.rawValue) + figureNames)
        for row in result.rows {
            for line in figureLines(row) { out += csvLine(zip(row.key, result.groupBy).map { csvCell($0, $1) } + line) }
        }
        out += "\n" + csvLine(result.refusalGroupBy.map(\.rawValue) + ["reason", "refusals"])
        for r in result.refusals { out += csvLine(zip(r.key, result.refusalGroupBy).map { csvCell($0, $1) } + [r.reason, String(r.count)]) }
        return out
    }

    /// A grouping value in CSV. Text cells (subs, source, event: they come from requests) that a
    /// spreadsheet would take for a formula — starting with `=`, `+`, `-`, `@`, tab or CR — get a
    /// leading `'` (OWASP's advice against CSV injection). Our own numbers (ids, figures, money,
    /// including a negative profit) are never text cells, so they stay numbers.
    static func csvCell(_ v: ReportValue, _ dimension: ReportDimension) -> String {
        let text = value(v, dimension)
        guard case .text = v, let first = text.unicodeScalars.first else { return text }
        return ["=", "+", "-", "@", "\t", "\r"].contains(first) ? "'" + text : text
    }

    static func csvLine(_ fields: [String]) -> String {
        fields.map { field in
            field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + field.replacingAll("\"", with: "\"\"") + "\"" : field
        }.joined(separator: ",") + "\n"
    }

    // MARK: JSON

    static func json(_ result: ReportResult, request: ReportRequest) -> String {
        func object(_ key: [ReportValue], _ dims: [ReportDimension], _ rest: [(String, String)]) -> String {
            let fields = zip(key, dims).map { (v, d) -> (String, String) in
                if case .number(let n) = v, d == .offer || d == .affiliate || d == .asn || d == .smartlink { return (d.rawValue, String(n)) }
                return (d.rawValue, quoted(value(v, d)))
            } + rest
            return "{" + fields.map { "\(quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
        }
        // Flat payout, revenue, profit and EPC only when the row's money is in one currency (null
        // otherwise); "currencies" always lists each currency's figures.
        func figures(_ row: ReportRow) -> [(String, String)] {
            let perCurrency = row.money.map { m in
                "{\"currency\":\(quoted(m.currency)),\"conversions\":\(m.conversions),\"payout\":\(money(m.payout)),"
                    + "\"revenue\":\(money(m.revenue)),\"profit\":\(money(m.profit)),"
                    + "\"epc\":\(ReportRow.perClick(m.revenue, row.clicks).map(money) ?? "null"),"
                    + "\"pending_payout\":\(money(m.pendingPayout)),\"pending_revenue\":\(money(m.pendingRevenue)),"
                    + "\"rejected_payout\":\(money(m.rejectedPayout)),\"rejected_revenue\":\(money(m.rejectedRevenue))}"
            }
            return [("clicks", String(row.clicks)), ("unique_clicks", String(row.uniqueClicks)), ("bot_clicks", String(row.botClicks)),
                    ("conversions", String(row.conversions)),
                    ("conversion_rate", row.conversionRatePercent.map { percent($0) } ?? "null"),
                    ("currency", row.currency.map(quoted) ?? "null"),
                    ("payout", row.payout.map(money) ?? "null"), ("revenue", row.revenue.map(money) ?? "null"),
                    ("profit", row.profit.map(money) ?? "null"), ("epc", row.epc.map(money) ?? "null"),
                    ("pending_payout", row.money.count <= 1 ? money(row.money.first?.pendingPayout ?? 0) : "null"),
                    ("pending_revenue", row.money.count <= 1 ? money(row.money.first?.pendingRevenue ?? 0) : "null"),
                    ("rejected_payout", row.money.count <= 1 ? money(row.money.first?.rejectedPayout ?? 0) : "null"),
                    ("rejected_revenue", row.money.count <= 1 ? money(row.money.first?.rejectedRevenue ?? 0) : "null"),
                    ("currencies", "[" + perCurrency.joined(separator: ",") + "]")]
        }
        let rows = result.rows.map { object($0.key, result.groupBy, figures($0)) }
        let refusals = result.refusals.map { object($0.key, result.refusalGroupBy, [("reason", quoted($0.reason)), ("count", String($0.count))]) }
        let range = [("from", request.fromMillis), ("to", request.toMillis)].map { name, ms in
            "\(quoted(name)):" + (ms.map { quoted(UTCTime.text(millis: $0, style: .isoSeconds)) } ?? "null")
        }
        let zone = ",\"time_zone\":" + quoted(request.timeZone?.name ?? "UTC")
        return "{" + range.joined(separator: ",") + zone + ",\"group_by\":[" + result.groupBy.map { quoted($0.rawValue) }.joined(separator: ",")
            + "],\"rows\":[" + rows.joined(separator: ",") + "],\"totals\":" + object([], [], figures(result.totals))
            + ",\"refusals\":[" + refusals.joined(separator: ",") + "]"
            + (result.note.map { ",\"note\":" + quoted($0) } ?? "") + "}\n"
    }

    /// A JSON string literal (the one escaper, `JSONText`).
    public static func quoted(_ text: String) -> String { JSONText.quoted(text) }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }

    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
