// Tests for `HTTPParser`: well-formed click requests, pipelining, byte-by-byte arrival, keep-alive rules,
// and every rejection path with its status code.
import Testing
@testable import TrackstarHTTP

/// Parses `text` with `limits`.
private func parse(_ text: String, limits: HTTPLimits = HTTPLimits()) -> HTTPParseResult {
    parse(Array(text.utf8), limits: limits)
}

/// Parses raw `bytes` with `limits`.
private func parse(_ bytes: [UInt8], limits: HTTPLimits = HTTPLimits()) -> HTTPParseResult {
    bytes.withUnsafeBytes { HTTPParser.parse($0, limits: limits) }
}

/// The head of a complete parse, or nil.
private func head(_ result: HTTPParseResult) -> HTTPRequestHead? {
    if case .complete(let head) = result { return head }
    return nil
}

/// The error of a failed parse, or nil.
private func failure(_ result: HTTPParseResult) -> HTTPParseError? {
    if case .failure(let error) = result { return error }
    return nil
}

/// The text a range denotes inside `text`'s UTF-8 bytes.
private func slice(_ text: String, _ range: ByteRange) -> String {
    let bytes = Array(text.utf8)
    return String(decoding: bytes[range.range], as: UTF8.self)
}

/// The reason text of a static string.
private func text(_ reason: StaticString) -> String { reason.description }

private let click =
    "GET /c/abc123?offer_id=42&sub1=x%20y#frag HTTP/1.1\r\n"
    + "Host: track.example.com\r\n"
    + "User-Agent:   Mozilla/5.0 (X11)  \r\n"
    + "X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n"
    + "Forwarded: for=192.0.2.60\r\n"
    + "X-Real-IP: 198.51.100.9\r\n"
    + "Accept: */*\r\n"
    + "\r\n"

@Suite("HTTPParser")
struct HTTPParserTests {
    @Test func typicalClickRequest() throws {
        let h = try #require(head(parse(click)))
        #expect(h.method == .get)
        #expect(h.versionMinor == 1)
        #expect(slice(click, h.path) == "/c/abc123")
        #expect(slice(click, h.query) == "offer_id=42&sub1=x%20y")
        #expect(slice(click, h.host) == "track.example.com")
        #expect(slice(click, h.userAgent) == "Mozilla/5.0 (X11)")
        #expect(slice(click, h.xForwardedFor) == "203.0.113.7, 10.0.0.1")
        #expect(slice(click, h.forwarded) == "for=192.0.2.60")
        #expect(slice(click, h.xRealIP) == "198.51.100.9")
        #expect(h.keepAlive)
        #expect(h.contentLength == 0)
        #expect(!h.isFormBody && !h.expectContinue)
        #expect(h.headerLength == click.utf8.count)
        #expect(h.totalLength == click.utf8.count)
        #expect(h.body.isEmpty && h.body.start == Int32(h.headerLength))
    }

    @Test func minimalRequestAndAbsentFields() throws {
        let request = "HEAD / HTTP/1.0\r\n\r\n"
        let h = try #require(head(parse(request)))
        #expect(h.method == .head && h.versionMinor == 0)
        #expect(slice(request, h.path) == "/")
        #expect(h.query.isEmpty && h.host.isEmpty && h.userAgent.isEmpty && h.xForwardedFor.isEmpty)
        #expect(!h.keepAlive)
        #expect(h.headerLength == request.utf8.count)
    }

    @Test func methodsAreCaseSensitive() throws {
        #expect(head(parse("POST / HTTP/1.1\r\n\r\n"))?.method == .post)
        #expect(head(parse("get / HTTP/1.1\r\n\r\n"))?.method == .other)
        #expect(head(parse("DELETE / HTTP/1.1\r\n\r\n"))?.method == .other)
        #expect(head(parse("GETS / HTTP/1.1\r\n\r\n"))?.method == .other)
    }

