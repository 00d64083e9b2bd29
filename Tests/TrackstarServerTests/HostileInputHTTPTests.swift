// Hostile input, HTTP edge cases (issue 17): HEAD on /postback, `Expect: 100-continue` (a client that
// waits and one that does not), Host required and checked, a 405's own `Allow` per route on both
// listeners, case-sensitive methods, empty required parameters, body media types (415) and JSON bodies.
// Live: the real `trackstar` binary on an ephemeral port; waits are on conditions with bounded deadlines.
import Foundation
import Testing
import TrackstarTestSupport

private let host = "Host: t\r\n"

/// A request answered with a 405: the methods `Allow` must list.
struct AllowCase: CustomTestStringConvertible, Sendable {
    let request: String
    let allow: String
    var admin = false
    var testDescription: String { (admin ? "admin " : "") + request }
}

@Suite("hostile input: HTTP edge cases", .serialized)
struct HostileInputHTTPTests {
    /// Mints a click on `server` and returns its ID.
    static func click(_ server: LiveServer, offer: Int = 1) throws -> String {
        let r = try server.connect().get("/click?offer_id=\(offer)&aff_id=7")
        #expect(r.status == 302)
        let location = try #require(r.header("Location"))
        return try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "cid" }?.value)
    }

    /// A POST /postback with `body` of media type `type` (no Content-Type header when nil).
    static func post(_ server: LiveServer, query: String = "", type: String?, _ body: String) throws -> TestResponse {
        let contentType = type.map { "Content-Type: \($0)\r\n" } ?? ""
        return try server.connect().request("POST /postback\(query.isEmpty ? "" : "?" + query) HTTP/1.1\r\n\(host)"
            + "\(contentType)Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
    }

    // MARK: HEAD on /postback

    /// HEAD is answered 405 and records nothing: the same postback sent with GET afterwards is the
    /// click's first conversion, not a repeat of one the HEAD recorded.
    @Test func headPostbackIsRefusedAndRecordsNothing() throws {
        let server = try LiveServer()
        let id = try HostileInputHTTPTests.click(server)
        let head = try server.connect().request("HEAD /postback?click_id=\(id)&txid=head-1 HTTP/1.1\r\n\(host)\r\n")
        #expect(head.status == 405)
        #expect(head.header("Allow") == "GET, POST")
        #expect(head.body.isEmpty)
        let get = try server.connect().get("/postback?click_id=\(id)&txid=head-1")
        #expect(get.status == 200, "\(get.body)")
        #expect(get.json["duplicate"] == nil, "the HEAD recorded a conversion: \(get.body)")
        let metrics = try server.admin().get("/metrics").body
        #expect(metrics.contains("trackstar_postbacks_total{result=\"recorded\",reason=\"\"} 1\n"), "\(metrics)")
        #expect(metrics.contains("trackstar_postbacks_total{result=\"duplicate\",reason=\"\"} 0\n"), "\(metrics)")
    }

    // MARK: Expect: 100-continue

    /// A client that sends the head and waits gets `100 Continue`, then the final answer to its body.
    @Test func clientThatWaitsFor100ContinueGetsItThenTheAnswer() throws {
        let server = try LiveServer()
        let id = try HostileInputHTTPTests.click(server)
        let body = "click_id=\(id)&txid=continue-1"
        let c = try server.connect()
        c.setReceiveTimeout(seconds: 20)
        c.send("POST /postback HTTP/1.1\r\n\(host)Expect: 100-continue\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               + "Content-Length: \(body.utf8.count)\r\n\r\n")
        let interim = try c.read()
        #expect(interim.status == 100 && interim.headers.isEmpty)
        c.send(body)
        let final = try c.read()
        #expect(final.status == 200, "\(final.body)")
        #expect(final.json["click_id"] as? String == id)
        // Exactly one 100 for the request: the connection carries on with a plain request.
        #expect(try c.get("/healthz").status == 200)
    }

    /// A client that sends the body without waiting gets only the final answer (no 100 once the body is in).
    @Test func clientThatSendsTheBodyAtOnceGetsOnlyTheAnswer() throws {
        let server = try LiveServer()
        let id = try HostileInputHTTPTests.click(server)
        let body = "click_id=\(id)&txid=continue-2"
        let c = try server.connect()
        c.setReceiveTimeout(seconds: 20)
        let r = try c.request("POST /postback HTTP/1.1\r\n\(host)Expect: 100-continue\r\n"
                              + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        #expect(r.status == 200, "\(r.body)")
        #expect(try c.get("/healthz").status == 200)
        #expect(c.pending.isEmpty, "bytes after the answers: \(String(decoding: c.pending, as: UTF8.self))")
    }

    /// HTTP/1.0 has no 100 (RFC 9110 §10.1.1): the server waits for the body without one.
    @Test func http10ExpectIsIgnored() throws {
        let server = try LiveServer()
        let c = try server.connect()
        c.setReceiveTimeout(seconds: 20)
        c.send("POST /postback HTTP/1.0\r\nExpect: 100-continue\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\n\r\n")
        c.send("a=b&c")
        let r = try c.read()
        #expect(r.status == 400 && r.json["reason"] as? String == "missing_parameter", "\(r.status) \(r.body)")
    }

    // MARK: Host

    @Test func http11WithoutHostIs400AndCloses() throws {
        let server = try LiveServer()
        let c = try server.connect()
        c.setReceiveTimeout(seconds: 10)
        c.send("GET /healthz HTTP/1.1\r\nUser-Agent: x\r\n\r\n")
        let r = try c.read()
        #expect(r.status == 400)
        #expect(r.json["reason"] as? String == "bad_request")
        #expect((r.json["message"] as? String ?? "").contains("Host"))
        #expect(r.header("Connection") == "close")
        #expect(c.readUntilClosed(seconds: 10).closed)
        // HTTP/1.0 needs no Host.
        let old = try server.connect().request("GET /healthz HTTP/1.0\r\n\r\n")
        #expect(old.status == 200)
        server.expectStillServing()
    }

    static let badHosts = ["a b", "a/b", "a@b", "a:b:c", "a:99999", "a:12x", "[::1", "[]", "a\"b", "exa%zzmple", "caf\u{E9}.example"]
    static let goodHosts = ["t", "", "example.com:8080", "127.0.0.1", "[::1]:443", "xn--caf-dma.example", "a_b-c~d", "host:"]

    @Test(arguments: HostileInputHTTPTests.badHosts)
    func invalidHostIs400(_ value: String) throws {
        let server = try LiveServer(config: hostileConfig)
        let c = try server.connect()
        c.setReceiveTimeout(seconds: 10)
        c.send("GET /healthz HTTP/1.1\r\nHost: \(value)\r\n\r\n")
        let r = try c.read()
        #expect(r.status == 400)
        #expect(r.json["message"] as? String == "invalid Host")
        #expect(c.readUntilClosed(seconds: 10).closed)
        server.expectStillServing()
    }

    @Test func validHostsAreAccepted() throws {
        let server = try LiveServer()
        let c = try server.connect()
        for value in HostileInputHTTPTests.goodHosts {
            let r = try c.request("GET /healthz HTTP/1.1\r\nHost: \(value)\r\n\r\n")
            #expect(r.status == 200, "Host: \(value)")
        }
    }

    // MARK: 405 with the resource's own Allow; methods are case-sensitive

    static let allowCases: [AllowCase] = [
        AllowCase(request: "POST /click?offer_id=1&aff_id=7", allow: "GET, HEAD"),
        AllowCase(request: "get /click?offer_id=1&aff_id=7", allow: "GET, HEAD"),
        AllowCase(request: "HEAD /postback?click_id=x", allow: "GET, POST"),
        AllowCase(request: "PUT /postback?click_id=x", allow: "GET, POST"),
        AllowCase(request: "post /postback?click_id=x", allow: "GET, POST"),
        AllowCase(request: "POST /healthz", allow: "GET, HEAD"),
        AllowCase(request: "get /healthz", allow: "GET, HEAD"),
        AllowCase(request: "DELETE /metrics", allow: "GET, HEAD", admin: true),  // /metrics is the admin listener's
        AllowCase(request: "OPTIONS /metrics", allow: "GET, HEAD", admin: true),
        AllowCase(request: "POST /healthz", allow: "GET, HEAD", admin: true),
        AllowCase(request: "get /healthz", allow: "GET, HEAD", admin: true),
        AllowCase(request: "PUT /metrics", allow: "GET, HEAD", admin: true),
        AllowCase(request: "POST /readyz", allow: "GET, HEAD", admin: true),
        AllowCase(request: "GET /deliveries/retry", allow: "POST", admin: true),
        AllowCase(request: "HEAD /deliveries/resume", allow: "POST", admin: true),
    ]

    @Test(arguments: HostileInputHTTPTests.allowCases)
    func methodNotAllowedCarriesTheResourcesOwnAllow(_ test: AllowCase) throws {
        let server = try LiveServer(config: LiveServer.defaultConfig + (test.admin ? "\n\n[admin]\nlisten = \"127.0.0.1:0\"\n" : ""))
        let c: TestConnection
        if test.admin {
            let range = try #require(server.startupOutput.range(of: #"admin listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression))
            c = try TestConnection(port: try #require(UInt16(server.startupOutput[range].split(separator: ":").last!)))
        } else {
            c = try server.connect()
        }
        c.setReceiveTimeout(seconds: 10)
        let r = try c.request("\(test.request) HTTP/1.1\r\n\(host)Content-Length: 0\r\n\r\n")
        #expect(r.status == 405, "\(r.status) \(r.body)")
        #expect(r.header("Allow") == test.allow)
        // The refusal costs nothing else: the same connection goes on.
        #expect(try c.get("/healthz").status == 200)
    }

    // MARK: Empty required parameters are missing, not malformed

    @Test func emptyRequiredParametersAreMissing() throws {
        let server = try LiveServer()
        let cases: [(String, String)] = [
            ("/postback?click_id=", "click_id"), ("/postback?click_id=&event=conversion", "click_id"),
            ("/postback?cid=&txid=1", "click_id"), ("/click?offer_id=&aff_id=7", "offer_id"), ("/click?offer_id=1&aff_id=", "aff_id"),
        ]
        for (target, field) in cases {
            let r = try server.connect().get(target)
            #expect(r.status == 400, "\(target)")
            #expect(r.json["reason"] as? String == "missing_parameter", "\(target): \(r.body)")
            #expect((r.json["message"] as? String ?? "").hasPrefix(field + ":"), "\(target): \(r.body)")
        }
        let json = try HostileInputHTTPTests.post(server, type: "application/json", #"{"click_id":"","event":"conversion"}"#)
        #expect(json.json["reason"] as? String == "missing_parameter" && (json.json["message"] as? String ?? "").hasPrefix("click_id:"))
        // An empty optional value is absent too: `amount=` records no amount rather than refusing.
        let id = try HostileInputHTTPTests.click(server)
        let r = try server.connect().get("/postback?click_id=\(id)&amount=&currency=&event=")
        #expect(r.status == 200, "\(r.body)")
        #expect(r.json["event"] as? String == "conversion")
    }
}
