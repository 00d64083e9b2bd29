// Tests for the parser's HTTP edge cases of issue 17: the Host value's syntax, Host required for
// HTTP/1.1 (`lacksRequiredHost`), the body's media type, and when a client waits for `100 Continue`.
import Testing
@testable import TrackstarHTTP

/// Parses `text`; returns the result and whether a `100 Continue` is wanted.
private func parse(_ text: String) -> (HTTPParseResult, Bool) {
    var wanted = false
    let result = Array(text.utf8).withUnsafeBytes { HTTPParser.parse($0, limits: HTTPLimits(), continueWanted: &wanted) }
    return (result, wanted)
}

private func head(_ text: String) -> HTTPRequestHead? {
    if case .complete(let head) = parse(text).0 { return head }
    return nil
}

@Suite("HTTP edge cases")
struct HTTPEdgeCaseTests {
    static let validHosts = ["", "t", "example.com", "example.com:8080", "EXAMPLE.com:", "127.0.0.1:1", "[::1]", "[::1]:443",
                             "[v1.fe80::a+en1]", "a_b-c~d!$&'()*+,;=", "ex%41mple", "a:65535", "a:00080",
                             "www.Example-Shop.com:443", "192.168.100.200:18080", "eight888", "eight888.nine9999"]
    static let invalidHosts = ["a b", "a/b", "a?b", "a#b", "a@b", "a:b:c", "a:65536", "a:123456", "a:1x", "[::1", "[]", "[::1]x",
                               "[::1]:x", "::1", "a\"b", "a<b", "a\\b", "ex%4", "ex%zz", "a{b}", "a|b", "a^b", "a`b",
                               "www.example.com/path", "user@www.example.com", "www.exam ple.com", "www.example\u{E9}.com",
                               "example.com:8080:1", "abcdefg@", "abcdefgh@", "ABCDEFGHIJKLMNOP[", "1234567/"]

    @Test(arguments: HTTPEdgeCaseTests.validHosts)
    func validHost(_ value: String) throws {
        let h = try #require(head("GET / HTTP/1.1\r\nHost: \(value)\r\n\r\n"), "Host: \(value)")
        #expect(h.hasHost && !h.lacksRequiredHost)
    }

    @Test(arguments: HTTPEdgeCaseTests.invalidHosts)
    func invalidHost(_ value: String) {
        #expect(parse("GET / HTTP/1.1\r\nHost: \(value)\r\n\r\n").0 == .failure(.badRequest("invalid Host")), "Host: \(value)")
    }

    @Test func hostIsRequiredForHTTP11Only() throws {
        #expect(try #require(head("GET / HTTP/1.1\r\n\r\n")).lacksRequiredHost)
        #expect(try #require(head("GET / HTTP/1.1\r\nHost:\r\n\r\n")).lacksRequiredHost == false)
        #expect(try #require(head("GET / HTTP/1.0\r\n\r\n")).lacksRequiredHost == false)
        #expect(parse("GET / HTTP/1.1\r\nHost: \u{E9}\r\n\r\n").0 == .failure(.badRequest("invalid Host")))
    }

    @Test func bodyTypes() throws {
        let cases: [(String?, HTTPBodyType)] = [
            (nil, .absent), ("application/json", .json), ("Application/JSON ; charset=utf-8", .json),
            ("application/x-www-form-urlencoded;charset=UTF-8", .form), ("text/plain", .other), ("application/jsonx", .other),
            ("application/vnd.api+json", .other), ("", .other), ("multipart/form-data; boundary=x", .other),
        ]
        for (type, expected) in cases {
            let header = type.map { "Content-Type: \($0)\r\n" } ?? ""
            let h = try #require(head("POST / HTTP/1.1\r\nHost: t\r\n\(header)\r\n"))
            #expect(h.bodyType == expected, "\(type ?? "none")")
            #expect(h.isFormBody == (expected == .form))
        }
    }

    @Test func continueIsWantedOnlyWhileTheBodyHasNotStarted() {
        let head = "POST /p HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
        #expect(parse(head) == (.incomplete, true))
        #expect(parse(head + "a") == (.incomplete, false))  // body bytes arrived: no 100 any more
        if case .complete = parse(head + "abc").0 {} else { Issue.record("complete request not parsed") }
        #expect(parse(head + "abc").1 == false)
        #expect(parse(String(head.dropLast(1))) == (.incomplete, false))  // head not complete yet
        #expect(parse(head.replacing("100-continue", with: "100-Continue")) == (.incomplete, true))
        // No expectation, HTTP/1.0, another expectation, or no body: never a 100.
        #expect(parse(head.replacing("Expect: 100-continue\r\n", with: "")) == (.incomplete, false))
        #expect(parse(head.replacing("HTTP/1.1", with: "HTTP/1.0")) == (.incomplete, false))
        #expect(parse(head.replacing("100-continue", with: "200-ok")) == (.incomplete, false))
        #expect(parse(head.replacing("Host: t\r\n", with: "")) == (.incomplete, false))  // refused once complete
        let noBody = head.replacing("Content-Length: 3", with: "Content-Length: 0")
        if case .complete = parse(noBody).0 {} else { Issue.record("a bodiless request waits") }
        // A bad request after the head is still refused, not invited.
        #expect(parse(head.replacing("Host: t", with: "Host: a b")).0 == .failure(.badRequest("invalid Host")))
    }
}

private func == (lhs: (HTTPParseResult, Bool), rhs: (HTTPParseResult, Bool)) -> Bool { lhs.0 == rhs.0 && lhs.1 == rhs.1 }