    @Test func targetForms() throws {
        let absolute = "GET http://track.example.com/c/1?x=1 HTTP/1.1\r\n\r\n"
        let h = try #require(head(parse(absolute)))
        #expect(slice(absolute, h.path) == "/c/1")
        #expect(slice(absolute, h.query) == "x=1")
        let secure = "GET HTTPS://h:8443/p HTTP/1.1\r\n\r\n"
        #expect(head(parse(secure)).map { slice(secure, $0.path) } == "/p")
        let emptyQuery = "GET /p? HTTP/1.1\r\n\r\n"
        let e = try #require(head(parse(emptyQuery)))
        #expect(slice(emptyQuery, e.path) == "/p" && e.query.isEmpty)
        let hashFirst = "GET /p#a?b HTTP/1.1\r\n\r\n"
        let f = try #require(head(parse(hashFirst)))
        #expect(slice(hashFirst, f.path) == "/p" && f.query.isEmpty)
        for bad in ["GET * HTTP/1.1\r\n\r\n", "GET p HTTP/1.1\r\n\r\n", "GET http://host HTTP/1.1\r\n\r\n",
                    "GET http:///p HTTP/1.1\r\n\r\n", "GET ftp://h/p HTTP/1.1\r\n\r\n"] {
            #expect(failure(parse(bad)) == .badRequest("invalid request target"), "\(bad)")
        }
    }

    @Test func leadingEmptyLinesAreSkippedAndCounted() throws {
        let request = "\r\n\r\nGET /x HTTP/1.1\r\n\r\n"
        let h = try #require(head(parse(request)))
        #expect(slice(request, h.path) == "/x")
        #expect(h.headerLength == request.utf8.count)
        #expect(parse("\r\n") == .incomplete)
        #expect(parse("\r") == .incomplete)
        #expect(parse("") == .incomplete)
    }

    @Test func pipelinedRequests() throws {
        let first = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
        let second = "GET /b?q=2 HTTP/1.1\r\n\r\n"
        let third = "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n"
        let bytes = Array((first + second + third).utf8)
        var offset = 0
        var paths: [String] = []
        var keepAlive: [Bool] = []
        bytes.withUnsafeBytes { all in
            while offset < all.count {
                let rest = UnsafeRawBufferPointer(rebasing: all[offset...])
                guard case .complete(let h) = HTTPParser.parse(rest, limits: HTTPLimits()) else { break }
                paths.append(String(decoding: h.path.bytes(in: rest), as: UTF8.self))
                keepAlive.append(h.keepAlive)
                offset += h.totalLength
            }
        }
        #expect(paths == ["/a", "/b", "/c"])
        #expect(keepAlive == [true, true, false])
        #expect(offset == bytes.count)
    }

    @Test func everyPrefixIsIncomplete() throws {
        let request = "\r\nPOST /c/abc?offer_id=42 HTTP/1.1\r\nHost: t.example\r\nUser-Agent: UA\r\n"
            + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        let bytes = Array(request.utf8)
        for cut in 0..<bytes.count {
            let result = parse(Array(bytes[..<cut]))
            #expect(result == .incomplete, "prefix of \(cut) bytes")
        }
        let h = try #require(head(parse(bytes)))
        #expect(h.contentLength == 5 && h.totalLength == bytes.count)
        // Extra bytes after the request don't matter.
        #expect(head(parse(bytes + Array("GET".utf8))) == h)
    }

    @Test func postWithFormBody() throws {
        let body = "offer_id=42&click%5Fid=abc"
        let request = "POST /postback HTTP/1.1\r\nHost: t\r\n"
            + "Content-Type: Application/X-WWW-Form-Urlencoded ; charset=utf-8\r\n"
            + "Content-Length: \(body.utf8.count)\r\nExpect: 100-Continue\r\n\r\n" + body
        let h = try #require(head(parse(request)))
        #expect(h.method == .post && h.isFormBody && h.expectContinue)
        #expect(h.contentLength == body.utf8.count)
        #expect(h.body.start == Int32(h.headerLength))
        #expect(slice(request, h.body) == body)
        #expect(h.totalLength == request.utf8.count)
        // The head alone is not enough.
        let headOnly = String(request.dropLast(body.count))
        #expect(parse(headOnly) == .incomplete)
        // Other media types, and 100-continue on HTTP/1.0, are ignored.
        let json = "POST / HTTP/1.0\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n\r\n"
        let j = try #require(head(parse(json)))
        #expect(!j.isFormBody && !j.expectContinue)
    }

