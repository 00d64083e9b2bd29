// The request line (RFC 7230 §3.1.1): method, target (origin or absolute form, split into path and
// query), version; eight bytes a step over plain runs of the target.

extension HeadScanner {
    // MARK: Request line

    /// Scans the request line and fills method, version, path and query.
    mutating func requestLine(into head: inout HTTPRequestHead) throws(ScanStop) {
        head.method = try scanMethod()
        let target = try scanTarget()
        head.versionMinor = try scanVersion()
        try resolve(target, into: &head)
    }

    /// Scans the method token and the single space after it.
    mutating func scanMethod() throws(ScanStop) -> HTTPMethod {
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
    func classifyMethod(_ start: Int, _ end: Int) -> HTTPMethod {
        if ASCII.equals(bytes, start, end, "GET") { return .get }
        if ASCII.equals(bytes, start, end, "POST") { return .post }
        if ASCII.equals(bytes, start, end, "HEAD") { return .head }
        return .other
    }

    /// Scans the request target (visible ASCII only) and the single space after it.
    mutating func scanTarget() throws(ScanStop) -> TargetBounds {
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
    mutating func scanVersion() throws(ScanStop) -> UInt8 {
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
    mutating func expectLiteral(_ literal: StaticString) throws(ScanStop) {
        for i in 0..<literal.utf8CodeUnitCount {
            let b = try byte(pos)
            guard b == literal.utf8Start[i] else { throw reject(b, "invalid HTTP version") }
            pos += 1
        }
    }

    /// Consumes one decimal digit and returns its value.
    mutating func digit() throws(ScanStop) -> UInt8 {
        let b = try byte(pos)
        guard b &- .digitZero < 10 else { throw reject(b, "invalid HTTP version") }
        pos += 1
        return b &- .digitZero
    }

    /// Derives path and query from the target (origin-form, or absolute-form `http[s]://authority/path`).
    func resolve(_ target: TargetBounds, into head: inout HTTPRequestHead) throws(ScanStop) {
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
    func absoluteFormPathStart(_ target: TargetBounds) throws(ScanStop) -> Int {
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
}
