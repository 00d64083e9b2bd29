// Writing HTTP responses into the connection's output: status lines, a cached Date header, redirects
// and JSON bodies, all from pre-sized buffers.
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// HTTP status codes Trackstar answers with, and their status lines.
enum HTTPStatus: Int {
    case ok = 200, found = 302, badRequest = 400, forbidden = 403, notFound = 404, methodNotAllowed = 405
    case requestTimeout = 408, conflict = 409, gone = 410, payloadTooLarge = 413, uriTooLong = 414, unsupportedMediaType = 415
    case unprocessable = 422, headersTooLarge = 431, internalError = 500, notImplemented = 501
    case unavailable = 503, versionNotSupported = 505, insufficientStorage = 507

    var line: StaticString {
        switch self {
        case .ok: "HTTP/1.1 200 OK\r\n"
        case .found: "HTTP/1.1 302 Found\r\n"
        case .badRequest: "HTTP/1.1 400 Bad Request\r\n"
        case .forbidden: "HTTP/1.1 403 Forbidden\r\n"
        case .notFound: "HTTP/1.1 404 Not Found\r\n"
        case .methodNotAllowed: "HTTP/1.1 405 Method Not Allowed\r\n"
        case .requestTimeout: "HTTP/1.1 408 Request Timeout\r\n"
        case .conflict: "HTTP/1.1 409 Conflict\r\n"
        case .gone: "HTTP/1.1 410 Gone\r\n"
        case .payloadTooLarge: "HTTP/1.1 413 Content Too Large\r\n"
        case .uriTooLong: "HTTP/1.1 414 URI Too Long\r\n"
        case .unsupportedMediaType: "HTTP/1.1 415 Unsupported Media Type\r\n"
        case .unprocessable: "HTTP/1.1 422 Unprocessable Content\r\n"
        case .headersTooLarge: "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        case .internalError: "HTTP/1.1 500 Internal Server Error\r\n"
        case .notImplemented: "HTTP/1.1 501 Not Implemented\r\n"
        case .unavailable: "HTTP/1.1 503 Service Unavailable\r\n"
        case .versionNotSupported: "HTTP/1.1 505 HTTP Version Not Supported\r\n"
        case .insufficientStorage: "HTTP/1.1 507 Insufficient Storage\r\n"
        }
    }
}

/// The `Date:` header line, formatted once per second per loop.
struct DateHeader {
    private var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
    private var second: Int64 = -1
    static let length = 37  // "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"

    /// Appends the header for `nowMillis`, reformatting when the second changed.
    mutating func append(nowMillis: Int64, to writer: inout ByteWriter) {
        let now = nowMillis / 1000
        if now != second { format(now) }
        withUnsafeBytes(of: &buffer) { writer.append(UnsafeRawBufferPointer(rebasing: $0[0..<DateHeader.length])) }
    }

    private mutating func format(_ now: Int64) {
        second = now
        var t = time_t(now)
        var parts = tm()
        gmtime_r(&t, &parts)
        withUnsafeMutableBytes(of: &buffer) { raw in
            var w = ByteWriter(base: raw.baseAddress!, capacity: raw.count)
            let days: StaticString = "SunMonTueWedThuFriSat"
            let months: StaticString = "JanFebMarAprMayJunJulAugSepOctNovDec"
            w.append("Date: ")
            w.append(UnsafeRawBufferPointer(start: days.utf8Start + Int(parts.tm_wday) * 3, count: 3))
            w.append(", ")
            DateHeader.two(Int(parts.tm_mday), &w)
            w.append(" ")
            w.append(UnsafeRawBufferPointer(start: months.utf8Start + Int(parts.tm_mon) * 3, count: 3))
            w.append(" ")
            w.appendDecimal(UInt64(parts.tm_year + 1900))
            w.append(" ")
            DateHeader.two(Int(parts.tm_hour), &w); w.append(":")
            DateHeader.two(Int(parts.tm_min), &w); w.append(":")
            DateHeader.two(Int(parts.tm_sec), &w)
            w.append(" GMT\r\n")
        }
    }

    private static func two(_ n: Int, _ w: inout ByteWriter) {
        w.append(UInt8(48 + n / 10)); w.append(UInt8(48 + n % 10))
    }
}

/// Builds responses for one loop. The JSON body goes to `body` first so its length is known.
struct ResponseWriter {
    var date = DateHeader()
    let bodyBase: UnsafeMutableRawPointer
    let bodyCapacity: Int
    /// Adds `Retry-After: 5` to the next responses (storage failures).
    var retryAfter = false
    /// The `Allow` value of the next 405s: the methods of the resource asked for.
    var allow: StaticString = "GET, HEAD"

    /// Writes the status line, Date, and Connection: close when the connection will close.
    mutating func head(_ status: HTTPStatus, keepAlive: Bool, nowMillis: Int64, to out: inout ByteWriter) {
        out.append(status.line)
        date.append(nowMillis: nowMillis, to: &out)
        if !keepAlive { out.append("Connection: close\r\n") }
    }

    /// A JSON response whose body `build` writes.
    mutating func json(_ status: HTTPStatus, keepAlive: Bool, headOnly: Bool, nowMillis: Int64,
                       to out: inout ByteWriter, build: (inout ByteWriter) -> Void) {
        var body = ByteWriter(base: bodyBase, capacity: bodyCapacity)
        build(&body)
        head(status, keepAlive: keepAlive, nowMillis: nowMillis, to: &out)
        if status == .methodNotAllowed { out.append("Allow: "); out.append(allow); out.append("\r\n") }
        if retryAfter { out.append("Retry-After: 5\r\n") }
        out.append("Content-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: ")
        out.appendDecimal(UInt64(body.count + 1))
        out.append("\r\n\r\n")
        if !headOnly { out.append(body.written); out.append(UInt8(ascii: "\n")) }
    }

    /// A refusal: `{"status":"refused","reason":…,"message":…}`; `detail` names the field, `offset`
    /// (a malformed body) the byte of the body where the problem is.
    mutating func refusal(_ status: HTTPStatus, reason: StaticString, message: StaticString, detail: StaticString? = nil,
                          offset: Int? = nil, keepAlive: Bool, headOnly: Bool, nowMillis: Int64, to out: inout ByteWriter) {
        json(status, keepAlive: keepAlive, headOnly: headOnly, nowMillis: nowMillis, to: &out) { body in
            body.append("{\"status\":\"refused\",\"reason\":\"")
            body.append(reason)
            body.append("\",\"message\":\"")
            if let detail { body.append(detail); body.append(": ") }
            body.append(message)
            if let offset { body.append(" (at byte "); body.appendDecimal(UInt64(max(offset, 0))); body.append(" of the body)") }
            body.append("\"}")
        }
    }
}
