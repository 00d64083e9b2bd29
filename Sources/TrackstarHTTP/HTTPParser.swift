// A strict, allocation-free HTTP/1.x request-head parser that reads the caller's buffer in place (eight
// bytes at a time over plain runs). It rejects malformed input and exceeded limits as soon as the
// offending byte arrives, and otherwise reports `.incomplete` until the head and whole body are buffered.

/// Parses HTTP/1.0 and HTTP/1.1 requests with RFC 7230 syntax, strictly (this faces the internet).
public enum HTTPParser {
    /// Parses one request at the start of `buffer` (which may hold several pipelined requests, or a partial one).
    ///
    /// Leading empty lines count toward `maxRequestLineBytes`; the header section (field lines plus the
    /// final CRLF) toward `maxHeaderBytes`. Limit overruns are reported at most two bytes late.
    public static func parse(_ buffer: UnsafeRawBufferPointer, limits: HTTPLimits) -> HTTPParseResult {
        var continueWanted = false
        return parse(buffer, limits: limits, continueWanted: &continueWanted)
    }

    /// `parse`, also telling whether the client waits for `100 Continue`: on `.incomplete`,
    /// `continueWanted` is true when the head is complete and valid, carries `Expect: 100-continue`
    /// (HTTP/1.1, with Host), and no byte of its body has arrived yet (RFC 9110 §10.1.1). Answer
    /// `HTTP/1.1 100 Continue` then; once body bytes arrive it is false again, so it is sent once.
    public static func parse(_ buffer: UnsafeRawBufferPointer, limits: HTTPLimits, continueWanted: inout Bool) -> HTTPParseResult {
        var scanner = HeadScanner(buffer, limits: limits)
        var head = HTTPRequestHead()
        continueWanted = false
        do throws(ScanStop) {
            try scanner.parseRequest(into: &head)
        } catch {
            switch error {
            case .incomplete: return .incomplete
            case .bodyPending:
                // Not for a request refused on its head anyway (HTTP/1.1 without Host).
                continueWanted = head.expectContinue && !head.lacksRequiredHost && buffer.count == head.headerLength
                return .incomplete
            case .failure(let reason): return .failure(reason)
            }
        }
        return .complete(head)
    }
}

/// Why scanning stopped before a complete request: more bytes are needed (`bodyPending`: the head is
/// complete, the body is not), or the request is invalid.
enum ScanStop: Error {
    case incomplete
    case bodyPending
    case failure(HTTPParseError)
}

/// Header facts gathered while scanning and resolved once the header section ends.
struct FieldState {
    var contentLength = -1
    var hasTransferEncoding = false
    var hasHost = false
    var connectionClose = false
    var connectionKeepAlive = false
    var expectContinue = false
    var count = 0
}

/// The request target's offsets, as seen by the request-line scan.
struct TargetBounds {
    var start: Int
    var end: Int
    /// First '?' or -1.
    var question = -1
    /// First '#' or -1.
    var hash = -1
}

/// A cursor over the request bytes that throws `.incomplete` (or the active limit's error) when it runs out.
struct HeadScanner {
    /// The whole request buffer.
    let bytes: UnsafeRawBufferPointer
    /// Offset of the next unread byte.
    var pos = 0
    /// Reads at or beyond this offset exceed the active limit.
    private var cap: Int
    /// `min(bytes.count, cap)`: reads below it succeed.
    private var readable: Int
    /// Thrown when a read reaches `cap`.
    private var capError: HTTPParseError = .uriTooLong
    private let maxRequestLine: Int
    private let maxHeaderBytes: Int
    private let maxHeaderCount: Int
    private let maxBody: Int

    /// Creates a scanner, clamping limits to 512 MiB so every offset fits a `ByteRange`.
    init(_ bytes: UnsafeRawBufferPointer, limits: HTTPLimits) {
        let ceiling = 1 << 29
        self.bytes = bytes
        maxRequestLine = min(max(limits.maxRequestLineBytes, 0), ceiling)
        maxHeaderBytes = min(max(limits.maxHeaderBytes, 0), ceiling)
        maxHeaderCount = max(limits.maxHeaderCount, 0)
        maxBody = min(max(limits.maxBodyBytes, 0), ceiling)
        cap = maxRequestLine + 2
        readable = min(bytes.count, cap)
    }

    /// Parses the head into `head` and checks that the body is buffered.
    mutating func parseRequest(into head: inout HTTPRequestHead) throws(ScanStop) {
        // 1. Empty lines before the request line (RFC 7230 §3.5), within the request-line budget.
        while try byte(pos) == .cr { try expectCRLF() }
        // 2. Request line: METHOD SP target SP HTTP/1.x CRLF.
        try requestLine(into: &head)
        // 3. Header field lines up to and including the empty line.
        setCap(pos + maxHeaderBytes, error: .headersTooLarge)
        var fields = FieldState()
        while try !headerLine(into: &head, fields: &fields) {}
        // 4. Message framing and connection persistence.
        try applyFraming(fields, to: &head)
        // 5. The whole body must be buffered.
        guard bytes.count - pos >= head.contentLength else { throw .bodyPending }
    }

