// Live tests of /postback: every outcome and its status, idempotency, and exactly-once under races.
import Foundation
import Testing
import TrackstarTestSupport

@Suite("postback contract", .serialized)
struct PostbackContractTests {
    let server: LiveServer
    init() throws { server = try LiveServer() }

    /// Mints a click and returns its ID.
    func click(offer: Int = 1, affiliate: Int = 7) throws -> String {
        let r = try server.connect().get("/click?offer_id=\(offer)&aff_id=\(affiliate)&sub1=s")
        #expect(r.status == 302)
        let location = try #require(r.header("Location"))
        return try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "cid" }?.value)
    }

    func postback(_ query: String) throws -> TestResponse { try server.connect().get("/postback?\(query)") }

    @Test func approvedConversionThenIdempotentRepeatThenConflict() throws {
        let id = try click()
        let first = try postback("click_id=\(id)&txid=order-1&amount=19.99")
        #expect(first.status == 200)
        #expect(first.json["status"] as? String == "approved")
        #expect(first.json["click_id"] as? String == id)
        #expect(first.json["offer_id"] as? Int == 1)
        #expect(first.json["aff_id"] as? Int == 7)
        #expect(first.json["event"] as? String == "conversion")
        #expect(first.json["payout"] as? Double == 2.5)
        #expect(first.json["revenue"] as? Double == 4)
        #expect(first.json["duplicate"] == nil)
        let conversion = try #require(first.json["conversion_id"] as? Int)

        let repeatResponse = try postback("transaction_id=\(id)&order_id=order-1")
        #expect(repeatResponse.status == 200)
        #expect(repeatResponse.json["duplicate"] as? Bool == true)
        #expect(repeatResponse.json["conversion_id"] as? Int == conversion)

        let conflict = try postback("click_id=\(id)&txid=order-2")
        #expect(conflict.status == 409)
        #expect(conflict.json["reason"] as? String == "duplicate_event")

        let upsell = try postback("click_id=\(id)&goal=upsell")
        #expect(upsell.status == 200)
        #expect(upsell.json["event"] as? String == "upsell")
        #expect(upsell.json["payout"] as? Double == 1)
        #expect(upsell.json["conversion_id"] as? Int != conversion)
    }

    @Test func lowerCaseIDResolves() throws {
        let id = try click()
        let r = try postback("cid=\(id.lowercased())")
        #expect(r.status == 200)
    }

    @Test func orderIDUsedOnAnotherClickIsAConflict() throws {
        let a = try click(), b = try click()
        #expect(try postback("click_id=\(a)&txid=shared-order").status == 200)
        let r = try postback("click_id=\(b)&txid=shared-order")
        #expect(r.status == 409)
        #expect(r.json["reason"] as? String == "duplicate_txid")
    }

    @Test func formPostIsAccepted() throws {
        let id = try click()
        let body = "click_id=\(id)&event=conversion&status=pending&amount=5&currency=eur"
        let r = try server.connect().request(
            "POST /postback HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        #expect(r.status == 200)
        #expect(r.json["status"] as? String == "pending")
        // The sender's currency labels its amount; payout and revenue stay in the offer's (USD).
        #expect(r.json["currency"] as? String == "USD")
        #expect(r.json["amount_currency"] as? String == "EUR")
    }

    @Test func refusalsCarryReasonAndStatus() throws {
        let id = try click()
        var forged = Array(id)
        forged[20] = forged[20] == "A" ? "B" : "A"
        let cases: [(String, Int, String)] = [
            ("event=conversion", 400, "missing_parameter"),
            ("click_id=%7Bclick_id%7D", 400, "unreplaced_macro"),
            ("click_id={transaction_id}", 400, "unreplaced_macro"),
            ("click_id=not-an-id", 400, "malformed_id"),
            ("click_id=\(String(forged))", 404, "forged_id"),
            ("click_id=\(id)&event=refund", 422, "unknown_event"),
            ("click_id=\(id)&status=maybe", 422, "unknown_status"),  // issue 17: names the word and the profile
            ("click_id=\(id)&amount=1.2.3", 400, "malformed_parameter"),
            ("click_id=\(id)&currency=EURO", 400, "malformed_parameter"),
        ]
        for (query, status, reason) in cases {
            let r = try postback(query)
            #expect(r.status == status, "\(query)")
            #expect(r.json["reason"] as? String == reason, "\(query)")
        }
    }

    @Test func tokenAndIPRules() throws {
        let guarded = try click(offer: 3)
        let missing = try postback("click_id=\(guarded)")
        #expect(missing.status == 403)
        #expect(missing.json["reason"] as? String == "bad_token")
        #expect(try postback("click_id=\(guarded)&token=wrong").json["reason"] as? String == "bad_token")
        #expect(try postback("click_id=\(guarded)&security_token=adv-secret").status == 200)

        let elsewhere = try click(offer: 6)
        let r = try postback("click_id=\(elsewhere)")
        #expect(r.status == 403)
        #expect(r.json["reason"] as? String == "ip_not_allowed")
    }

    @Test func tooFastConversionIsRefused() throws {
        let r = try postback("click_id=\(try click(offer: 4))")
        #expect(r.status == 422)
        #expect(r.json["reason"] as? String == "too_fast")
    }

    @Test func multipleConversionsOfferRecordsEachButDedupesOrderIDs() throws {
        let id = try click(offer: 5)
        let a = try postback("click_id=\(id)"), b = try postback("click_id=\(id)")
        #expect(a.status == 200 && b.status == 200)
        #expect(a.json["conversion_id"] as? Int != b.json["conversion_id"] as? Int)
        let c = try postback("click_id=\(id)&txid=o1"), d = try postback("click_id=\(id)&txid=o1")
        #expect(d.json["duplicate"] as? Bool == true)
        #expect(c.json["conversion_id"] as? Int == d.json["conversion_id"] as? Int)
    }

    @Test func identicalPostbacksRacingOnManyConnectionsMakeOneConversion() throws {
        for round in 0..<5 {
            let id = try click()
            let connections = try (0..<16).map { _ in try server.connect() }
            let request = "GET /postback?click_id=\(id)&txid=race-\(round) HTTP/1.1\r\nHost: t\r\n\r\n"
            let results = RaceResults()
            runTogether(threads: connections.count) { i in  // every sender released at once by a barrier
                let c = connections[i]
                c.send(request)
                let r = try? c.read()
                results.append((r?.status ?? 0, r?.json["conversion_id"] as? Int ?? -1, r?.json["duplicate"] as? Bool ?? false))
            }
            let all = results.values
            #expect(all.count == connections.count)
            #expect(all.allSatisfy { $0.0 == 200 })
            #expect(Set(all.map(\.1)).count == 1)
            #expect(all.filter { !$0.2 }.count == 1)
        }
    }

    @Test func expiredClickIsGone() throws {
        let config = LiveServer.defaultConfig + """

        [[offers]]
        id = 9
        url = "https://short.example/?cid={click_id}"
        click_lifetime = "1s"
        """
        let shortLived = try LiveServer(config: config)
        let r = try shortLived.connect().get("/click?offer_id=9&aff_id=7")
        let id = URLComponents(string: r.header("Location")!)!.queryItems!.first { $0.name == "cid" }!.value!
        Thread.sleep(forTimeInterval: 2.2)  // the rule under test is about elapsed time itself
        let late = try shortLived.connect().get("/postback?click_id=\(id)")
        #expect(late.status == 410)
        #expect(late.json["reason"] as? String == "expired")
    }

    @Test func idFromAnotherServerIsForged() throws {
        let other = try LiveServer()
        let r = try other.connect().get("/click?offer_id=1&aff_id=7")
        let id = URLComponents(string: r.header("Location")!)!.queryItems!.first { $0.name == "cid" }!.value!
        #expect(try postback("click_id=\(id)").json["reason"] as? String == "forged_id")
    }
}

/// Results gathered from racing threads.
final class RaceResults: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(Int, Int, Bool)] = []
    func append(_ item: (Int, Int, Bool)) { lock.lock(); items.append(item); lock.unlock() }
    var values: [(Int, Int, Bool)] { lock.lock(); defer { lock.unlock() }; return items }
}