    @Test func keepAliveRules() throws {
        func keepAlive(_ version: String, _ connection: String?) -> Bool? {
            let header = connection.map { "Connection: \($0)\r\n" } ?? ""
            return head(parse("GET / HTTP/\(version)\r\n\(header)\r\n"))?.keepAlive
        }
        #expect(keepAlive("1.1", nil) == true)
        #expect(keepAlive("1.1", "close") == false)
        #expect(keepAlive("1.1", "Upgrade, CLOSE") == false)
        #expect(keepAlive("1.1", "keep-alive") == true)
        #expect(keepAlive("1.1", "closed") == true)
        #expect(keepAlive("1.0", nil) == false)
        #expect(keepAlive("1.0", "Keep-Alive") == true)
        #expect(keepAlive("1.0", " te ,keep-alive , foo") == true)
        #expect(keepAlive("1.0", "keep-alive, close") == false)
        #expect(keepAlive("1.0", "keep-alived") == false)
    }

    @Test func headerNamesAreCaseInsensitive() throws {
        let request = "GET / HTTP/1.1\r\nHOST: a\r\nuser-AGENT: b\r\nx-forwarded-FOR: c\r\ncontent-length: 0\r\n\r\n"
        let h = try #require(head(parse(request)))
        #expect(slice(request, h.host) == "a" && slice(request, h.userAgent) == "b")
        #expect(slice(request, h.xForwardedFor) == "c")
    }

    @Test func headerValues() throws {
        // Empty value, HTAB inside a value, obs-text, repeated X-Forwarded-For keeps the last one.
        let request = "GET / HTTP/1.1\r\nX-Empty:\r\nUser-Agent:\ta\tb \t\r\nX-Obs: caf\u{E9}\r\n"
            + "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n"
        let h = try #require(head(parse(request)))
        #expect(slice(request, h.userAgent) == "a\tb")
        #expect(slice(request, h.xForwardedFor) == "2.2.2.2")
        // Host without a value, and HTTP/1.1 without Host, are accepted.
        #expect(head(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n"))?.host.isEmpty == true)
        #expect(head(parse("GET / HTTP/1.1\r\n\r\n")) != nil)
    }

    @Test func contentLengthRules() throws {
        let repeated = "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"
        #expect(head(parse(repeated))?.contentLength == 2)
        let conflicting = "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"
        #expect(failure(parse(conflicting)) == .badRequest("conflicting Content-Length"))
        for value in ["", "-1", "+1", "1 2", "0x10", "1,1", "१"] {
            let request = "POST / HTTP/1.1\r\nContent-Length: \(value)\r\n\r\n"
            #expect(failure(parse(request))?.status == 400, "Content-Length: \(value)")
        }
        let overflow = "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"
        #expect(failure(parse(overflow)) == .badRequest("Content-Length overflow"))
        // 413 as soon as the header line is complete, even though the head is not.
        let huge = "POST / HTTP/1.1\r\nContent-Length: 65537\r\n"
        #expect(failure(parse(huge)) == .bodyTooLarge)
        #expect(failure(parse(huge))?.status == 413)
        let atLimit = "POST / HTTP/1.1\r\nContent-Length: 65536\r\n\r\n"
        #expect(parse(atLimit) == .incomplete)
    }

    @Test func transferEncodingRules() throws {
        let both = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc"
        #expect(failure(parse(both)) == .badRequest("Transfer-Encoding with Content-Length"))
        let bothReversed = "POST / HTTP/1.1\r\nContent-Length: 3\r\ntransfer-encoding: chunked\r\n\r\nabc"
        #expect(failure(parse(bothReversed))?.status == 400)
        let alone = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        #expect(failure(parse(alone)) == .unsupportedTransferEncoding)
        #expect(failure(parse(alone))?.status == 501)
    }

    @Test func bareLFIsRejected() {
        let cases = ["GET / HTTP/1.1\n\n", "GET / HTTP/1.1\r\nHost: a\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\n",
                     "\nGET / HTTP/1.1\r\n\r\n", "GET /\n HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHo\nst: a\r\n\r\n"]
        for request in cases {
            #expect(failure(parse(request)) == .badRequest("bare LF in request"), "\(request.debugDescription)")
        }
        #expect(failure(parse("GET / HTTP/1.1\rX\n\r\n"))?.status == 400)
        #expect(failure(parse("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"))?.status == 400)
    }

