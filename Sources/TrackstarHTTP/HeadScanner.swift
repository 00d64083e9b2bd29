// The request-head scanner's state and cursor: reads the caller's buffer in place and throws
// `.incomplete` (or the active limit's error) when it runs out. The request line and the header fields
// are scanned in HeadScanner+RequestLine.swift and HeadScanner+Fields.swift.

/// A cursor over the request bytes that throws `.incomplete` (or the active limit's error) when it runs out.
struct HeadScanner {
    /// The whole request buffer.
    let bytes: UnsafeRawBufferPointer
    /// Offset of the next unread byte.
    var pos = 0
    /// Reads at or beyond this offset exceed the active limit.
    var cap: Int
    /// `min(bytes.count, cap)`: reads below it succeed.
    var readable: Int
    /// Thrown when a read reaches `cap`.
    var capError: HTTPParseError = .uriTooLong
    let maxRequestLine: Int
    let maxHeaderBytes: Int
    let maxHeaderCount: Int
    let maxBody: Int

    /// Creates a scanner, clamping limits to 512 MiB so every offset fits a `ByteRange`. Inlined into
    /// `parse` as it was before the file split (callgrind: a call of its own cost ~10 instructions a request).
    @inline(__always)
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
    mutating func setCap(_ newCap: Int, error: HTTPParseError) {
        cap = newCap
        capError = error
        readable = min(bytes.count, newCap)
    }

    /// The byte at `i`, or a throw: `.incomplete` past the buffer, the cap error past the limit.
    @inline(__always)
    func byte(_ i: Int) throws(ScanStop) -> UInt8 {
        guard i < readable else { throw i >= cap ? .failure(capError) : .incomplete }
        return bytes[i]
    }

    /// Consumes CR LF at `pos`.
    @inline(__always)
    mutating func expectCRLF() throws(ScanStop) {
        if pos + 1 < readable, bytes[pos] == .cr, bytes[pos + 1] == .lf {
            pos += 2
        } else {
            try expectCRLFSlowly()
        }
    }

    /// `expectCRLF` when the bytes are missing or wrong: throws the matching stop.
    mutating func expectCRLFSlowly() throws(ScanStop) {
        let first = try byte(pos)
        guard first == .cr else { throw reject(first, "expected CRLF") }
        guard try byte(pos + 1) == .lf else { throw bad("bare CR in request") }
        pos += 2
    }

    // MARK: Errors

    /// A 400 with `reason`.
    @inline(__always)
    func bad(_ reason: StaticString) -> ScanStop {
        .failure(.badRequest(reason))
    }

    /// A 400 for the unexpected byte `b`: "bare LF in request" if it is LF, else `reason`.
    func reject(_ b: UInt8, _ reason: StaticString) -> ScanStop {
        bad(b == .lf ? "bare LF in request" : reason)
    }
}
