// Issue 17: postbacks fired as each built-in sender documents them, through the real server, checked
// field by field (status, event, amount, txid, payout, revenue) in the SQLite reporting store; unfilled
// templates in any field; unknown status words; a name that means different things to two senders.
import Foundation
import Testing
import TrackstarExport
import TrackstarTestSupport
import TrackstarConfiguration

/// One documented postback shape and the conversion it must store.
struct SenderCase {
    let query: String  // `ID` stands for the click ID
    let status: String
    let event: String
    let amount: String?  // micros as text, nil for none
    let txid: String
    let payout: Int
    let revenue: Int
}

@Suite("sender profiles", .serialized)
struct SenderProfileTests {
    /// Offer 10 + i uses the i-th profile; every offer pays 2 / earns 5, its event pays 1 / earns 3.
    static let profiles = ["trackstar", "tune", "everflow", "voluum", "keitaro", "binom", "redtrack", "affise", "cake", "impact", "tidclick"]
    static let events = ["trackstar": "upsell", "tune": "3", "everflow": "12", "voluum": "upsell", "keitaro": "upsell", "binom": "upsell",
                         "redtrack": "Purchase", "affise": "2", "cake": "5", "impact": "1234", "tidclick": "upsell"]

    static var config: String {
        var text = """
        [server]
        listen = "127.0.0.1:0"

        [export]
        batch_rows = 10
        batch_age = "20ms"

        [[postback_profiles]]
        name = "tidclick"
        extends = "everflow"
        click_id = ["tid"]

        [[affiliates]]
        id = 7

        """
        for (i, profile) in profiles.enumerated() {
            text += """

            [[offers]]
            id = \(10 + i)
            url = "https://shop.example/?cid={click_id}"
            postback_profile = "\(profile)"
            payout = 2
            revenue = 5
              [offers.events."\(events[profile]!)"]
              payout = 1
              revenue = 3

            """
        }
        return text
    }

