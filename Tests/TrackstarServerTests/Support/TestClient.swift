// A blocking HTTP/1.1 client over a plain socket, for live tests: it sends exact bytes (so tests
// can pipeline, split and mangle requests) and parses responses by Content-Length.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A parsed response.
struct TestResponse {
    var status: Int
    var headers: [(String, String)]
    var body: String

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// The body as a JSON object.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }
}

enum TestClientError: Error { case connect(Int32), closed, timeout }

/// One TCP connection to the server under test.
final class TestConnection: @unchecked Sendable {  // each used by one thread at a time
    let fd: Int32
    var pending: [UInt8] = []

    /// `source` (IPv4 only) binds the client's end to that address first, such as another loopback
    /// address of 127.0.0.0/8.
    init(port: UInt16, host: String = "127.0.0.1", source: String? = nil) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if let source, !v6 {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound != 0 { throw TestClientError.connect(errno) }  // deinit closes fd
        }
        let result: Int32
        if v6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &address.sin6_addr)
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &address.sin_addr)
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        if result != 0 { throw TestClientError.connect(errno) }  // deinit closes fd
    }

    /// The only close of `fd`, also after a throwing init (which runs deinit once `fd` is set: a
    /// close on that path too closed the number twice, the second time perhaps another thread's).
    deinit { if fd >= 0 { close(fd) } }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// Reads one response (HEAD responses have no body: pass `head: true`).
    func read(head: Bool = false) throws -> TestResponse {
        while true {
            if let (response, used) = TestConnection.parse(pending, head: head) {
                pending.removeFirst(used)
                return response
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { throw TestClientError.closed }
            if n < 0 { throw TestClientError.timeout }
            pending.append(contentsOf: chunk[0..<n])
        }
    }

    /// True when the server closed the connection (reads EOF).
    func isClosedByServer() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    func request(_ text: String) throws -> TestResponse {
        send(text)
        return try read(head: text.hasPrefix("HEAD "))
    }

    func get(_ target: String, headers: String = "") throws -> TestResponse {
        try request("GET \(target) HTTP/1.1\r\nHost: test\r\n\(headers)\r\n")
    }

    static func parse(_ bytes: [UInt8], head: Bool) -> (TestResponse, Int)? {
        guard let end = find(bytes, [13, 10, 13, 10]) else { return nil }
        let text = String(decoding: bytes[0..<end], as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        let status = Int(statusLine[1]) ?? 0
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = head ? 0 : Int(headers.first { $0.0.lowercased() == "content-length" }?.1 ?? "0") ?? 0
        guard bytes.count >= end + 4 + length else { return nil }
        let body = String(decoding: bytes[(end + 4)..<(end + 4 + length)], as: UTF8.self)
        return (TestResponse(status: status, headers: headers, body: body), end + 4 + length)
    }

    static func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}
