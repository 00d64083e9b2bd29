// A data dir written by the release before stable event ids and payout currencies
// (Tests/Fixtures/legacy-571be4e), read by this build: its conversions keep their meaning.
import Foundation
import Testing

@Suite("legacy data dir", .serialized)
struct LegacyDataDirTests {
    static let fixture = LiveServer.packageRoot.appendingPathComponent("Tests/Fixtures/legacy-571be4e")
    static let clickA = "000000000000YP6M8AA1Y1FQY4"  // offer 1: conversion main-1 (amount 10 JPY), upsell up-1
    static let clickB = "00000000000GYP6MEB248TSVAW"  // offer 2: conversion b-1

    /// A temp dir holding the fixture's `data/`.
    static func unpack() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-legacy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/bin/tar")
        tar.arguments = ["xzf", fixture.appendingPathComponent("legacy-datadir.tar.gz").path, "-C", dir]
        try tar.run()
        tar.waitUntilExit()
        #expect(tar.terminationStatus == 0)
        return dir
    }

    static func postback(_ server: LiveServer, _ query: String) throws -> TestResponse {
        try server.connect().get("/postback?\(query)")
    }

    @Test func conversionsOfTheEarlierReleaseKeepTheirEventsAndCurrencies() throws {
        let dir = try Self.unpack()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let legacyConfig = try String(contentsOf: Self.fixture.appendingPathComponent("legacy.toml"), encoding: .utf8)

        // First start, with the configuration the earlier release ran with: the event ids are seeded.
        do {
            let server = try LiveServer(config: legacyConfig, loops: 1, dataDir: dir)
            server.ownsDataDir = false
            let upsell = try Self.postback(server, "click_id=\(Self.clickA)&event=upsell&txid=up-1")
            #expect(upsell.status == 200 && upsell.json["duplicate"] as? Bool == true && upsell.json["event"] as? String == "upsell")
            server.stop()
        }
        let registry = (try? String(contentsOfFile: dir + "/data/events", encoding: .utf8)) ?? ""
        #expect(registry.contains("1 0 conversion\n1 1 upsell\n2 0 conversion\n"), "\(registry)")

        // Then an event is inserted above upsell and offer 2 is removed.
        let changed = legacyConfig
            .replacingOccurrences(of: "  [offers.events.upsell]", with: "  [offers.events.lead]\n  payout = 0.5\n  [offers.events.upsell]")
            .replacingOccurrences(of: "[[offers]]\nid = 2\nurl = \"https://gone.example/?cid={click_id}\"\nclick_lifetime = \"36500d\"\ncurrency = \"USD\"\npayout = 3\n", with: "")
        #expect(!changed.contains("id = 2"))
        let server = try LiveServer(config: changed, loops: 1, dataDir: dir)
        server.ownsDataDir = false
        defer { server.stop() }

        let upsell = try Self.postback(server, "click_id=\(Self.clickA)&event=upsell&txid=up-1")
        #expect(upsell.status == 200, "\(upsell.json)")
        #expect(upsell.json["duplicate"] as? Bool == true)
        #expect(upsell.json["conversion_id"] as? Int == 2)
        #expect(upsell.json["event"] as? String == "upsell" && upsell.json["payout"] as? Double == 1)
        let again = try Self.postback(server, "click_id=\(Self.clickA)&event=upsell&txid=up-2")
        #expect(again.status == 409 && again.json["reason"] as? String == "duplicate_event")
        let lead = try Self.postback(server, "click_id=\(Self.clickA)&event=lead&txid=lead-1")
        #expect(lead.status == 200 && lead.json["event"] as? String == "lead" && lead.json["duplicate"] == nil)

        // The main conversion: paid in the offer's EUR, the sender's 10 JPY kept as its amount.
        let main = try Self.postback(server, "click_id=\(Self.clickA)&txid=main-1&amount=10&currency=JPY")
        #expect(main.status == 200 && main.json["duplicate"] as? Bool == true && main.json["conversion_id"] as? Int == 1)
        #expect(main.json["payout"] as? Double == 2.5 && main.json["currency"] as? String == "EUR", "\(main.json)")
        #expect(main.json["amount"] as? Double == 10 && main.json["amount_currency"] as? String == "JPY")

        // Offer 2 is gone: its recorded conversion still repeats, a new one is refused.
        let removed = try Self.postback(server, "click_id=\(Self.clickB)&txid=b-1")
        #expect(removed.status == 200 && removed.json["duplicate"] as? Bool == true, "\(removed.json)")
        #expect(removed.json["event"] as? String == "conversion" && removed.json["currency"] as? String == "USD")
        #expect(try Self.postback(server, "click_id=\(Self.clickB)&txid=b-2").json["reason"] as? String == "unknown_offer")
    }
}