    static let m = 1_000_000
    /// Each built-in's documented shapes (see the page cited next to each profile in PostbackProfileConfig.swift).
    /// A rejected conversion keeps its amounts in the row (reports count them as rejected money, issue 18).
    static let cases: [String: [SenderCase]] = [
        "trackstar": [
            SenderCase(query: "click_id=ID&event=upsell&amount=10&txid=X-1&status=pending", status: "pending", event: "upsell",
                       amount: "10000000", txid: "X-1", payout: 1 * m, revenue: 3 * m),
            SenderCase(query: "cid=ID&order_id=X-2&status=APPROVED", status: "approved", event: "", amount: nil, txid: "X-2",
                       payout: 2 * m, revenue: 5 * m),
        ],
        "tune": [
            SenderCase(query: "offer_id=11&transaction_id=ID&amount=12.50&adv_sub=T-1&goal_id=3", status: "approved", event: "3",
                       amount: "12500000", txid: "T-1", payout: 1 * m, revenue: 3 * m),
            SenderCase(query: "transaction_id=ID&amount=%247.25&adv_sub=T-2&status=pending&adv_sub2=extra", status: "pending", event: "",
                       amount: "7250000", txid: "T-2", payout: 2 * m, revenue: 5 * m),
            SenderCase(query: "transaction_id=ID&adv_sub=T-3&status=REJECTED", status: "rejected", event: "", amount: nil, txid: "T-3",
                       payout: 2 * m, revenue: 5 * m),
        ],
        "everflow": [
            SenderCase(query: "nid=42&transaction_id=ID&amount=19.99&order_id=E-1&adv_event_id=12", status: "approved", event: "12",
                       amount: "19990000", txid: "E-1", payout: 1 * m, revenue: 3 * m),
            SenderCase(query: "nid=42&transaction_id=ID&amount=5&order_id=E-2&adv1=x", status: "approved", event: "", amount: "5000000",
                       txid: "E-2", payout: 2 * m, revenue: 5 * m),
        ],
        "voluum": [
            SenderCase(query: "cid=ID&payout=3.10&txid=V-1", status: "approved", event: "", amount: nil, txid: "V-1", payout: 2 * m,
                       revenue: 3_100_000),
            SenderCase(query: "cid=ID&payout=OPTIONAL&txid=OPTIONAL&et=upsell", status: "approved", event: "upsell", amount: nil, txid: "",
                       payout: 1 * m, revenue: 3 * m),
            SenderCase(query: "cid=ID&payout=1.5&txid=V-3&et=upsell&currency=EUR", status: "approved", event: "upsell", amount: nil,
                       txid: "V-3", payout: 1 * m, revenue: 1_500_000),
        ],
        "keitaro": [
            SenderCase(query: "subid=ID&status=sale&payout=21.0&tid=52949935&from=adcombo.com", status: "approved", event: "", amount: nil,
                       txid: "52949935", payout: 2 * m, revenue: 21 * m),
            SenderCase(query: "subid=ID&status=lead&payout=10,50&tid=K-2", status: "pending", event: "", amount: nil, txid: "K-2",
                       payout: 2 * m, revenue: 10_500_000),
            SenderCase(query: "subid=ID&status=Rejected&tid=K-3", status: "rejected", event: "", amount: nil, txid: "K-3", payout: 2 * m, revenue: 5 * m),
            SenderCase(query: "subid=ID&status=rebill&revenue=5&tid=K-4", status: "approved", event: "", amount: nil, txid: "K-4",
                       payout: 2 * m, revenue: 5 * m),
        ],
        "binom": [
            SenderCase(query: "cnv_id=ID&payout=2.5&cnv_status=Hold", status: "pending", event: "", amount: nil, txid: "", payout: 2 * m,
                       revenue: 2_500_000),
            SenderCase(query: "cnv_id=ID&payout=4&cnv_status=approve&cnv_currency=USD", status: "approved", event: "", amount: nil, txid: "",
                       payout: 2 * m, revenue: 4 * m),
            SenderCase(query: "cnv_id=ID&payout=4&cnv_status=reject", status: "rejected", event: "", amount: nil, txid: "", payout: 2 * m,
                       revenue: 4 * m),
        ],
        "redtrack": [
            SenderCase(query: "clickid=ID&sum=9.99&type=Purchase&rdtk_event_id=R-1", status: "approved", event: "Purchase", amount: nil,
                       txid: "R-1", payout: 1 * m, revenue: 9_990_000),
            SenderCase(query: "clickid=ID&sum=1&status=declined&transaction_id=R-2", status: "rejected", event: "", amount: nil, txid: "R-2",
                       payout: 2 * m, revenue: 1 * m),
        ],
        "affise": [
            SenderCase(query: "clickid=ID&action_id=A-1&goal=2&sum=15.5&status=1&secure=s3", status: "approved", event: "2", amount: nil,
                       txid: "A-1", payout: 1 * m, revenue: 15_500_000),
            SenderCase(query: "clickid=ID&action_id=A-2&sum=3,25&status=2", status: "pending", event: "", amount: nil, txid: "A-2",
                       payout: 2 * m, revenue: 3_250_000),
            SenderCase(query: "clickid=ID&action_id=A-3&status=3", status: "rejected", event: "", amount: nil, txid: "A-3", payout: 2 * m, revenue: 5 * m),
            SenderCase(query: "click_id=ID&action_id=A-4&status=5&custom_field1=c", status: "pending", event: "", amount: nil, txid: "A-4",
                       payout: 2 * m, revenue: 5 * m),
        ],
        "cake": [
            SenderCase(query: "o=18&e=5&f=pb&r=ID&t=C-1&p=12.00", status: "approved", event: "5", amount: nil, txid: "C-1", payout: 1 * m,
                       revenue: 12 * m),
            SenderCase(query: "o=18&f=pb&r=ID&t=C-2", status: "approved", event: "", amount: nil, txid: "C-2", payout: 2 * m, revenue: 5 * m),
        ],
        "impact": [
            SenderCase(query: "subid1=ID&action_id=I-1&status=APPROVED&payout=4.20&amount=99.00&currency=USD", status: "approved", event: "",
                       amount: "99000000", txid: "I-1", payout: 2 * m, revenue: 4_200_000),
            SenderCase(query: "subid1=ID&action_id=I-2&status=PENDING&payout=1&action_tracker_id=1234", status: "pending", event: "1234",
                       amount: nil, txid: "I-2", payout: 1 * m, revenue: 1 * m),
            SenderCase(query: "subid1=ID&action_id=I-3&status=REVERSED", status: "rejected", event: "", amount: nil, txid: "I-3",
                       payout: 2 * m, revenue: 5 * m),
        ],
        "tidclick": [
            SenderCase(query: "tid=ID&order_id=TC-1&amount=3", status: "approved", event: "", amount: "3000000", txid: "TC-1",
                       payout: 2 * m, revenue: 5 * m),
        ],
    ]

