// A shopper never sees a JSON error for a value: over-long values are recorded cut (at a whole
// UTF-8 character), repeats keep the first value, an unusable affiliate goes to the offer's
// fallback; each is counted per offer, affiliate and reason in /metrics and shown in `report`.
import Foundation
import Testing
import TrackstarTestSupport

@Suite("shopper click handling", .serialized)
struct ClickHandlingTests {
    static let config = LiveServer.defaultConfig + """


    [[offers]]
    id = 8
    url = "https://shop8.example/?cid={click_id}&s1={sub1}&ac={aff_click_id}"
    fallback_url = "https://fallback8.example/?o={offer_id}"

    [export]
    batch_rows = 25
    batch_age = "20ms"
    """

    /// The lines of /metrics, after checking that the whole text is valid exposition format.
    func metricLines(_ server: LiveServer) throws -> Set<String> {
        let body = try server.admin().get("/metrics").body
        _ = try PrometheusExposition.parse(body)
        return Set(body.split(separator: "\n").map(String.init))
    }

    @Test func shoppersGetRedirectsAndIssuesAreCountedAndReported() throws {
        let server = try LiveServer(config: ClickHandlingTests.config, loops: 1)
        let c = try server.connect()

        // A 257-byte aff_click_id: recorded, cut at 256 bytes.
        let cut = try c.get("/click?offer_id=8&aff_id=7&aff_click_id=\(String(repeating: "k", count: 257))")
        #expect(cut.status == 302, "\(cut.status) \(cut.body)")
        #expect(cut.header("Location")?.hasSuffix("&ac=\(String(repeating: "k", count: 256))") == true, "\(cut.header("Location") ?? "")")
        #expect(clickID(cut) != nil)

        // A long sub1 of two-byte characters: cut at 256 bytes = 128 whole "é", never half of one.
        let accents = try c.get("/click?offer_id=8&aff_id=7&sub1=x\(String(repeating: "%C3%A9", count: 200))")
        #expect(accents.status == 302)
        let location = accents.header("Location") ?? ""
        #expect(location.contains("&s1=x\(String(repeating: "%C3%A9", count: 127))&"), "\(location)")

        // sub1=a&sub1=b: the first value.
        let repeated = try c.get("/click?offer_id=8&aff_id=7&sub1=a&sub1=b")
        #expect(repeated.status == 302 && repeated.header("Location")?.contains("&s1=a&") == true)

        // Unknown or malformed affiliate on an offer with a fallback: the fallback, no click minted.
        for query in ["aff_id=99", "aff_id=x7", ""] {
            let r = try c.get("/click?offer_id=8&\(query)")
            #expect(r.status == 302 && r.header("Location") == "https://fallback8.example/?o=8", "\(query): \(r.status) \(r.body)")
        }

        // Unknown offer: nowhere to send the shopper; refused (counted and reported too).
        #expect(try c.get("/click?offer_id=99&aff_id=7").status == 404)

        let lines = try metricLines(server)
        for expected in [
            "trackstar_click_issues_total{offer=\"8\",affiliate=\"7\",reason=\"click_value_cut\"} 2",
            "trackstar_click_issues_total{offer=\"8\",affiliate=\"7\",reason=\"click_repeated_parameter\"} 1",
            "trackstar_click_issues_total{offer=\"8\",affiliate=\"99\",reason=\"click_unknown_affiliate\"} 1",
            "trackstar_click_issues_total{offer=\"8\",affiliate=\"0\",reason=\"click_malformed_parameter\"} 1",
            "trackstar_click_issues_total{offer=\"8\",affiliate=\"0\",reason=\"click_missing_parameter\"} 1",
            "trackstar_click_issues_total{offer=\"99\",affiliate=\"0\",reason=\"click_unknown_offer\"} 1",
            "trackstar_clicks_total{outcome=\"recorded\"} 3",
            "trackstar_clicks_total{outcome=\"fallback\"} 3",
        ] {
            #expect(lines.contains(expected), "missing \(expected)")
        }
        #expect(!lines.contains { $0.contains("postbacks_total") && $0.contains("click_") })

        // The report's refusal section shows them, by offer and affiliate.
        let out = try reportUntil(server, ["--group-by", "offer,affiliate"]) {
            $0.refusals["click_unknown_offer"] == 1 && $0.refusals["click_value_cut"] == 2
        }
        #expect(out.refusals == ["click_value_cut": 2, "click_repeated_parameter": 1, "click_unknown_affiliate": 1,
                                 "click_malformed_parameter": 1, "click_missing_parameter": 1, "click_unknown_offer": 1],
                "\(out.refusals)")
        #expect(out.totals["clicks"] as? Int == 3)
    }
}