    // MARK: Cursor

    /// Makes reads at or beyond `newCap` throw `error`.
    private mutating func setCap(_ newCap: Int, error: HTTPParseError) {
        cap = newCap
        capError = error
        readable = min(bytes.count, newCap)
    }

    /// The byte at `i`, or a throw: `.incomplete` past the buffer, the cap error past the limit.
    @inline(__always)
    private func byte(_ i: Int) throws(ScanStop) -> UInt8 {
        guard i < readable else { throw i >= cap ? .failure(capError) : .incomplete }
        return bytes[i]
    }

    /// Consumes CR LF at `pos`.
    @inline(__always)
    private mutating func expectCRLF() throws(ScanStop) {
        if pos + 1 < readable, bytes[pos] == .cr, bytes[pos + 1] == .lf {
            pos += 2
        } else {
            try expectCRLFSlowly()
        }
    }

    /// `expectCRLF` when the bytes are missing or wrong: throws the matching stop.
    private mutating func expectCRLFSlowly() throws(ScanStop) {
        let first = try byte(pos)
        guard first == .cr else { throw reject(first, "expected CRLF") }
        guard try byte(pos + 1) == .lf else { throw bad("bare CR in request") }
        pos += 2
    }

    // MARK: Request line

    /// Scans the request line and fills method, version, path and query.
    private mutating func requestLine(into head: inout HTTPRequestHead) throws(ScanStop) {
        head.method = try scanMethod()
        let target = try scanTarget()
        head.versionMinor = try scanVersion()
        try resolve(target, into: &head)
    }

    /// Scans the method token and the single space after it.
    private mutating func scanMethod() throws(ScanStop) -> HTTPMethod {
        // Fast path: "GET ", "POST " or "HEAD " compared as words, with exactly the outcome of the
        // byte loop below (callgrind: ~100 instructions a request saved).
        if pos + 5 <= readable {
            let word = bytes.loadUnaligned(fromByteOffset: pos, as: UInt32.self)
            if word == HeadScanner.word("GET ") { pos += 4; return .get }
            if bytes[pos + 4] == .space {
                if word == HeadScanner.word("POST") { pos += 5; return .post }
                if word == HeadScanner.word("HEAD") { pos += 5; return .head }
            }
        }
        let start = pos
        var i = start
        while true {
            let b = try byte(i)
            if b == .space { break }
            guard ASCII.isTokenChar(b) else { throw reject(b, "invalid method") }
            i += 1
        }
        guard i > start else { throw bad("invalid request line") }
        pos = i + 1
        return classifyMethod(start, i)
    }

    /// Maps the method bytes to `HTTPMethod` (case-sensitive).
    private func classifyMethod(_ start: Int, _ end: Int) -> HTTPMethod {
        if ASCII.equals(bytes, start, end, "GET") { return .get }
        if ASCII.equals(bytes, start, end, "POST") { return .post }
        if ASCII.equals(bytes, start, end, "HEAD") { return .head }
        return .other
    }

    /// Scans the request target (visible ASCII only) and the single space after it.
    private mutating func scanTarget() throws(ScanStop) -> TargetBounds {
        var target = TargetBounds(start: pos, end: pos)
        var i = pos
        while true {
            i = ASCII.skipPlainTargetBytes(bytes, from: i, to: readable)
            let b = try byte(i)
            if b == .space { break }
            guard b > .space, b < .del else {
                throw b == .cr ? bad("missing HTTP version") : reject(b, "invalid character in request target")
            }
            if b == .question, target.question < 0 {
                target.question = i
            } else if b == .hash, target.hash < 0 {
                target.hash = i
            }
            i += 1
        }
        guard i > target.start else { throw bad("invalid request line") }
        target.end = i
        pos = i + 1
        return target
    }

    /// Scans `HTTP/d.d CRLF`; only 1.0 and 1.1 are supported (505 otherwise).
    private mutating func scanVersion() throws(ScanStop) -> UInt8 {
        // Fast path: "HTTP/1.1\r\n" or "HTTP/1.0\r\n" as one word and CRLF, as the steps below would.
        if pos + 10 <= readable, bytes.loadUnaligned(fromByteOffset: pos + 8, as: UInt16.self) == HeadScanner.crlf {
            let word = bytes.loadUnaligned(fromByteOffset: pos, as: UInt64.self)
            if word == HeadScanner.word("HTTP/1.1") { pos += 10; return 1 }
            if word == HeadScanner.word("HTTP/1.0") { pos += 10; return 0 }
        }
        try expectLiteral("HTTP/")
        guard try digit() == 1 else { throw .failure(.versionNotSupported) }
        try expectLiteral(".")
        let minor = try digit()
        guard minor <= 1 else { throw .failure(.versionNotSupported) }
        try expectCRLF()
        return minor
    }

