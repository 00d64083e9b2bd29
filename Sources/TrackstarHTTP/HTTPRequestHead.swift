// Value types produced by `HTTPParser`: byte ranges into the caller's buffer, the parsed request head,
// parser limits, and the parse errors with their HTTP status codes. Nothing here allocates.

/// Offsets [start, end) into the buffer given to the parser.
public struct ByteRange: Sendable, Equatable {
    /// First byte of the range.
    public var start: Int32
    /// One past the last byte of the range.
    public var end: Int32

    /// An empty range at offset 0.
    public static let empty = ByteRange(start: 0, end: 0)

    /// Creates the range [start, end).
    @inline(__always)
    public init(start: Int32, end: Int32) {
        self.start = start
        self.end = end
    }

    /// Creates a range from an `Int` range; the bounds must fit in `Int32`.
    @inline(__always)
    public init(_ range: Range<Int>) {
        self.start = Int32(range.lowerBound)
        self.end = Int32(range.upperBound)
    }

    /// Internal unchecked constructor for parser offsets, which the clamped limits keep within `Int32`.
    /// Inlinable for the query scanner, which is inlined into the server's parameter collection.
    @inlinable @inline(__always)
    init(_ start: Int, _ end: Int) {
        self.start = Int32(truncatingIfNeeded: start)
        self.end = Int32(truncatingIfNeeded: end)
    }

    /// Number of bytes in the range.
    @inline(__always)
    public var count: Int { Int(end) - Int(start) }

    /// True when the range holds no bytes.
    @inline(__always)
    public var isEmpty: Bool { end <= start }

    /// The range as `Range<Int>`.
    public var range: Range<Int> { Int(start)..<Int(end) }

    /// The bytes this range denotes inside `buffer` (the buffer the range's offsets refer to).
    @inline(__always)
    public func bytes(in buffer: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffer[Int(start)..<Int(end)])
    }
}

/// The body's media type, as far as the tracker tells them apart (parameters after ';' ignored).
public enum HTTPBodyType: UInt8, Sendable {
    /// No Content-Type header.
    case absent
    /// application/x-www-form-urlencoded
    case form
    /// application/json
    case json
    /// Any other media type (a postback with a body of this type is answered 415).
    case other
}

/// Request methods the tracker distinguishes; every other token is `.other` (not an error).
public enum HTTPMethod: UInt8, Sendable {
    case get, head, post, other
}

/// Size limits enforced while parsing; exceeding one fails the request as early as possible.
public struct HTTPLimits: Sendable, Equatable {
    /// Longest request line (without its CRLF; leading empty lines count too) → 414 beyond.
    public var maxRequestLineBytes: Int
    /// Longest header section (all field lines plus the final empty line) → 431 beyond.
    public var maxHeaderBytes: Int
    /// Most header field lines → 431 beyond.
    public var maxHeaderCount: Int
    /// Largest accepted Content-Length → 413 beyond.
    public var maxBodyBytes: Int

    /// Creates limits; the defaults suit a click tracker. Values above 512 MiB are clamped by the parser.
    public init(
        maxRequestLineBytes: Int = 8192,
        maxHeaderBytes: Int = 16384,
        maxHeaderCount: Int = 64,
        maxBodyBytes: Int = 65536
    ) {
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}

/// A parsed request head; every `ByteRange` is relative to the start of the buffer given to the parser.
public struct HTTPRequestHead: Sendable, Equatable {
    /// The request method.
    public var method: HTTPMethod
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var versionMinor: UInt8
    /// Request target up to '?' or '#', always starting with '/' (taken from the absolute form if needed).
    public var path: ByteRange
    /// The bytes after '?', excluding any '#fragment'; empty if none.
    public var query: ByteRange
    /// Whether the connection may be reused after this request (version default plus Connection tokens).
    public var keepAlive: Bool
    /// The body length; 0 if Content-Length is absent.
    public var contentLength: Int
    /// The Content-Type's media type (last occurrence); `.absent` without the header.
    public var bodyType: HTTPBodyType
    /// Content-Type is application/x-www-form-urlencoded (parameters after ';' ignored).
    public var isFormBody: Bool { bodyType == .form }
    /// The client sent "Expect: 100-continue" (ignored for HTTP/1.0, as RFC 7231 requires).
    public var expectContinue: Bool
    /// Host header value, trimmed of OWS; empty if absent (or sent empty: see `hasHost`).
    public var host: ByteRange
    /// A Host header was sent (its value is valid: the parser refuses an invalid one).
    public var hasHost: Bool
    /// User-Agent header value (last occurrence), trimmed; empty if absent.
    public var userAgent: ByteRange
    /// X-Forwarded-For header value (last occurrence), trimmed; empty if absent.
    public var xForwardedFor: ByteRange
    /// Forwarded header value (last occurrence), trimmed; empty if absent.
    public var forwarded: ByteRange
    /// X-Real-IP header value (last occurrence), trimmed; empty if absent.
    public var xRealIP: ByteRange
    /// Bytes of leading empty lines, request line, header fields and the final CRLF CRLF.
    public var headerLength: Int
    /// The body: [headerLength, headerLength + contentLength).
    public var body: ByteRange
    /// headerLength + contentLength: how far to advance to reach the next pipelined request.
    public var totalLength: Int

