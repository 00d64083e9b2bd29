// A small blocking HTTP/1.1 client for the ClickHouse HTTP interface: one connection per request
// (`Connection: close`), Content-Length request bodies, chunked or sized or close-delimited answers.
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP answer.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// The body as text (for errors and TabSeparated results).
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Talks to one `host:port` over plain HTTP.
public struct HTTPClient: Sendable {
    public let host: String
    public let port: UInt16
    public let timeoutSeconds: Int

    public init(host: String, port: UInt16, timeoutSeconds: Int = 60) {
        self.host = host; self.port = port; self.timeoutSeconds = timeoutSeconds
    }

    /// Sends `method target` with `body` and reads the whole answer.
    public func request(_ method: String, _ target: String, body: [UInt8] = []) throws(ExportError) -> HTTPResponse {
        let fd = try connect()
        defer { close(fd) }
        let head = "\(method) \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
            + "Content-Length: \(body.count)\r\nContent-Type: application/octet-stream\r\n\r\n"
        try send(fd, Array(head.utf8))
        try send(fd, body)
        return try HTTPClient.parse(try receiveAll(fd), from: "\(host):\(port)")
    }

    func connect() throws(ExportError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, String(port), &hints, &list)
        guard code == 0, let first = list else {
            throw ExportError("cannot resolve \(host): \(String(decoding: UnsafeRawBufferPointer(start: gai_strerror(code), count: strlen(gai_strerror(code))), as: UTF8.self))")
        }
        defer { freeaddrinfo(list) }
        var lastErrno: Int32 = 0
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            if fd >= 0 {
                var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
                lastErrno = errno
                close(fd)
            }
            entry = info.pointee.ai_next
        }
        throw ExportError("cannot connect to \(host):\(port): \(HTTPClient.describe(lastErrno)); is the server running?")
    }

    func send(_ fd: Int32, _ bytes: [UInt8]) throws(ExportError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ExportError("sending to \(host):\(port): \(HTTPClient.describe(errno))") }
            sent += n
        }
    }

    /// Reads until the answer is complete: by Content-Length, the last chunk, or the peer closing
    /// (servers such as ClickHouse keep the connection open a while despite `Connection: close`).
    func receiveAll(_ fd: Int32) throws(ExportError) -> [UInt8] {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !HTTPClient.isComplete(data) {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw ExportError("reading from \(host):\(port): \(HTTPClient.describe(errno))") }
            if n == 0 { break }
            data += chunk[0..<n]
        }
        return data
    }

    /// Whether `data` holds a whole answer (false when only the peer closing can tell).
    static func isComplete(_ data: [UInt8]) -> Bool {
        guard let end = find(data, [13, 10, 13, 10], from: 0) else { return false }
        let head = String(decoding: data[0..<end], as: UTF8.self).lowercased()
        let bodyStart = end + 4
        if head.contains("transfer-encoding: chunked") {
            return data.count >= bodyStart + 5 && Array(data[(data.count - 5)...]) == Array("0\r\n\r\n".utf8)
                && (try? dechunk(Array(data[bodyStart...]), from: "")) != nil
        }
        for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
            if let length = Int(Substring(line.dropFirst(15)).trimmingWhitespace()) { return data.count >= bodyStart + length }
        }
        return false
    }

    static func describe(_ code: Int32) -> String {
        code == EAGAIN ? "timed out" : String(decoding: UnsafeRawBufferPointer(start: strerror(code), count: strlen(strerror(code))), as: UTF8.self)
    }

    /// Parses a complete close-delimited answer.
    static func parse(_ data: [UInt8], from peer: String) throws(ExportError) -> HTTPResponse {
        guard let end = find(data, [13, 10, 13, 10], from: 0) else {
            throw ExportError("\(peer) closed the connection before a complete HTTP answer (\(data.count) bytes)")
        }
        let head = String(decoding: data[0..<end], as: UTF8.self).lowercased()
        let statusLine = head.split(separator: "\r\n", maxSplits: 1).first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw ExportError("\(peer) answered something that is not HTTP") }
        var body = Array(data[(end + 4)...])
        if head.contains("transfer-encoding: chunked") { body = try dechunk(body, from: peer) }
        return HTTPResponse(status: status, body: body)
    }

    static func dechunk(_ data: [UInt8], from peer: String) throws(ExportError) -> [UInt8] {
        var out: [UInt8] = []
        var at = 0
        while true {
            guard let lineEnd = find(data, [13, 10], from: at),
                  let size = Int(String(decoding: data[at..<lineEnd], as: UTF8.self).split(separator: ";").first ?? "", radix: 16) else {
                throw ExportError("\(peer) sent a malformed chunked body")
            }
            if size == 0 { return out }
            let start = lineEnd + 2
            guard start + size <= data.count else { throw ExportError("\(peer) closed the connection inside a chunk") }
            out += data[start..<(start + size)]
            at = start + size + 2
        }
    }

    static func find(_ data: [UInt8], _ needle: [UInt8], from: Int) -> Int? {
        guard data.count >= needle.count else { return nil }
        var i = from
        while i <= data.count - needle.count {
            if data[i] == needle[0] && Array(data[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }

    /// Percent-encodes a query parameter value.
    public static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return out
    }
}