    @Test func controlBytesAreRejected() {
        for byte: UInt8 in [0x00, 0x01, 0x08, 0x0B, 0x1F, 0x7F] {
            let inTarget = Array("GET /a".utf8) + [byte] + Array("b HTTP/1.1\r\n\r\n".utf8)
            #expect(failure(parse(inTarget))?.status == 400, "target byte \(byte)")
            let inValue = Array("GET / HTTP/1.1\r\nX-A: a".utf8) + [byte] + Array("b\r\n\r\n".utf8)
            #expect(failure(parse(inValue)) == .badRequest("control character in header value"), "value byte \(byte)")
            let inName = Array("GET / HTTP/1.1\r\nX-".utf8) + [byte] + Array("A: b\r\n\r\n".utf8)
            #expect(failure(parse(inName)) == .badRequest("invalid header name"), "name byte \(byte)")
        }
        // Non-ASCII and spaces in the target are rejected too; double spaces break the request line.
        #expect(failure(parse(Array("GET /caf".utf8) + [0xC3, 0xA9] + Array(" HTTP/1.1\r\n\r\n".utf8)))?.status == 400)
        #expect(failure(parse("GET  / HTTP/1.1\r\n\r\n")) == .badRequest("invalid request line"))
        #expect(failure(parse("GET /  HTTP/1.1\r\n\r\n")) == .badRequest("invalid HTTP version"))
        #expect(failure(parse("GET / HTTP/1.1 \r\n\r\n"))?.status == 400)
        #expect(failure(parse(" GET / HTTP/1.1\r\n\r\n"))?.status == 400)
        #expect(failure(parse("GET /\r\n\r\n")) == .badRequest("missing HTTP version"))
    }

    @Test func headerSyntaxErrors() {
        #expect(failure(parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n")) == .badRequest("whitespace before colon"))
        #expect(failure(parse("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n")) == .badRequest("whitespace before colon"))
        #expect(failure(parse("GET / HTTP/1.1\r\n: a\r\n\r\n")) == .badRequest("empty header name"))
        #expect(failure(parse("GET / HTTP/1.1\r\nX(y): a\r\n\r\n")) == .badRequest("invalid header name"))
        #expect(failure(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n")) == .badRequest("invalid header name"))
        let fold = "GET / HTTP/1.1\r\nUser-Agent: a\r\n b\r\n\r\n"
        #expect(failure(parse(fold)) == .badRequest("obs-fold or whitespace before header name"))
        #expect(failure(parse("GET / HTTP/1.1\r\n\tX: a\r\n\r\n"))?.status == 400)
        #expect(failure(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")) == .badRequest("duplicate Host"))
    }

    @Test func errorsAreReportedBeforeTheHeadEnds() {
        // Each of these is missing its end, yet already fails.
        #expect(failure(parse("GET / HTTP/1.1\r\nHost : a")) == .badRequest("whitespace before colon"))
        #expect(failure(parse("GET / HTTP/1.1\r\nUser-Agent: a\r\n b")) != nil)
        #expect(failure(parse("GET /\u{1}")) != nil)
        #expect(failure(parse("G(")) != nil)
        #expect(failure(parse("GET / HTTP/2")) == .versionNotSupported)
    }

    @Test func versions() {
        #expect(failure(parse("GET / HTTP/2.0\r\n\r\n")) == .versionNotSupported)
        #expect(failure(parse("GET / HTTP/2.0\r\n\r\n"))?.status == 505)
        #expect(failure(parse("GET / HTTP/1.2\r\n\r\n"))?.status == 505)
        #expect(failure(parse("GET / HTTP/0.9\r\n\r\n"))?.status == 505)
        #expect(failure(parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))?.status == 505)
        #expect(failure(parse("GET / http/1.1\r\n\r\n")) == .badRequest("invalid HTTP version"))
        #expect(failure(parse("GET / HTTP/1.10\r\n\r\n"))?.status == 400)
        #expect(failure(parse("GET / HTTP/1\r\n\r\n"))?.status == 400)
        #expect(failure(parse("GET / HTTP/1.x\r\n\r\n"))?.status == 400)
    }

