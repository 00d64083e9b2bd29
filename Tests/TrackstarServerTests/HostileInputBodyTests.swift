// Hostile input, postback bodies (issue 17): application/json bodies land in the same fields as query
// and form parameters (same names, repeats and idempotency); malformed JSON is refused 400 naming the
// problem and the byte; any other media type on a body is 415. Live, against the real binary.
import Foundation
import Testing
import TrackstarTestSupport

/// A JSON body the server must refuse: the reason, and what the message must contain.
struct BodyCase: CustomTestStringConvertible, Sendable {
    let name: String
    let body: String
    var reason = "malformed_body"
    let message: String
    var testDescription: String { name }
}

@Suite("hostile input: bodies", .serialized)
struct HostileInputBodyTests {
    @Test func jsonBodyIsRecordedLikeAQuery() throws {
        let server = try LiveServer()
        let id = try HostileInputHTTPTests.click(server)
        let body = #"{"click_id": "\#(id)", "goal": "upsell", "amount": 12.50, "currency": "eur", "order_id": "j\u002d1","#
            + #" "status": "pending", "utm_source": {"ignored": false}}"#
        // A nested value under an unknown name is still refused: the body must be a flat object.
        let nested = try HostileInputHTTPTests.post(server, type: "application/json", body)
        #expect(nested.status == 400 && nested.json["reason"] as? String == "malformed_body", "\(nested.body)")

        let flat = body.replacingOccurrences(of: #"{"ignored": false}"#, with: #""newsletter""#)
        let r = try HostileInputHTTPTests.post(server, type: "application/json; charset=utf-8", flat)
        #expect(r.status == 200, "\(r.body)")
        #expect(r.json["click_id"] as? String == id)
        #expect(r.json["event"] as? String == "upsell")
        #expect(r.json["status"] as? String == "pending")
        #expect(r.json["amount"] as? Double == 12.5)
        #expect(r.json["amount_currency"] as? String == "EUR")
        let conversion = try #require(r.json["conversion_id"] as? Int)
        // The escaped order id decoded to "j-1": the same postback as a query is a repeat of it.
        let again = try server.connect().get("/postback?click_id=\(id)&goal=upsell&order_id=j-1")
        #expect(again.json["duplicate"] as? Bool == true, "\(again.body)")
        #expect(again.json["conversion_id"] as? Int == conversion)
    }

    @Test func jsonAndQueryFieldsMeetInOneStore() throws {
        let server = try LiveServer()
        let id = try HostileInputHTTPTests.click(server)
        // The click ID in the query, the rest in the body.
        let r = try HostileInputHTTPTests.post(server, query: "click_id=\(id)", type: "application/json", #"{"txid":"q-1","amount":"3"}"#)
        #expect(r.status == 200, "\(r.body)")
        #expect(r.json["amount"] as? Double == 3)
        // Query and body disagreeing on a field: refused naming it, as query and form are.
        let other = try HostileInputHTTPTests.click(server)
        let conflict = try HostileInputHTTPTests.post(server, query: "click_id=\(other)&txid=a", type: "application/json", #"{"txid":"b"}"#)
        #expect(conflict.status == 400)
        #expect(conflict.json["reason"] as? String == "conflicting_parameter")
        #expect((conflict.json["message"] as? String ?? "").hasPrefix("txid:"))
        // Agreeing is fine (the same rule as a repeated query parameter).
        let same = try HostileInputHTTPTests.post(server, query: "click_id=\(other)", type: "application/json",
                                                  #"{"click_id":"\#(other)","cid":"\#(other)","amount":null}"#)
        #expect(same.status == 200, "\(same.body)")
        #expect(same.json["amount"] == nil)
    }

    static let malformed: [BodyCase] = [
        BodyCase(name: "not an object", body: #"["click_id","x"]"#, message: "expected an object (at byte 0 of the body)"),
        BodyCase(name: "a bare string", body: #""click_id=x""#, message: "expected an object"),
        BodyCase(name: "nested object", body: #"{"click_id":"x","meta":{"a":1}}"#, message: "nested objects and arrays are not accepted"),
        BodyCase(name: "array value", body: #"{"amount":[1,2]}"#, message: "strings and numbers (at byte 10 of the body)"),
        BodyCase(name: "boolean", body: #"{"click_id":"x","test":true}"#, message: "expected a string, a number or null"),
        BodyCase(name: "duplicate known name", body: #"{"click_id":"x","click_id":"x"}"#,
                 message: "click_id: JSON body: the same member name appears twice (at byte 16 of the body)"),
        BodyCase(name: "duplicate unknown name, escaped", body: #"{"foo":1,"f\u006fo":2}"#, message: "the same member name appears twice"),
        BodyCase(name: "trailing comma", body: #"{"click_id":"x",}"#, message: "expected a member name in double quotes"),
        BodyCase(name: "single quotes", body: "{'click_id':'x'}", message: "expected a member name in double quotes"),
        BodyCase(name: "missing colon", body: #"{"click_id" "x"}"#, message: "expected ':' after the member name"),
        BodyCase(name: "missing comma", body: #"{"a":"x" "b":"y"}"#, message: "expected ',' or '}' after a value"),
        BodyCase(name: "unterminated", body: #"{"click_id":"x"#, message: "unterminated string"),
        BodyCase(name: "truncated", body: #"{"click_id":"x""#, message: "expected ',' or '}' after a value"),
        BodyCase(name: "bad escape", body: #"{"click_id":"\x41"}"#, message: "invalid escape in a string"),
        BodyCase(name: "lone surrogate", body: #"{"click_id":"\ud800x"}"#, message: "invalid escape in a string"),
        BodyCase(name: "raw control byte", body: "{\"click_id\":\"a\u{1}b\"}", message: "unescaped control character"),
        BodyCase(name: "leading zero", body: #"{"amount":012}"#, message: "invalid number"),
        BodyCase(name: "number with junk", body: #"{"amount":12abc}"#, message: "invalid number"),
        BodyCase(name: "text after the object", body: #"{"click_id":"x"} {"#, message: "text after the object"),
        BodyCase(name: "two objects", body: #"{}{}"#, message: "text after the object"),
    ]

    @Test(arguments: HostileInputBodyTests.malformed)
    func malformedJSONIsRefusedNamingTheProblem(_ test: BodyCase) throws {
        let server = try LiveServer(config: hostileConfig)
        let c = try server.connect()
        c.setReceiveTimeout(seconds: 10)
        let r = try c.request("POST /postback HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                              + "Content-Length: \(test.body.utf8.count)\r\n\r\n\(test.body)")
        #expect(r.status == 400)
        #expect(r.json["reason"] as? String == test.reason)
        let message = r.json["message"] as? String ?? ""
        #expect(message.contains(test.message), "\(message)")
        // The refusal costs only its request.
        #expect(try c.get("/healthz").status == 200)
        server.expectStillServing()
    }

    @Test func tooManyMembersIsRefused() throws {
        let server = try LiveServer()
        let members = (0...512).map { #""k\#($0)":\#($0)"# }.joined(separator: ",")
        let r = try HostileInputHTTPTests.post(server, type: "application/json", "{\(members)}")
        #expect(r.status == 400)
        #expect((r.json["message"] as? String ?? "").contains("more than 512 members"), "\(r.body)")
        let fits = (0..<512).map { #""k\#($0)":\#($0)"# }.joined(separator: ",")
        let ok = try HostileInputHTTPTests.post(server, type: "application/json", "{\(fits)}")
        #expect(ok.json["reason"] as? String == "missing_parameter", "\(ok.body)")
    }

    @Test func otherMediaTypesAre415() throws {
        let server = try LiveServer()
        let id = try HostileInputHTTPTests.click(server)
        for type in ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/jsonx", nil] as [String?] {
            let r = try HostileInputHTTPTests.post(server, query: "click_id=\(id)", type: type, "click_id=\(id)")
            #expect(r.status == 415, "\(type ?? "no Content-Type")")
            #expect(r.json["reason"] as? String == "unsupported_media_type")
            #expect((r.json["message"] as? String ?? "").contains("application/json"))
        }
        // Nothing was recorded by them; an empty POST body needs no type, and the media type's case does not matter.
        let empty = try HostileInputHTTPTests.post(server, query: "click_id=\(id)&txid=t-1", type: nil, "")
        #expect(empty.status == 200 && empty.json["duplicate"] == nil, "\(empty.body)")
        let form = try HostileInputHTTPTests.post(server, query: "click_id=\(id)", type: "Application/X-WWW-Form-URLEncoded", "txid=t-1")
        #expect(form.json["duplicate"] as? Bool == true, "\(form.body)")
    }
}