    @Test func everyBuiltinRecordsWhatItsSenderDocuments() throws {
        let server = try LiveServer(config: SenderProfileTests.config)
        let c = try server.connect()
        var expected: [String: SenderCase] = [:]  // by click ID
        for (i, profile) in SenderProfileTests.profiles.enumerated() {
            for shape in SenderProfileTests.cases[profile] ?? [] {
                let id = try #require(clickID(try c.get("/click?offer_id=\(10 + i)&aff_id=7")))
                let r = try c.get("/postback?" + shape.query.replacingOccurrences(of: "ID", with: id))
                #expect(r.status == 200, "\(profile) \(shape.query): \(r.status) \(r.body)")
                #expect(r.json["status"] as? String == shape.status, "\(profile) \(shape.query): \(r.body)")
                expected[id] = shape
            }
        }
        let db = server.dataPath + "/report.sqlite"
        let exported = eventually(within: 60, every: 0.05) {
            (try? SQLiteDatabase(path: db).rows("SELECT count(*) FROM conversions")) == [["\(expected.count)"]]
        }
        #expect(exported, "conversions were not all exported")
        server.stop()
        let rows = try SQLiteDatabase(path: db).rows(
            "SELECT click_id, status, event, amount_micros, txid, payout_micros, revenue_micros FROM conversions")
        #expect(rows.count == expected.count)
        for row in rows {
            let id = try #require(row[0])
            let want = try #require(expected[id], "unexpected conversion \(row)")
            let got = [row[1], row[2], row[3], row[4], row[5], row[6]]
            let wanted: [String?] = [want.status, want.event == "" ? "conversion" : want.event, want.amount, want.txid,
                                     "\(want.payout)", "\(want.revenue)"]
            #expect(got == wanted, "\(want.query): stored \(got), expected \(wanted)")
        }
    }

    @Test func unfilledTemplatesAreAbsentAndNeverAnOrderID() throws {
        let server = try LiveServer(config: SenderProfileTests.config)
        let c = try server.connect()
        // Two clicks whose postbacks both carry the advertiser's unfilled template: two conversions.
        for template in ["{transaction_id}", "{transaction_id}", "[ORDER]", "%25ORDER_ID%25", "%ORDER_ID%", "REPLACE", "${order}", "%23tid%23"] {
            let id = try #require(clickID(try c.get("/click?offer_id=10&aff_id=7")))
            let r = try c.get("/postback?click_id=\(id)&txid=\(template)&amount={amount}&currency={currency}&status={status}")
            #expect(r.status == 200 && r.json["duplicate"] == nil, "\(template): \(r.body)")
            #expect(r.json["status"] as? String == "approved" && r.json["amount"] == nil, "\(template): \(r.body)")
        }
        let metrics = try server.admin().get("/metrics").body
        #expect(metrics.contains("trackstar_postback_fields_unfilled_total 32\n"), "\(metrics)")
        // An unfilled event is the default event; an unfilled click ID is refused.
        let id = try #require(clickID(try c.get("/click?offer_id=10&aff_id=7")))
        let r = try c.get("/postback?click_id=\(id)&event={goal}")
        #expect(r.status == 200 && r.json["event"] as? String == "conversion", "\(r.body)")
        let macro = try c.get("/postback?click_id=[CLICK_ID]")
        #expect(macro.status == 400 && macro.json["reason"] as? String == "unreplaced_macro", "\(macro.body)")
    }

    @Test func unknownStatusWordIsRefusedNamingWordAndProfile() throws {
        let server = try LiveServer(config: SenderProfileTests.config)
        let c = try server.connect()
        let id = try #require(clickID(try c.get("/click?offer_id=14&aff_id=7")))
        let r = try c.get("/postback?subid=\(id)&status=deposit&tid=K-9")
        #expect(r.status == 422 && r.json["reason"] as? String == "unknown_status", "\(r.body)")
        #expect(r.json["word"] as? String == "deposit" && r.json["profile"] as? String == "keitaro", "\(r.body)")
        #expect((r.json["message"] as? String ?? "").contains("'deposit'"), "\(r.body)")
        // The same word through the default profile is unknown there too, and says so.
        let other = try #require(clickID(try c.get("/click?offer_id=10&aff_id=7")))
        let d = try c.get("/postback?click_id=\(other)&status=sale")
        #expect(d.status == 422 && d.json["profile"] as? String == "trackstar", "\(d.body)")
    }

