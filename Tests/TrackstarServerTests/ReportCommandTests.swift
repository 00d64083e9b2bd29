// `trackstar report`'s options through the real binary: an empty --from/--to range and an unknown
// --tz are refused before any store is opened, naming what to fix; --tz reports local days; a report
// the roll-ups cannot answer says it read raw rows.
import Foundation
import Testing
import TrackstarTestSupport

@Suite("report command")
struct ReportCommandTests {
    func configFile() throws -> (dir: String, path: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-report-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/t.toml"
        try LiveServer.defaultConfig.write(toFile: path, atomically: true, encoding: .utf8)
        return (dir, path)
    }

    @Test func fromAfterToIsRefusedNamingBoth() throws {
        let (dir, path) = try configFile()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try LiveServer.run(["report", "--config", path, "--data-dir", dir, "--from", "2026-02-01", "--to", "2026-01-01"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--from 2026-02-01") && r.stderr.contains("--to 2026-01-01"), "\(r.stderr)")
    }

    @Test func unknownTimeZoneIsRefused() throws {
        let (dir, path) = try configFile()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try LiveServer.run(["report", "--config", path, "--data-dir", dir, "--tz", "Mars/Olympus"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("no time zone \"Mars/Olympus\""), "\(r.stderr)")
    }

    @Test func tzReportsLocalDaysFromTheRunningServer() throws {
        let server = try LiveServer(config: exportConfig())
        let c = try server.connect()
        for _ in 0..<3 { #expect(try c.get("/click?offer_id=1&aff_id=7").status == 302) }
        // The exporter creates its tables a moment after start (a report before that fails): poll.
        #expect(eventually(within: 30) { (try? report(server))?.totals["clicks"] as? Int == 3 }, "the clicks never reached the report")
        let zoned = try LiveServer.run(["report", "--config", server.configPath, "--data-dir", server.dataPath,
                                        "--tz", "Pacific/Kiritimati", "--group-by", "day", "--format", "json"])
        #expect(zoned.status == 0, "\(zoned.stderr)")
        #expect(zoned.stdout.contains("\"time_zone\":\"Pacific/Kiritimati\""))
        // Kiritimati is UTC+14: its date is never behind the UTC date.
        let utcDay = CivilTimeText.today()
        let days = (try JSONSerialization.jsonObject(with: Data(zoned.stdout.utf8)) as? [String: Any])?["rows"] as? [[String: Any]] ?? []
        #expect(days.count >= 1 && days.allSatisfy { ($0["day"] as? String ?? "") >= utcDay }, "\(zoned.stdout)")
    }

    /// Roll-ups answer by offer silently; by sub1 the command reads raw rows and says so: at the end
    /// of the table, and on standard error for CSV (whose standard output stays rows only).
    @Test func aReportFromRawRowsSaysSo() throws {
        let server = try LiveServer(config: exportConfig())
        let c = try server.connect()
        for i in 0..<3 { #expect(try c.get("/click?offer_id=1&aff_id=7&sub1=n\(i)").status == 302) }
        #expect(eventually(within: 30) { (try? report(server))?.totals["clicks"] as? Int == 3 }, "the clicks never reached the report")
        let base = ["report", "--config", server.configPath, "--data-dir", server.dataPath]
        let byOffer = try LiveServer.run(base + ["--group-by", "offer"])
        #expect(byOffer.status == 0 && !byOffer.stdout.contains("raw rows") && !byOffer.stderr.contains("raw rows"), "\(byOffer.stdout) \(byOffer.stderr)")
        let bySub = try LiveServer.run(base + ["--group-by", "sub1"])
        #expect(bySub.status == 0 && bySub.stdout.hasSuffix("(read from raw rows: the roll-ups have no sub1 (they keep offer, affiliate, day, "
                                                              + "hour, event, trafficback_reason, smartlink; and by UTC day country, device, os, browser))\n"),
                "\(bySub.stdout)")
        let csv = try LiveServer.run(base + ["--group-by", "sub1", "--format", "csv"])
        #expect(csv.status == 0 && !csv.stdout.contains("raw rows") && csv.stderr.contains("read from raw rows: the roll-ups have no sub1"),
                "\(csv.stdout) \(csv.stderr)")
    }
}

enum CivilTimeText {
    /// Today's UTC date as YYYY-MM-DD.
    static func today() -> String {
        let formatter = DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: Date())
    }
}
