// The libcurl HTTPClient against loopback responders of the test's own: what goes on the wire (basic
// authentication, the body, no Expect round trip), keep-alive, and each failure named by curl's
// description (refused, https to a plain-HTTP peer, an answer that never comes).
import Foundation
import Testing
@testable import TrackstarExport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct HTTPClientTests {
    @Test func sendsBasicAuthenticationAndTheBodyAndReturnsTheAnswer() throws {
        let responder = try LoopbackResponder(answers: 1)
        let client = try HTTPClient(baseURL: responder.url, user: "report", password: "p:ss wörd", timeoutSeconds: 10)
        let answer = try client.request(.post, "/?query=" + HTTPClient.encode("SELECT 1"), body: Array("row-bytes".utf8))
        #expect(answer.status == 200 && answer.text == "ok\n")
        let request = responder.requests.first ?? ""
        #expect(request.hasPrefix("POST /?query=SELECT%201 HTTP/1.1\r\n"), "\(request)")
        let credentials = Data("report:p:ss wörd".utf8).base64EncodedString()
        #expect(request.contains("\r\nAuthorization: Basic \(credentials)\r\n"), "\(request)")
        #expect(request.contains("\r\nContent-Length: 9\r\n") && request.hasSuffix("\r\n\r\nrow-bytes"), "\(request)")
        #expect(request.contains("Content-Type: application/octet-stream") && !request.contains("Expect:"), "\(request)")
    }

    @Test func keepsTheConnectionBetweenRequests() throws {
        let responder = try LoopbackResponder(answers: 3)
        let client = try HTTPClient(baseURL: responder.url, timeoutSeconds: 10)
        let first = try client.request(.get, "/one")
        let second = try client.request(.post, "/two", body: [])
        let third = try client.request(.get, "/three")
        #expect(first.openedConnection && !second.openedConnection && !third.openedConnection)
        #expect(responder.connections == 1)
        #expect(responder.requests.map { $0.split(separator: " ").prefix(2).joined(separator: " ") } == ["GET /one", "POST /two", "GET /three"])
        #expect(responder.requests[1].contains("\r\nContent-Length: 0\r\n"), "\(responder.requests[1])")
    }

    @Test func collectsALargeAnswerInFull() throws {
        let body = [UInt8]((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
        let responder = try LoopbackResponder(answers: 1, body: body)
        let answer = try HTTPClient(baseURL: responder.url, timeoutSeconds: 10).request(.get, "/big")
        #expect(answer.body == body)
    }

    @Test func aRefusedConnectionIsNamed() throws {
        let port = LoopbackResponder.closedPort()
        #expect {
            try HTTPClient(baseURL: "http://127.0.0.1:\(port)", timeoutSeconds: 5).request(.get, "/ping?secret=1")
        } throws: { error in
            let text = "\(error)"
            return text.contains("http://127.0.0.1:\(port)/ping: curl_easy_perform: Couldn't connect to server") && !text.contains("secret")
        }
    }

    @Test func httpsToAPlainHTTPPeerFailsInTheTLSHandshake() throws {
        let responder = try LoopbackResponder(answers: 1, readWholeRequest: false)
        let url = responder.url.replacingOccurrences(of: "http://", with: "https://")
        #expect {
            try HTTPClient(baseURL: url, timeoutSeconds: 10).request(.get, "/ping")
        } throws: { error in
            "\(error)".contains("curl_easy_perform: SSL connect error")
        }
    }

    @Test func anAnswerThatNeverComesTimesOut() throws {
        let silent = try LoopbackResponder(answers: 0)  // listens, never accepts: the kernel completes the handshake
        #expect {
            try HTTPClient(baseURL: silent.url, timeoutSeconds: 1).request(.get, "/ping")
        } throws: { error in
            "\(error)".contains("curl_easy_perform: Timeout was reached")
        }
    }

    @Test func encodesQueryValuesWithByteWriter() {
        #expect(HTTPClient.encode("INSERT INTO t FORMAT RowBinary") == "INSERT%20INTO%20t%20FORMAT%20RowBinary")
        #expect(HTTPClient.encode("a&b=c/d~e_f.g-h é") == "a%26b%3Dc%2Fd~e_f.g-h%20%C3%A9")
        #expect(HTTPClient.encode("") == "")
    }
}

/// A loopback HTTP/1.1 responder: accepts connections on a thread and answers `answers` requests with
/// 200 and `body`, keeping each connection open; records every request (head and body) it read.
final class LoopbackResponder: @unchecked Sendable {  // state behind `lock`
    let fd: Int32
    let port: UInt16
    var url: String { "http://127.0.0.1:\(port)" }
    private let lock = NSLock()
    private var requests_: [String] = []
    private var connections_ = 0
    var requests: [String] { lock.withLock { requests_ } }
    var connections: Int { lock.withLock { connections_ } }

    /// With `readWholeRequest` false the first read is taken as the request (for a TLS hello, which has no head end).
    init(answers: Int, body: [UInt8] = Array("ok\n".utf8), readWholeRequest: Bool = true) throws {
        (fd, port) = try LoopbackResponder.listen()
        guard answers > 0 else { return }
        let thread = Thread { [self] in serve(answers: answers, body: body, readWholeRequest: readWholeRequest) }
        thread.start()
    }

    deinit { close(fd) }

    private func serve(answers: Int, body: [UInt8], readWholeRequest: Bool) {
        var answered = 0
        while answered < answers {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            lock.withLock { connections_ += 1 }
            var pending: [UInt8] = []
            while answered < answers, let request = LoopbackResponder.read(client, &pending, whole: readWholeRequest) {
                lock.withLock { requests_.append(String(decoding: request, as: UTF8.self)) }
                let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
                var sent = 0
                while sent < answer.count {
                    let n = answer.withUnsafeBytes { send(client, $0.baseAddress! + sent, answer.count - sent, Int32(MSG_NOSIGNAL)) }
                    guard n > 0 else { return }
                    sent += n
                }
                answered += 1
            }
        }
    }

    /// The next request on `client` (head and Content-Length body), or nil when the peer closed.
    static func read(_ client: Int32, _ pending: inout [UInt8], whole: Bool) -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            if !whole && !pending.isEmpty { defer { pending = [] }; return pending }
            if let end = pending.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound {
                let head = String(decoding: pending[..<end], as: UTF8.self).lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
                if pending.count >= end + length {
                    defer { pending.removeFirst(end + length) }
                    return Array(pending[..<(end + length)])
                }
            }
            let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return nil }
            pending += chunk[..<n]
        }
    }

    /// A socket listening on an ephemeral loopback port.
    static func listen() throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && Glibc.listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, ok else { close(fd); throw ExportError("cannot listen on loopback: errno \(errno)") }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    /// A loopback port nothing listens on (bound, then closed).
    static func closedPort() -> UInt16 {
        guard let (fd, port) = try? listen() else { return 1 }
        close(fd)
        return port
    }
}