    @Test func aNameIsReadOnlyThroughTheProfileThatMeansIt() throws {
        let server = try LiveServer(config: SenderProfileTests.config)
        let c = try server.connect()
        // `tid` is the click ID for "tidclick" (offer 20) and Keitaro's order id (offer 14).
        let keitaroClick = try #require(clickID(try c.get("/click?offer_id=14&aff_id=7")))
        let asClick = try c.get("/postback?tid=\(keitaroClick)&status=sale")
        #expect(asClick.status == 400 && asClick.json["reason"] as? String == "missing_parameter", "\(asClick.body)")
        let ok = try c.get("/postback?subid=\(keitaroClick)&tid=\(keitaroClick)&status=sale")
        #expect(ok.status == 200, "\(ok.body)")
        // A second order id through Keitaro's `tid` is an order id, not a click.
        let again = try c.get("/postback?subid=\(keitaroClick)&tid=other-order&status=sale")
        #expect(again.status == 409 && again.json["reason"] as? String == "duplicate_event", "\(again.body)")
    }

    @Test func unmappedParametersAreKeptExportedAndShown() throws {
        let server = try LiveServer(config: SenderProfileTests.config)
        let c = try server.connect()
        let id = try #require(clickID(try c.get("/click?offer_id=11&aff_id=7")))  // tune
        let r = try c.get("/postback?offer_id=11&transaction_id=\(id)&adv_sub=T-9&adv_sub2=a%20b&aff_id=3&goal_id=3")
        #expect(r.status == 200, "\(r.body)")
        let conversionID = try #require(r.json["conversion_id"] as? Int)
        // More than 512 bytes of unmapped parameters: whole pairs are kept, then the marker.
        let long = try #require(clickID(try c.get("/click?offer_id=10&aff_id=7")))
        let filler = (0..<40).map { "p\($0)=\(String(repeating: "x", count: 10))" }.joined(separator: "&")
        let l = try c.get("/postback?click_id=\(long)&txid=L-1&" + filler)
        #expect(l.status == 200, "\(l.body)")
        let db = server.dataPath + "/report.sqlite"
        #expect(eventually(within: 60, every: 0.05) {
            (try? SQLiteDatabase(path: db).rows("SELECT count(*) FROM conversions")) == [["2"]]
        })
        server.stop()
        let rows = try SQLiteDatabase(path: db).rows("SELECT txid, extras FROM conversions ORDER BY txid")
        #expect(rows.first?[0] == "L-1" && rows.last == ["T-9", "offer_id=11&adv_sub2=a%20b&aff_id=3"], "\(rows)")
        let cut = rows.first?[1] ?? ""
        #expect(cut.utf8.count <= 512 && cut.hasPrefix("p0=xxxxxxxxxx&p1=") && cut.hasSuffix("&trackstar_truncated=1"), "\(cut)")
        #expect(!cut.contains("click_id") && !cut.contains("txid"), "\(cut)")
        let shown = try LiveServer.run(["conversion", server.dataPath, "\(conversionID)"])
        #expect(shown.status == 0 && shown.stdout.contains("extras: offer_id=11&adv_sub2=a%20b&aff_id=3\n"), "\(shown)")
        #expect(shown.stdout.contains("txid: T-9\n") && shown.stdout.contains("status: approved\n"), "\(shown.stdout)")
    }

    /// A JSON body's members that the profile does not map are kept like unmapped query parameters:
    /// `name=value` pairs in member order, escapes decoded and then percent-encoded, a number as its
    /// literal, null as an empty value; the mapped ones (and the query's click ID) are not repeated.
    @Test func unmappedJSONMembersAreKeptAsExtras() throws {
        let server = try LiveServer(config: SenderProfileTests.config)
        let c = try server.connect()
        let id = try #require(clickID(try c.get("/click?offer_id=10&aff_id=7")))  // the default profile
        let body = #"{"txid":"J-1","utm_source":"mail","note":"a b\u00e9&c=d","amount":"3.50","n":12.5,"gone":null,"cl\u0069ck":"x"}"#
        let r = try c.request("POST /postback?click_id=\(id)&src=q HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
        #expect(r.status == 200, "\(r.body)")
        let conversionID = try #require(r.json["conversion_id"] as? Int)
        let expected = "src=q&utm_source=mail&note=a%20b%C3%A9%26c%3Dd&n=12.5&gone=&click=x"
        let db = server.dataPath + "/report.sqlite"
        #expect(eventually(within: 60, every: 0.05) {
            (try? SQLiteDatabase(path: db).rows("SELECT txid, amount_micros, extras FROM conversions")) == [["J-1", "3500000", expected]]
        })
        server.stop()
        let shown = try LiveServer.run(["conversion", server.dataPath, "\(conversionID)"])
        #expect(shown.status == 0 && shown.stdout.contains("extras: \(expected)\n"), "\(shown)")
    }

    @Test func refusedPostbacksReplayOnceAfterTheProfileIsFixed() throws {
        func config(_ words: String) -> String {
            """
            [server]
            listen = "127.0.0.1:0"

            [[postback_profiles]]
            name = "network"
            extends = "keitaro"
            \(words)

            [[affiliates]]
            id = 7

            [[offers]]
            id = 1
            url = "https://shop.example/?cid={click_id}"
            postback_profile = "network"
            payout = 2

            [[offers]]
            id = 2
            url = "https://multi.example/?cid={click_id}"
            postback_profile = "network"
            multiple_conversions = true
            """
        }
        let first = try LiveServer(config: config(""))
        first.ownsDataDir = false
        let c = try first.connect()
        let single = try #require(clickID(try c.get("/click?offer_id=1&aff_id=7")))
        let multi = try #require(clickID(try c.get("/click?offer_id=2&aff_id=7")))
        #expect(try c.get("/postback?subid=\(single)&status=deposit&tid=D-1").status == 422)
        #expect(try c.get("/postback?subid=\(multi)&status=deposit&payout=9").status == 422)
        first.stop()
        // The profile learns the word; the refusals are replayed, twice.
        let fixed = try LiveServer(config: config("approved = [\"deposit\"]"), dataDir: first.dataDir)
        defer { try? FileManager.default.removeItem(atPath: first.dataDir) }
        let arguments = ["replay", "--config", fixed.configPath, "--data-dir", fixed.dataPath, "--reason", "unknown_status",
                         "--url", "http://127.0.0.1:\(fixed.port)"]
        let once = try LiveServer.run(arguments)
        #expect(once.status == 0 && once.stdout.contains("replayed 2 refused postbacks (unknown_status): recorded 2"), "\(once)")
        let twice = try LiveServer.run(arguments)
        #expect(twice.status == 0 && twice.stdout.contains("replayed 2 refused postbacks (unknown_status): duplicate 2"), "\(twice)")
        let none = try LiveServer.run(arguments + ["--from", "2999-01-01"])
        #expect(none.status == 0 && none.stdout.contains("replayed 0 refused postbacks"), "\(none)")
        let metrics = try fixed.admin().get("/metrics").body
        #expect(metrics.contains("trackstar_postbacks_total{result=\"recorded\",reason=\"\"} 2\n"), "\(metrics)")
    }

    @Test func jsonBodiesAreReadThroughTheProfile() throws {
        let server = try LiveServer(config: SenderProfileTests.config)
        let c = try server.connect()
        let id = try #require(clickID(try c.get("/click?offer_id=14&aff_id=7")))  // keitaro
        let body = #"{"subid":"\#(id)","status":"Lead","payout":"10,5","tid":"J-1","sub_id_1":"x"}"#
        let r = try c.request("POST /postback HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                              + "Content-Length: \(body.utf8.count)\r\n\r\n" + body)
        #expect(r.status == 200 && r.json["status"] as? String == "pending" && r.json["revenue"] as? Double == 10.5, "\(r.body)")
        let twice = #"{"subid":"\#(id)","tid":"J-1","tid":"J-2"}"#
        let t = try c.request("POST /postback HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                              + "Content-Length: \(twice.utf8.count)\r\n\r\n" + twice)
        #expect(t.status == 400 && t.json["reason"] as? String == "malformed_body", "\(t.body)")
    }
}