    /// An HTTP/1.1 request without Host, which RFC 9112 §3.2 requires servers to answer 400. The
    /// parser does not refuse it itself (its unit tests use bare request lines); both listeners do.
    public var lacksRequiredHost: Bool { versionMinor == 1 && !hasHost }

    /// Creates an empty GET / HTTP/1.1 head (all ranges empty); the parser fills it in.
    public init() {
        method = .get
        versionMinor = 1
        path = .empty
        query = .empty
        keepAlive = true
        contentLength = 0
        bodyType = .absent
        expectContinue = false
        host = .empty
        hasHost = false
        userAgent = .empty
        xForwardedFor = .empty
        forwarded = .empty
        xRealIP = .empty
        headerLength = 0
        body = .empty
        totalLength = 0
    }
}

/// Why a request was rejected; each case maps to one HTTP status code.
public enum HTTPParseError: Error, Sendable, Equatable {
    /// 400, with a short reason such as "bare LF in request".
    case badRequest(StaticString)
    /// 414: the request line exceeds `maxRequestLineBytes`.
    case uriTooLong
    /// 431: the header section exceeds `maxHeaderBytes` or `maxHeaderCount`.
    case headersTooLarge
    /// 413: Content-Length exceeds `maxBodyBytes`.
    case bodyTooLarge
    /// 501: Transfer-Encoding without Content-Length (chunked bodies are not supported).
    case unsupportedTransferEncoding
    /// 505: an HTTP version other than 1.0 or 1.1.
    case versionNotSupported

    /// The HTTP status code to answer with.
    public var status: Int {
        switch self {
        case .badRequest: 400
        case .uriTooLong: 414
        case .headersTooLarge: 431
        case .bodyTooLarge: 413
        case .unsupportedTransferEncoding: 501
        case .versionNotSupported: 505
        }
    }

    /// Short human text for the JSON error body.
    public var reason: StaticString {
        switch self {
        case .badRequest(let reason): reason
        case .uriTooLong: "request line too long"
        case .headersTooLarge: "request header fields too large"
        case .bodyTooLarge: "request body too large"
        case .unsupportedTransferEncoding: "Transfer-Encoding not supported"
        case .versionNotSupported: "HTTP version not supported"
        }
    }

    /// Equal when the cases match and, for `.badRequest`, the reason texts are byte-for-byte equal.
    public static func == (lhs: HTTPParseError, rhs: HTTPParseError) -> Bool {
        switch (lhs, rhs) {
        case (.badRequest(let a), .badRequest(let b)): staticStringsEqual(a, b)
        case (.uriTooLong, .uriTooLong), (.headersTooLarge, .headersTooLarge),
            (.bodyTooLarge, .bodyTooLarge), (.unsupportedTransferEncoding, .unsupportedTransferEncoding),
            (.versionNotSupported, .versionNotSupported):
            true
        default: false
        }
    }
}

/// Compares two static strings by their UTF-8 bytes without allocating.
private func staticStringsEqual(_ a: StaticString, _ b: StaticString) -> Bool {
    guard a.hasPointerRepresentation, b.hasPointerRepresentation else {
        return !a.hasPointerRepresentation && !b.hasPointerRepresentation && a.unicodeScalar == b.unicodeScalar
    }
    guard a.utf8CodeUnitCount == b.utf8CodeUnitCount else { return false }
    for i in 0..<a.utf8CodeUnitCount where a.utf8Start[i] != b.utf8Start[i] {
        return false
    }
    return true
}

/// Outcome of one `HTTPParser.parse` call.
public enum HTTPParseResult: Sendable, Equatable {
    /// The head and the whole body are in the buffer.
    case complete(HTTPRequestHead)
    /// More bytes are needed; nothing seen so far is invalid or over a limit.
    case incomplete
    /// The request is invalid; answer with `error.status` and close.
    case failure(HTTPParseError)
}
