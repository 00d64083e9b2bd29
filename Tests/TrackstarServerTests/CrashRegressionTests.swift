// Regression tests for values that used to stop the server: each sends the request (or loads the
// config) that crashed the release build, against the real binary, and checks the clear refusal
// (or the working answer) that replaced the trap. A crash fails the test through its lost answer.
import Foundation
import Testing

@Suite("crash regressions", .serialized)
struct CrashRegressionTests {
    /// Mints a click on `offer` for `affiliate` and returns its ID.
    func click(_ server: LiveServer, offer: UInt32 = 1, affiliate: UInt32 = 7) throws -> String {
        let r = try server.connect().get("/click?offer_id=\(offer)&aff_id=\(affiliate)")
        #expect(r.status == 302, "click on offer \(offer): \(r.status) \(r.body)")
        let location = try #require(r.header("Location"))
        return try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "cid" }?.value)
    }

    /// Writes `text` to a temporary config file and runs `trackstar check-config` on it.
    func checkConfig(_ text: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("crash-\(UUID().uuidString).toml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try LiveServer.run(["check-config", path])
    }

    /// `amount=9223372036855` (and any 13-digit amount) overflowed `whole * 1_000_000` in
    /// `Decimal.parseMicros` and killed the process; 14 digits were refused. Expected: every width is
    /// a 400 naming `amount` or a recorded amount, and the server goes on.
    @Test func everyAmountWidthIsAnAnswerNotACrash() throws {
        let server = try LiveServer()
        for digits in 1...30 {
            let id = try click(server)
            let amount = String(repeating: "9", count: digits)
            let r = try server.connect().get("/postback?click_id=\(id)&amount=\(amount)")
            if digits <= 12 {
                #expect(r.status == 200, "\(digits)-digit amount: \(r.status) \(r.body)")
            } else {
                #expect(r.status == 400, "\(digits)-digit amount: \(r.status) \(r.body)")
                #expect((r.json["message"] as? String)?.hasPrefix("amount: ") == true, "\(r.body)")
            }
        }
        for amount in ["9223372036855", "9999999999999", "9223372036854.775807", "999999999999.999999", "1000000000000"] {
            let id = try click(server)
            let r = try server.connect().get("/postback?click_id=\(id)&amount=\(amount)")
            let expected = amount.hasPrefix("999999999999.") ? 200 : 400
            #expect(r.status == expected, "amount \(amount): \(r.status) \(r.body)")
        }
        server.expectStillServing()
    }

    /// An offer with 256 `[offers.events.*]` tables passed check-config, and a postback for the 256th
    /// trapped converting its index to the record's one-byte event field. Expected: check-config
    /// refuses more than 255 and names the offer's events; 255 start and every event records.
    @Test func moreThan255EventsIsAConfigProblem() throws {
        func config(events: Int) -> String {
            var text = "[[offers]]\nid = 1\nurl = \"https://shop.example/?cid={click_id}\"\n"
            for i in 1...events { text += "  [offers.events.e\(i)]\n  payout = 1\n" }
            return text + "\n[[affiliates]]\nid = 7\n"
        }
        let refused = try checkConfig(config(events: 256))
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("offers[1].events: 256 events; an offer may define at most 255"), "\(refused.stderr)")

        let server = try LiveServer(config: config(events: 255))
        for event in ["e1", "e254", "e255"] {
            let id = try click(server)
            let r = try server.connect().get("/postback?click_id=\(id)&event=\(event)")
            #expect(r.status == 200, "event \(event): \(r.status) \(r.body)")
            #expect(r.json["event"] as? String == event)
        }
    }

    /// An offer or affiliate with id 4294967295 (the documented maximum) trapped in `Catalog.dense`
    /// (`max id + 1` overflowed UInt32) and the server never started. Expected: it starts, and clicks
    /// and postbacks on the largest ids work.
    @Test func largestIDsStart() throws {
        let config = """
        [[offers]]
        id = 4294967295
        url = "https://shop.example/?cid={click_id}&o={offer_id}&a={aff_id}"

        [[affiliates]]
        id = 4294967295
        """
        #expect(try checkConfig(config).status == 0)
        let server = try LiveServer(config: config)
        let id = try click(server, offer: 4_294_967_295, affiliate: 4_294_967_295)
        let r = try server.connect().get("/postback?click_id=\(id)")
        #expect(r.status == 200, "\(r.body)")
        #expect(r.json["offer_id"] as? Int == 4_294_967_295)
        #expect(r.json["aff_id"] as? Int == 4_294_967_295)
    }

    /// Durations and amounts the runtime adds to clocks or sums are bounded at load, with the limit
    /// in the message, instead of overflowing later (a snapshot interval near Int64.max added to now).
    @Test(arguments: [
        ("[storage]\nsnapshot_interval = \"106751991167d\"\n", "at most 36500d"),
        ("[[offers]]\nid = 1\nurl = \"https://a.example/\"\nclick_lifetime = \"36501d\"\n", "at most 36500d"),
        ("[[offers]]\nid = 1\nurl = \"https://a.example/\"\npayout = 9223372036854\n", "below 1000000000000"),
        ("[[offers]]\nid = 1\nurl = \"https://a.example/\"\nrevenue = 1000000000000.0\n", "below 1000000000000"),
    ])
    func unrepresentableConfigValuesAreProblems(_ config: String, _ message: String) throws {
        let result = try checkConfig(config)
        #expect(result.status == 1, "\(config): \(result.stdout)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
