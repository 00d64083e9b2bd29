// Just enough of an HTTP/1.1 response parser for the generator: the status, the body length from
// Content-Length (responses here are never chunked), and the click ID inside a Location header.
#if canImport(Glibc)
import Glibc
#endif

/// A complete response at the front of the input.
struct ParsedResponse {
    /// Bytes of head and body together.
    var length: Int
    var status: Int
    /// Offset of the 26-character click ID after `cid=` in the Location header, or -1.
    var idOffset: Int
    /// `Connection: close`: the server answers nothing more on this connection.
    var close = false
}

enum ParseResult {
    case incomplete
    case malformed
    case response(ParsedResponse)
}

enum ResponseParser {
    static let contentLength = Array("content-length:".utf8)
    static let location = Array("location:".utf8)
    static let connection = Array("connection:".utf8)
    static let closeToken = Array("close".utf8)

    /// Parses the response at the start of `bytes`; `wantID` looks for `cid=` in the Location header.
    static func parse(_ bytes: UnsafePointer<UInt8>, _ count: Int, wantID: Bool) -> ParseResult {
        guard count >= 16 else { return .incomplete }
        guard bytes[0] == UInt8(ascii: "H"), bytes[5] == UInt8(ascii: "1"),
              let status = threeDigits(bytes + 9) else { return .malformed }
        var response = ParsedResponse(length: 0, status: status, idOffset: -1)
        var bodyLength = 0
        var lineStart = 0
        while lineStart < count, let hit = memchr(bytes + lineStart, 0x0A, count - lineStart) {
            let lineEnd = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - bytes
            let line = UnsafeBufferPointer(start: bytes + lineStart, count: lineEnd - lineStart)
            if line.count <= 1 {  // the empty line ("\r\n") that ends the head
                response.length = lineEnd + 1 + bodyLength
                return count >= response.length ? .response(response) : .incomplete
            }
            if let value = headerValue(line, named: contentLength) {
                bodyLength = decimal(value)
            } else if wantID, let value = headerValue(line, named: location) {
                response.idOffset = idOffset(value, base: bytes)
            } else if let value = headerValue(line, named: connection) {
                response.close = startsWith(value, closeToken)
            }
            lineStart = lineEnd + 1
        }
        return .incomplete
    }

    /// The three status digits at `p`, or nil.
    @inline(__always)
    static func threeDigits(_ p: UnsafePointer<UInt8>) -> Int? {
        let a = Int(p[0]) - 48, b = Int(p[1]) - 48, c = Int(p[2]) - 48
        guard (0...9).contains(a), (0...9).contains(b), (0...9).contains(c) else { return nil }
        return a * 100 + b * 10 + c
    }

    /// The bytes after `name` (lower case, ending in ':') when the line is that header.
    @inline(__always)
    static func headerValue(_ line: UnsafeBufferPointer<UInt8>, named name: [UInt8]) -> UnsafeBufferPointer<UInt8>? {
        guard line.count > name.count, line[0] | 0x20 == name[0] else { return nil }
        for i in 1..<name.count where line[i] | 0x20 != name[i] { return nil }
        return UnsafeBufferPointer(rebasing: line[name.count...])
    }

    /// Whether `value`, after spaces, starts with `token` (lower case), ignoring case.
    static func startsWith(_ value: UnsafeBufferPointer<UInt8>, _ token: [UInt8]) -> Bool {
        guard let first = value.firstIndex(where: { $0 != 0x20 }), value.count - first >= token.count else { return false }
        for i in token.indices where value[first + i] | 0x20 != token[i] { return false }
        return true
    }

    /// The leading decimal number in `value` after spaces.
    static func decimal(_ value: UnsafeBufferPointer<UInt8>) -> Int {
        var result = 0
        for byte in value {
            if byte == 0x20 { continue }
            guard byte >= 48 && byte <= 57 else { break }
            result = result * 10 + Int(byte - 48)
        }
        return result
    }

    /// Offset from `base` of the 26 bytes after `cid=` in a Location value, or -1.
    static func idOffset(_ value: UnsafeBufferPointer<UInt8>, base: UnsafePointer<UInt8>) -> Int {
        let n = value.count
        var i = 0
        while i + 4 + IDStore.length <= n {
            if value[i] == UInt8(ascii: "c") && value[i + 1] == UInt8(ascii: "i") && value[i + 2] == UInt8(ascii: "d")
                && value[i + 3] == UInt8(ascii: "=") && (i == 0 || value[i - 1] == UInt8(ascii: "?") || value[i - 1] == UInt8(ascii: "&")) {
                return value.baseAddress! + i + 4 - base
            }
            i += 1
        }
        return -1
    }
}