    /// Consumes the exact bytes of `literal`.
    private mutating func expectLiteral(_ literal: StaticString) throws(ScanStop) {
        for i in 0..<literal.utf8CodeUnitCount {
            let b = try byte(pos)
            guard b == literal.utf8Start[i] else { throw reject(b, "invalid HTTP version") }
            pos += 1
        }
    }

    /// Consumes one decimal digit and returns its value.
    private mutating func digit() throws(ScanStop) -> UInt8 {
        let b = try byte(pos)
        guard b &- .digitZero < 10 else { throw reject(b, "invalid HTTP version") }
        pos += 1
        return b &- .digitZero
    }

    /// Derives path and query from the target (origin-form, or absolute-form `http[s]://authority/path`).
    private func resolve(_ target: TargetBounds, into head: inout HTTPRequestHead) throws(ScanStop) {
        var pathStart = target.start
        if bytes[pathStart] != .slash { pathStart = try absoluteFormPathStart(target) }
        var pathEnd = target.end
        if target.question >= 0 { pathEnd = target.question }
        if target.hash >= 0, target.hash < pathEnd { pathEnd = target.hash }
        head.path = ByteRange(pathStart, pathEnd)
        if target.question >= 0, target.question == pathEnd {
            head.query = ByteRange(target.question + 1, target.hash >= 0 ? target.hash : target.end)
        }
    }

    /// For `http://authority/path` or `https://…`, the offset of the path's '/'; 400 for any other form.
    private func absoluteFormPathStart(_ target: TargetBounds) throws(ScanStop) -> Int {
        var i = target.start
        if ASCII.hasPrefixIgnoringCase(bytes, i, target.end, "http://") {
            i += 7
        } else if ASCII.hasPrefixIgnoringCase(bytes, i, target.end, "https://") {
            i += 8
        } else {
            throw bad("invalid request target")
        }
        let authorityStart = i
        while i < target.end, bytes[i] != .slash, bytes[i] != .question, bytes[i] != .hash { i += 1 }
        guard i > authorityStart, i < target.end, bytes[i] == .slash else { throw bad("invalid request target") }
        return i
    }

    // MARK: Header fields

    /// Scans one field line and records it; returns true after consuming the empty line that ends the head.
    private mutating func headerLine(into head: inout HTTPRequestHead, fields: inout FieldState) throws(ScanStop) -> Bool {
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
    private mutating func scanFieldName() throws(ScanStop) -> ByteRange {
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
    private mutating func scanFieldValue() throws(ScanStop) -> ByteRange {
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
    private func record(
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
    private func isName(_ name: ByteRange, _ lowercase: StaticString) -> Bool {
        name.count == lowercase.utf8CodeUnitCount && ASCII.tokenEqualsLowercase(bytes, Int(name.start), lowercase)
    }

    /// Parses a Content-Length value: digits only, no overflow, within `maxBodyBytes`, consistent with repeats.
    private func recordContentLength(_ value: ByteRange, fields: inout FieldState) throws(ScanStop) {
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
    private func recordConnection(_ value: ByteRange, fields: inout FieldState) {
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
    private func bodyType(_ value: ByteRange) -> HTTPBodyType {
        var i = Int(value.start)
        while i < Int(value.end), bytes[i] != .semicolon { i += 1 }
        let mediaType = ASCII.trimmingTrailingOWS(bytes, ByteRange(Int(value.start), i))
        if ASCII.equalsIgnoringCase(bytes, mediaType, "application/x-www-form-urlencoded") { return .form }
        if ASCII.equalsIgnoringCase(bytes, mediaType, "application/json") { return .json }
        return .other
    }

    // MARK: Framing

    /// Resolves Transfer-Encoding / Content-Length (RFC 7230 §3.3.3), persistence and the body range.
    private func applyFraming(_ fields: FieldState, to head: inout HTTPRequestHead) throws(ScanStop) {
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

    // MARK: Errors

    /// A 400 with `reason`.
    @inline(__always)
    private func bad(_ reason: StaticString) -> ScanStop {
        .failure(.badRequest(reason))
    }

    /// A 400 for the unexpected byte `b`: "bare LF in request" if it is LF, else `reason`.
    private func reject(_ b: UInt8, _ reason: StaticString) -> ScanStop {
        bad(b == .lf ? "bare LF in request" : reason)
    }
}