    @Test func garbageBytes() {
        let tlsClientHello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]
        #expect(failure(parse(tlsClientHello))?.status == 400)
        #expect(failure(parse([0x00]))?.status == 400)
        #expect(failure(parse([0xFF, 0xFE]))?.status == 400)
        #expect(failure(parse("\u{1B}[A"))?.status == 400)
        #expect(failure(parse("hello world\r\n\r\n"))?.status == 400)
        // A deterministic pseudo-random stream never crashes and never completes.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<500 {
            var bytes: [UInt8] = []
            for _ in 0..<64 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                bytes.append(UInt8(truncatingIfNeeded: state >> 56))
            }
            #expect(head(parse(bytes)) == nil)
        }
    }

    @Test func longRequestLineIs414WhileIncomplete() {
        let long = "GET /" + String(repeating: "a", count: 9000)
        #expect(failure(parse(long)) == .uriTooLong)
        #expect(failure(parse(long))?.status == 414)
        // Exactly at the limit is fine, one past fails even when complete.
        let limits = HTTPLimits(maxRequestLineBytes: 32)
        let line = "GET /" + String(repeating: "b", count: 18) + " HTTP/1.1"  // 32 bytes
        #expect(head(parse(line + "\r\n\r\n", limits: limits)) != nil)
        let longer = "GET /" + String(repeating: "b", count: 19) + " HTTP/1.1\r\n\r\n"  // 33 bytes
        #expect(failure(parse(longer, limits: limits)) == .uriTooLong)
        #expect(parse(String(repeating: "A", count: 32), limits: limits) == .incomplete)
        #expect(failure(parse(String(repeating: "A", count: 40), limits: limits)) == .uriTooLong)
    }

    @Test func tooManyHeadersIs431() {
        let limits = HTTPLimits(maxHeaderCount: 3)
        let three = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        #expect(head(parse(three, limits: limits)) != nil)
        let four = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD"
        #expect(failure(parse(four, limits: limits)) == .headersTooLarge)
        var many = "GET / HTTP/1.1\r\n"
        for i in 0..<65 { many += "X-\(i): v\r\n" }
        #expect(failure(parse(many + "\r\n"))?.status == 431)
    }

    @Test func headerBytesOverLimitIs431WhileIncomplete() {
        let request = "GET / HTTP/1.1\r\nCookie: " + String(repeating: "c", count: 20_000)
        #expect(failure(parse(request)) == .headersTooLarge)
        #expect(failure(parse(request))?.status == 431)
        // The limit covers the field lines plus the final CRLF, exactly.
        let limits = HTTPLimits(maxHeaderBytes: 10)
        #expect(head(parse("GET / HTTP/1.1\r\nA: 123\r\n\r\n", limits: limits)) != nil)  // 8 + 2 bytes
        #expect(failure(parse("GET / HTTP/1.1\r\nA: 1234\r\n\r\n", limits: limits)) == .headersTooLarge)
        #expect(parse("GET / HTTP/1.1\r\nA: 1234\r", limits: limits) == .incomplete)
        #expect(failure(parse("GET / HTTP/1.1\r\nA: 12345678", limits: limits)) == .headersTooLarge)
    }

    @Test func errorStatusesAndReasons() {
        let all: [(HTTPParseError, Int)] = [
            (.badRequest("x"), 400), (.uriTooLong, 414), (.headersTooLarge, 431), (.bodyTooLarge, 413),
            (.unsupportedTransferEncoding, 501), (.versionNotSupported, 505),
        ]
        for (error, status) in all {
            #expect(error.status == status)
            #expect(!text(error.reason).isEmpty)
        }
        #expect(text(HTTPParseError.badRequest("bare LF in request").reason) == "bare LF in request")
        #expect(HTTPParseError.badRequest("a") != .badRequest("b"))
        #expect(HTTPParseError.badRequest("a") == .badRequest("a"))
    }

    /// Special bytes at every offset across several 8-byte words, so the word-at-a-time scans and their
    /// byte-by-byte tails agree.
    @Test func specialBytesAtEveryOffset() throws {
        for k in 0..<26 {
            let run = String(repeating: "v", count: k)
            let pad = String(repeating: "w", count: 11)
            // Header values: HTAB and obs-text are kept, control bytes and DEL are rejected.
            let tabbed = "GET / HTTP/1.1\r\nUser-Agent: \(run)\t\(pad) \t \r\n\r\n"
            let h = try #require(head(parse(tabbed)), "tab at \(k)")
            #expect(slice(tabbed, h.userAgent) == (k == 0 ? pad : "\(run)\t\(pad)"))  // a leading HTAB is OWS
            let obs = Array("GET / HTTP/1.1\r\nUser-Agent: \(run)".utf8) + [0xC3, 0xA9] + Array("\(pad)\r\n\r\n".utf8)
            #expect(head(parse(obs))?.userAgent.count == k + 2 + pad.count, "obs-text at \(k)")
            for bad: UInt8 in [0x00, 0x0B, 0x1F, 0x7F] {
                let value = Array("GET / HTTP/1.1\r\nUser-Agent: \(run)".utf8) + [bad] + Array("\(pad)\r\n\r\n".utf8)
                #expect(failure(parse(value)) == .badRequest("control character in header value"), "\(bad) at \(k)")
            }
            // Targets: '?' and '#' split at the right place; other specials are rejected.
            let target = "GET /\(run)?\(pad)#\(run) HTTP/1.1\r\n\r\n"
            let t = try #require(head(parse(target)))
            #expect(t.path.count == k + 1 && slice(target, t.query) == pad, "query at \(k)")
            for bad: UInt8 in [0x00, 0x09, 0x7F, 0x80, 0xFF] {
                let line = Array("GET /\(run)".utf8) + [bad] + Array("\(pad) HTTP/1.1\r\n\r\n".utf8)
                #expect(failure(parse(line))?.status == 400, "target byte \(bad) at \(k)")
            }
            // Names: uncommon token characters pass, near-misses of letters fail.
            for good in ["_", "^", "`", "|", "~", "!", "Z", "a", "0", "9", "-", "."] {
                let name = "GET / HTTP/1.1\r\nX\(run)\(good)\(pad): 1\r\n\r\n"
                #expect(head(parse(name)) != nil, "name char \(good) at \(k)")
            }
            for bad: UInt8 in [0x40, 0x5B, 0x7B, 0x2F, 0x3B, 0x22, 0x28, 0xC1] {
                let name = Array("GET / HTTP/1.1\r\nX\(run)".utf8) + [bad] + Array("\(pad): 1\r\n\r\n".utf8)
                #expect(failure(parse(name)) == .badRequest("invalid header name"), "name byte \(bad) at \(k)")
            }
        }
    }

    @Test func headerNameMatchingIsExact() throws {
        let request = "GET / HTTP/1.1\r\nX-FORWARDED-FOX: 1\r\nX-Forwarded-Fo: 2\r\nX-Forwarded-For: 3\r\n"
            + "X-Forwarded-For-: 4\r\nUSER-AGENT: ua\r\nUser-Agent_: no\r\nX-REAL-IP: ip\r\nForwardeD: fw\r\n\r\n"
        let h = try #require(head(parse(request)))
        #expect(slice(request, h.xForwardedFor) == "3")
        #expect(slice(request, h.userAgent) == "ua")
        #expect(slice(request, h.xRealIP) == "ip" && slice(request, h.forwarded) == "fw")
        #expect(head(parse("GET / HTTP/1.1\r\nContent_Length: 5\r\n\r\n"))?.contentLength == 0)
    }

    /// Deterministic mutation fuzzing: every prefix of a mutated request is `.incomplete` or gives the
    /// full buffer's own answer (errors are reported early, never differently), and never crashes.
    @Test func prefixesAgreeWithWholeUnderMutation() {
        let seeds = [
            click,
            "POST /pb?x=1 HTTP/1.0\r\nHost: h\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nab=c",
            "\r\nGET http://h/p#f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ].map { Array($0.utf8) }
        let interesting: [UInt8] = Array(" \t\r\n:?#%&=/-_0aZ".utf8) + [0x00, 0x7F, 0x80, 0xFF]
        var state: UInt64 = 42
        func random(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        for round in 0..<240 {
            var bytes = seeds[round % seeds.count]
            for _ in 0...random(3) {
                let at = random(bytes.count)
                switch random(3) {
                case 0: bytes[at] = interesting[random(interesting.count)]
                case 1: bytes.insert(interesting[random(interesting.count)], at: at)
                default: bytes.remove(at: at)
                }
            }
            let whole = parse(bytes)
            for cut in 0..<bytes.count {
                let part = parse(Array(bytes[..<cut]))
                if case .complete(let h) = whole, cut >= h.totalLength {
                    #expect(part == whole, "round \(round) cut \(cut)")
                } else if part != .incomplete {
                    #expect(part == whole, "round \(round) cut \(cut)")
                }
            }
        }
    }

    @Test func tokenCharacterTable() {
        let tchars = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for b in 0...255 {
            #expect(ASCII.isTokenChar(UInt8(b)) == tchars.contains(UInt8(b)), "byte \(b)")
        }
    }
}
