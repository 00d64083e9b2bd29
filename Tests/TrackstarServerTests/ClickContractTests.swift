// Live tests of GET /click against the real binary over a socket.
import Foundation
import Testing

@Suite("click contract", .serialized)
struct ClickContractTests {
    let server: LiveServer
    init() throws { server = try LiveServer() }

    @Test func redirectsWithMacrosFilledAndEncoded() throws {
        let c = try server.connect()
        let r = try c.get("/click?offer_id=1&aff_id=7&sub1=a%20b%26c&sub2=caf%C3%A9&aff_click_id=xyz-1&source=fb&utm_x=ignored")
        #expect(r.status == 302)
        #expect(r.header("Cache-Control") == "no-store")
        #expect(r.header("Content-Length") == "0")
        let location = try #require(r.header("Location"))
        #expect(location.hasPrefix("https://shop.example/landing?cid="))
        let cid = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "cid" }?.value)
        #expect(cid.count == 26)
        #expect(location.contains("&a=7&o=1&s1=a%20b%26c&s2=caf%C3%A9&ac=xyz-1&src=fb&t="))
        let t = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "t" }?.value)
        #expect(abs(Int(t)! - Int(Date().timeIntervalSince1970)) < 600)
    }

    @Test func headerInjectionIsImpossible() throws {
        let c = try server.connect()
        let r = try c.get("/click?offer_id=1&aff_id=7&sub1=x%0D%0ASet-Cookie:%20evil=1&sub2=%2F%2Fevil.example")
        #expect(r.status == 302)
        #expect(r.header("Set-Cookie") == nil)
        let location = try #require(r.header("Location"))
        #expect(location.hasPrefix("https://shop.example/"))
        #expect(location.contains("s1=x%0D%0ASet-Cookie%3A%20evil%3D1"))
        #expect(location.contains("s2=%2F%2Fevil.example"))
    }

    @Test func tuneAliasesAreAccepted() throws {
        let r = try server.connect().get("/click?offer_id=1&aff_id=7&aff_sub=alias1&aff_sub2=alias2")
        #expect(r.status == 302)
        #expect(r.header("Location")!.contains("s1=alias1&s2=alias2"))
    }

    @Test(arguments: [
        ("/click?aff_id=7", 400, "missing_parameter", "offer_id"),
        ("/click?offer_id=1", 400, "missing_parameter", "aff_id"),
        ("/click?offer_id=abc&aff_id=7", 400, "malformed_parameter", "offer_id"),
        ("/click?offer_id=1&aff_id=-7", 400, "malformed_parameter", "aff_id"),
        ("/click?offer_id=99&aff_id=7", 404, "unknown_offer", "offer_id"),
        ("/click?offer_id=1&aff_id=99", 404, "unknown_affiliate", "aff_id"),
        ("/nowhere", 404, "not_found", ""),
    ])
    func refusals(target: String, status: Int, reason: String, field: String) throws {
        let r = try server.connect().get(target)
        #expect(r.status == status)
        #expect(r.header("Content-Type") == "application/json")
        #expect(r.json["reason"] as? String == reason)
        #expect((r.json["message"] as? String ?? "").hasPrefix(field))
    }

    @Test func overLongValueIsRecordedCutNeverRefused() throws {
        let long = String(repeating: "x", count: 300)
        let r = try server.connect().get("/click?offer_id=1&aff_id=7&sub1=\(long)")
        #expect(r.status == 302)
        #expect(r.header("Location")!.contains("&s1=\(String(repeating: "x", count: 256))&"))
    }

    @Test func pausedOfferGoesToFallbackWithoutAnID() throws {
        let r = try server.connect().get("/click?offer_id=2&aff_id=7")
        #expect(r.status == 302)
        #expect(r.header("Location") == "https://fallback.example/?o=2")
    }

    @Test func pausedAffiliateIsRefused() throws {
        let r = try server.connect().get("/click?offer_id=1&aff_id=8")
        #expect(r.status == 404)
        #expect(r.json["reason"] as? String == "affiliate_paused")
    }

    @Test func headAnswersWithoutMintingOrBody() throws {
        let c = try server.connect()
        let r = try c.request("HEAD /click?offer_id=1&aff_id=7 HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(r.status == 302)
        #expect(r.header("Location")!.hasPrefix("https://shop.example/landing?cid=&a=7"))
        // The connection is still in sync: a GET after the HEAD answers normally.
        #expect(try c.get("/healthz").status == 200)
    }

    @Test func postIsNotAllowedOnClick() throws {
        let r = try server.connect().request("POST /click?offer_id=1&aff_id=7 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        #expect(r.status == 405)
        #expect(r.header("Allow") != nil)
    }

    @Test func tenThousandClicksHaveDistinctIDs() throws {
        var ids = Set<String>()
        let connections = try (0..<4).map { _ in try server.connect() }
        for batch in 0..<400 {
            let c = connections[batch % connections.count]
            // 25 pipelined requests per write, answered in order.
            let requests = (0..<25).map { i in "GET /click?offer_id=1&aff_id=7&sub1=\(batch)-\(i) HTTP/1.1\r\nHost: t\r\n\r\n" }
            c.send(requests.joined())
            for i in 0..<25 {
                let r = try c.read()
                #expect(r.status == 302)
                let location = r.header("Location")!
                #expect(location.contains("s1=\(batch)-\(i)&"))
                ids.insert(URLComponents(string: location)!.queryItems!.first { $0.name == "cid" }!.value!)
            }
            // Other connections land on other loops; use a fresh connection now and then too.
            if batch % 40 == 0 {
                let r = try server.connect().get("/click?offer_id=1&aff_id=7")
                ids.insert(URLComponents(string: r.header("Location")!)!.queryItems!.first { $0.name == "cid" }!.value!)
            }
        }
        #expect(ids.count == 400 * 25 + 10)
    }

    @Test func connectionCloseIsHonoured() throws {
        let c = try server.connect()
        let r = try c.get("/healthz", headers: "Connection: close\r\n")
        #expect(r.status == 200)
        #expect(r.header("Connection") == "close")
        #expect(c.isClosedByServer())
    }

    @Test func malformedRequestCostsOnlyItsConnection() throws {
        let bad = try server.connect()
        bad.send("GARBAGE\u{1}\r\n\r\n")
        let r = try bad.read()
        #expect(r.status == 400)
        #expect(bad.isClosedByServer())
        #expect(try server.connect().get("/healthz").status == 200)
    }

    @Test func requestSplitIntoSingleBytesIsServed() throws {
        let c = try server.connect()
        for byte in Array("GET /click?offer_id=1&aff_id=7 HTTP/1.1\r\nHost: t\r\n\r\n".utf8) { c.send([byte]) }
        #expect(try c.read().status == 302)
    }
}
