// Live tests of money and attribution (issue 20, items 4–8): events keep their identity across
// configuration changes, currencies are never relabelled, repeats win over later checks, refusals
// name their real cause, and order ids are trimmed before they become keys.
import Foundation
import Testing
import TrackstarExport
import TrackstarTestSupport

@Suite("money and attribution", .serialized)
struct MoneyAttributionTests {
    static let offers = """
    [[offers]]
    id = 11
    url = "https://shop.example/?cid={click_id}"
    currency = "EUR"
    payout = 2.50
    revenue = 4.00
      [offers.events.upsell]
      payout = 1.00
      revenue = 2.00

    [[offers]]
    id = 12
    url = "https://gone-soon.example/?cid={click_id}"
    payout = 3

    [[affiliates]]
    id = 7
    """

    static func click(_ server: LiveServer, offer: Int) throws -> String {
        let r = try server.connect().get("/click?offer_id=\(offer)&aff_id=7")
        #expect(r.status == 302)
        let location = try #require(r.header("Location"))
        return try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "cid" }?.value)
    }

    static func postback(_ server: LiveServer, _ query: String) throws -> TestResponse {
        try server.connect().get("/postback?\(query)")
    }

    /// Rewrites the config and sends SIGHUP.
    static func reload(_ server: LiveServer, _ config: String) throws {
        try config.write(toFile: server.configPath, atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
    }

    // MARK: 4. Events keep their identity

    @Test func anEventInsertedAboveAnotherChangesNoStoredConversion() throws {
        let server = try LiveServer(config: Self.offers)
        let id = try Self.click(server, offer: 11)
        let main = try Self.postback(server, "click_id=\(id)&txid=m1")
        let upsell = try Self.postback(server, "click_id=\(id)&event=upsell&txid=u1")
        #expect(main.status == 200 && upsell.status == 200)
        let upsellID = try #require(upsell.json["conversion_id"] as? Int)

        let reordered = Self.offers.replacingOccurrences(of: "  [offers.events.upsell]", with: """
              [offers.events.lead]
              payout = 0.10
              [offers.events.upsell]
            """)
        try Self.reload(server, reordered)
        let probe = try Self.click(server, offer: 11)
        #expect(try eventually(within: 10) { try Self.postback(server, "click_id=\(probe)&event=lead").status == 200 })

        // The exact retry of the upsell is the same conversion, still called upsell.
        let retry = try Self.postback(server, "click_id=\(id)&event=upsell&txid=u1")
        #expect(retry.status == 200)
        #expect(retry.json["duplicate"] as? Bool == true)
        #expect(retry.json["conversion_id"] as? Int == upsellID)
        #expect(retry.json["event"] as? String == "upsell")
        // The same upsell with a new order id is not paid again.
        let again = try Self.postback(server, "click_id=\(id)&event=upsell&txid=u2")
        #expect(again.status == 409)
        #expect(again.json["reason"] as? String == "duplicate_event")
        // The new event was never converted on this click.
        let lead = try Self.postback(server, "click_id=\(id)&event=lead&txid=l1")
        #expect(lead.status == 200)
        #expect(lead.json["event"] as? String == "lead")
        #expect(lead.json["payout"] as? Double == 0.1)
        #expect(lead.json["duplicate"] == nil)

        let registry = (try? String(contentsOfFile: server.dataPath + "/events", encoding: .utf8)) ?? ""
        #expect(registry.contains("11 0 conversion\n11 1 upsell\n11 2 lead\n"), "\(registry)")
    }

    // MARK: 5. Currencies

    @Test func theSendersCurrencyLabelsTheAmountNotThePayout() throws {
        let server = try LiveServer(config: Self.offers)
        let id = try Self.click(server, offer: 11)
        let r = try Self.postback(server, "click_id=\(id)&amount=1000&currency=jpy")
        #expect(r.status == 200)
        #expect(r.json["payout"] as? Double == 2.5)
        #expect(r.json["currency"] as? String == "EUR")
        #expect(r.json["amount"] as? Double == 1000)
        #expect(r.json["amount_currency"] as? String == "JPY")
        let repeated = try Self.postback(server, "click_id=\(id)&amount=1000&currency=JPY")
        #expect(repeated.json["duplicate"] as? Bool == true && repeated.json["currency"] as? String == "EUR")

        let other = try Self.click(server, offer: 11)
        for code in ["XYZ", "ABC", "EURO", "E1R"] {
            let refused = try Self.postback(server, "click_id=\(other)&amount=5&currency=\(code)")
            #expect(refused.status == 400, "\(code)")
            #expect(refused.json["reason"] as? String == "malformed_parameter")
            #expect((refused.json["message"] as? String)?.hasPrefix("currency: ") == true, "\(refused.json)")
        }
        // Without an amount the answer carries none.
        let plain = try Self.postback(server, "click_id=\(other)")
        #expect(plain.json["currency"] as? String == "EUR" && plain.json["amount"] == nil)
    }

    @Test func reportsSumEachCurrencyApart() throws {
        let server = try LiveServer(config: Self.offers)
        #expect(try Self.postback(server, "click_id=\(try Self.click(server, offer: 11))&amount=10&currency=JPY").status == 200)
        #expect(try Self.postback(server, "click_id=\(try Self.click(server, offer: 11))").status == 200)
        #expect(try Self.postback(server, "click_id=\(try Self.click(server, offer: 12))&currency=EUR").status == 200)
        let out = try reportUntil(server) { ($0.totals["conversions"] as? Int) == 3 }
        #expect((out.totals["conversions"] as? Int) == 3, "\(out.summary)")
        // Two currencies: no single sum, one entry each.
        #expect(out.totals["payout"] is NSNull, "\(out.summary)")
        let money = try #require(out.totals["currencies"] as? [[String: Any]], "\(out.summary)")
        #expect(money.count == 2)
        let eur = try #require(money.first { $0["currency"] as? String == "EUR" })
        let usd = try #require(money.first { $0["currency"] as? String == "USD" })
        #expect(eur["payout"] as? Double == 5 && eur["revenue"] as? Double == 8 && eur["conversions"] as? Int == 2)
        #expect(usd["payout"] as? Double == 3 && usd["conversions"] as? Int == 1)
        // By offer, each row has one currency and keeps its plain sums.
        let byOffer = try report(server, ["--group-by", "offer"])
        let offer11 = try #require(byOffer.rows.first { $0["offer"] as? Int == 11 })
        #expect(offer11["payout"] as? Double == 5 && offer11["currency"] as? String == "EUR", "\(byOffer.summary)")
        let table = try LiveServer.run(["report", "--config", server.configPath, "--data-dir", server.dataPath])
        #expect(table.stdout.contains("EUR") && table.stdout.contains("USD"), "\(table.stdout)")

        let db = try SQLiteDatabase(path: server.dataPath + "/report.sqlite")
        let rows = try db.rows("SELECT currency, amount_currency FROM conversions WHERE amount_micros IS NOT NULL")
        #expect(rows.count == 1 && rows[0][0] == "EUR" && rows[0][1] == "JPY", "\(rows)")
    }

    @Test func partnerPostbacksSayTheOffersCurrency() throws {
        let receiver = try PartnerReceiver()
        let config = Self.offers.replacingOccurrences(of: "[[affiliates]]\nid = 7", with: """
            [export]
            sink = "none"

            [[affiliates]]
            id = 7
            postback_url = "\(receiver.endpoint)/pb?p={payout}&cur={currency}&amt={amount}"
            """)
        let server = try LiveServer(config: config)
        let id = try Self.click(server, offer: 11)
        #expect(try Self.postback(server, "click_id=\(id)&amount=19.99&currency=USD").status == 200)
        #expect(eventually(within: 20) { receiver.requests.count >= 1 })
        let path = try #require(receiver.requests.first?.path)
        #expect(path == "/pb?p=2.50&cur=EUR&amt=19.99", "\(path)")
    }

    // MARK: 6. Repeats win over later checks

    @Test func aRepeatIsADuplicateAfterExpiryAndAfterItsOfferIsRemoved() throws {
        let server = try LiveServer(config: Self.offers)
        let kept = try Self.click(server, offer: 11), bare = try Self.click(server, offer: 11), removed = try Self.click(server, offer: 12)
        let first = try Self.postback(server, "click_id=\(kept)&txid=k1")
        let firstBare = try Self.postback(server, "click_id=\(bare)&event=upsell")
        let firstRemoved = try Self.postback(server, "click_id=\(removed)&txid=r1&amount=3")
        #expect(first.status == 200 && firstBare.status == 200 && firstRemoved.status == 200)

        let shorter = Self.offers
            .replacingOccurrences(of: "currency = \"EUR\"", with: "currency = \"EUR\"\nclick_lifetime = \"1s\"")
            .replacingOccurrences(of: "[[offers]]\nid = 12\nurl = \"https://gone-soon.example/?cid={click_id}\"\npayout = 3\n", with: "")
        try Self.reload(server, shorter)
        #expect(try eventually(within: 10) { try server.connect().get("/click?offer_id=12&aff_id=7").status == 404 })
        // Both clicks are past their (new) lifetime once an unknown event is refused as expired.
        #expect(try eventually(within: 10) {
            try Self.postback(server, "click_id=\(kept)&event=nope").status == 410
                && Self.postback(server, "click_id=\(bare)&event=nope").status == 410
        })

        let repeatKept = try Self.postback(server, "click_id=\(kept)&txid=k1")
        #expect(repeatKept.status == 200)
        #expect(repeatKept.json["duplicate"] as? Bool == true)
        #expect(repeatKept.json["conversion_id"] as? Int == first.json["conversion_id"] as? Int)
        let repeatBare = try Self.postback(server, "click_id=\(bare)&event=upsell")
        #expect(repeatBare.status == 200 && repeatBare.json["duplicate"] as? Bool == true)
        let repeatRemoved = try Self.postback(server, "click_id=\(removed)&txid=r1&amount=3")
        #expect(repeatRemoved.status == 200)
        #expect(repeatRemoved.json["duplicate"] as? Bool == true)
        #expect(repeatRemoved.json["event"] as? String == "conversion")
        #expect(repeatRemoved.json["payout"] as? Double == 3 && repeatRemoved.json["currency"] as? String == "USD")

        // Nothing new gets through the checks the repeats skipped.
        let late = try Self.postback(server, "click_id=\(kept)&txid=k2")
        #expect(late.status == 410 && late.json["reason"] as? String == "expired")
        let lateBare = try Self.postback(server, "click_id=\(bare)")
        #expect(lateBare.status == 410, "\(lateBare.json)")
        let gone = try Self.postback(server, "click_id=\(removed)&txid=r2")
        #expect(gone.status == 404 && gone.json["reason"] as? String == "unknown_offer")
    }

    // MARK: 7. Honest reasons

    @Test func anUpsellReusingTheMainOrderIDIsRefusedForItsOrderID() throws {
        let server = try LiveServer(config: Self.offers)
        let id = try Self.click(server, offer: 11)
        #expect(try Self.postback(server, "click_id=\(id)&txid=order-5").status == 200)
        let upsell = try Self.postback(server, "click_id=\(id)&event=upsell&txid=order-5")
        #expect(upsell.status == 409)
        #expect(upsell.json["reason"] as? String == "duplicate_txid")
        let message = try #require(upsell.json["message"] as? String)
        #expect(message.hasPrefix("txid: ") && message.contains("order id") && message.contains("another event"), "\(message)")
        // The upsell itself was never converted: with its own order id it is.
        #expect(try Self.postback(server, "click_id=\(id)&event=upsell&txid=order-6").status == 200)
    }

    // MARK: 8. Order ids

    @Test func orderIDsAreTrimmedBeforeTheyBecomeKeys() throws {
        let server = try LiveServer(config: Self.offers)
        let id = try Self.click(server, offer: 11)
        let first = try Self.postback(server, "click_id=\(id)&txid=Order-77")
        #expect(first.status == 200)
        let conversion = try #require(first.json["conversion_id"] as? Int)
        // Space, tab, CR LF, NBSP, zero-width space, ZWNJ, ZWJ, BOM, word joiner: all the same order.
        for spelled in ["Order-77%20", "Order-77%09", "%20Order-77%0D%0A", "Order-77%C2%A0", "%E2%80%8BOrder-77",
                        "Order-77%E2%80%8C", "%E2%80%8DOrder-77", "%EF%BB%BFOrder-77", "Order-77%E2%81%A0%20"] {
            let r = try Self.postback(server, "click_id=\(id)&txid=\(spelled)")
            #expect(r.status == 200, "\(spelled)")
            #expect(r.json["duplicate"] as? Bool == true, "\(spelled)")
            #expect(r.json["conversion_id"] as? Int == conversion, "\(spelled)")
        }
        // On another click it is the same order id, so a conflict.
        let other = try Self.click(server, offer: 11)
        let conflict = try Self.postback(server, "click_id=\(other)&txid=Order-77%E2%80%8B")
        #expect(conflict.status == 409 && conflict.json["reason"] as? String == "duplicate_txid")
        // Case is kept: order-77 is another order id (here refused only because the click converted).
        let lower = try Self.postback(server, "click_id=\(id)&txid=order-77")
        #expect(lower.status == 409 && lower.json["reason"] as? String == "duplicate_event")
        // Only white space is no order id at all.
        let blank = try Self.postback(server, "click_id=\(other)&txid=%20%E2%80%8B")
        #expect(blank.status == 200 && blank.json["duplicate"] == nil)

        // What is stored is the trimmed id.
        let spaced = try Self.click(server, offer: 11)
        #expect(try Self.postback(server, "click_id=\(spaced)&txid=%EF%BB%BF%20Order-78%09").status == 200)
        var stored: [[String?]] = []
        #expect(try eventually(within: 30) {
            let db = try SQLiteDatabase(path: server.dataPath + "/report.sqlite")
            stored = (try? db.rows("SELECT txid FROM conversions WHERE txid LIKE '%Order-78%'")) ?? []
            return !stored.isEmpty
        })
        #expect(stored.first?.first == "Order-78", "\(stored)")
    }
}
