// Header field lines (RFC 7230 §3.2): name, value, the fields that matter to framing and routing
// (Content-Length, Transfer-Encoding, Connection, Host, Expect, Content-Type), then the framing.

extension HeadScanner {
    // MARK: Header fields

    /// Scans one field line and records it; returns true after consuming the empty line that ends the head.
    mutating func headerLine(into head: inout HTTPRequestHead, fields: inout FieldState) throws(ScanStop) -> Bool {
        let first = try byte(pos)
        if first == .cr {
            try expectCRLF()
            return true
        }
        if first == .space || first == .tab { throw bad("obs-fold or whitespace before header name") }
        fields.count += 1
        guard fields.count <= maxHeaderCount else { throw .failure(.headersTooLarge) }
        let name = try scanFieldName()
        let value = try scanFieldValue()
        try record(name: name, value: value, into: &head, fields: &fields)
        return false
    }

    /// Scans a token field name and the colon right after it.
    mutating func scanFieldName() throws(ScanStop) -> ByteRange {
        let start = pos
        var i = start
        while true {
            i = ASCII.skipCommonTokenBytes(bytes, from: i, to: readable)
            let b = try byte(i)
            if b == .colon { break }
            guard ASCII.isTokenChar(b) else {
                throw b == .space || b == .tab ? bad("whitespace before colon") : reject(b, "invalid header name")
            }
            i += 1
        }
        guard i > start else { throw bad("empty header name") }
        pos = i + 1
        return ByteRange(start, i)
    }

    /// Scans a field value up to CRLF; returns it without leading or trailing OWS.
    mutating func scanFieldValue() throws(ScanStop) -> ByteRange {
        var i = pos
        while true {
            let b = try byte(i)
            guard b == .space || b == .tab else { break }
            i += 1
        }
        let start = i
        while true {
            i = ASCII.skipPlainFieldBytes(bytes, from: i, to: readable)
            let b = try byte(i)
            if b == .cr { break }
            guard b == .tab else { throw reject(b, "control character in header value") }
            i += 1
        }
        pos = i
        try expectCRLF()
        return ASCII.trimmingTrailingOWS(bytes, ByteRange(start, i))
    }

    /// Applies one header the tracker cares about; others are ignored. Single-valued headers keep
    /// their last occurrence (proxies append), except Host, which must not repeat.
    func record(
        name: ByteRange, value: ByteRange, into head: inout HTTPRequestHead, fields: inout FieldState
    ) throws(ScanStop) {
        switch name.count {
        case 4 where isName(name, "host"):
            guard !fields.hasHost else { throw bad("duplicate Host") }
            guard HostSyntax.isValid(bytes, value) else { throw bad("invalid Host") }
            fields.hasHost = true
            head.hasHost = true
            head.host = value
        case 6 where isName(name, "expect"):
            fields.expectContinue = fields.expectContinue || ASCII.equalsIgnoringCase(bytes, value, "100-continue")
        case 9 where isName(name, "forwarded"): head.forwarded = value
        case 9 where isName(name, "x-real-ip"): head.xRealIP = value
        case 10 where isName(name, "user-agent"): head.userAgent = value
        case 10 where isName(name, "connection"): recordConnection(value, fields: &fields)
        case 12 where isName(name, "content-type"): head.bodyType = bodyType(value)
        case 14 where isName(name, "content-length"): try recordContentLength(value, fields: &fields)
        case 15 where isName(name, "x-forwarded-for"): head.xForwardedFor = value
        case 17 where isName(name, "transfer-encoding"): fields.hasTransferEncoding = true
        default: break
        }
    }

    /// Case-insensitive comparison of a field name with a lowercase literal of the same length.
    @inline(__always)
    func isName(_ name: ByteRange, _ lowercase: StaticString) -> Bool {
        name.count == lowercase.utf8CodeUnitCount && ASCII.tokenEqualsLowercase(bytes, Int(name.start), lowercase)
    }

    /// Parses a Content-Length value: digits only, no overflow, within `maxBodyBytes`, consistent with repeats.
    func recordContentLength(_ value: ByteRange, fields: inout FieldState) throws(ScanStop) {
        guard !value.isEmpty else { throw bad("invalid Content-Length") }
        var length = 0
        var i = Int(value.start)
        while i < Int(value.end) {
            let d = bytes[i] &- .digitZero
            guard d < 10 else { throw bad("invalid Content-Length") }
            let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(d))
            guard !overflow1, !overflow2 else { throw bad("Content-Length overflow") }
            length = sum
            i += 1
        }
        guard length <= maxBody else { throw .failure(.bodyTooLarge) }
        guard fields.contentLength < 0 || fields.contentLength == length else {
            throw bad("conflicting Content-Length")
        }
        fields.contentLength = length
    }

    /// Notes the `close` and `keep-alive` tokens of a Connection list (case-insensitive).
    func recordConnection(_ value: ByteRange, fields: inout FieldState) {
        var i = Int(value.start)
        let end = Int(value.end)
        while i < end {
            while i < end, bytes[i] == .comma || bytes[i] == .space || bytes[i] == .tab { i += 1 }
            let tokenStart = i
            while i < end, bytes[i] != .comma { i += 1 }
            let token = ASCII.trimmingTrailingOWS(bytes, ByteRange(tokenStart, i))
            if ASCII.equalsIgnoringCase(bytes, token, "close") {
                fields.connectionClose = true
            } else if ASCII.equalsIgnoringCase(bytes, token, "keep-alive") {
                fields.connectionKeepAlive = true
            }
        }
    }

    /// The media type (before any ';' parameters, either case): form, JSON or another.
    func bodyType(_ value: ByteRange) -> HTTPBodyType {
        var i = Int(value.start)
        while i < Int(value.end), bytes[i] != .semicolon { i += 1 }
        let mediaType = ASCII.trimmingTrailingOWS(bytes, ByteRange(Int(value.start), i))
        if ASCII.equalsIgnoringCase(bytes, mediaType, "application/x-www-form-urlencoded") { return .form }
        if ASCII.equalsIgnoringCase(bytes, mediaType, "application/json") { return .json }
        return .other
    }

    // MARK: Framing

    /// Resolves Transfer-Encoding / Content-Length (RFC 7230 §3.3.3), persistence and the body range.
    func applyFraming(_ fields: FieldState, to head: inout HTTPRequestHead) throws(ScanStop) {
        if fields.hasTransferEncoding {
            throw fields.contentLength >= 0
                ? bad("Transfer-Encoding with Content-Length") : .failure(.unsupportedTransferEncoding)
        }
        let length = max(fields.contentLength, 0)
        let isHTTP11 = head.versionMinor == 1
        head.keepAlive = !fields.connectionClose && (isHTTP11 || fields.connectionKeepAlive)
        head.expectContinue = isHTTP11 && fields.expectContinue
        head.contentLength = length
        head.headerLength = pos
        head.body = ByteRange(pos, pos + length)
        head.totalLength = pos + length
    }

    /// The bytes of a 4- or 8-byte literal as the integer an unaligned load of them gives.
    @inline(__always)
    static func word<T: FixedWidthInteger>(_ literal: StaticString) -> T {
        UnsafeRawPointer(literal.utf8Start).loadUnaligned(as: T.self)
    }

    /// CR LF as a 16-bit load gives it.
    static var crlf: UInt16 { word("\r\n") }
}
