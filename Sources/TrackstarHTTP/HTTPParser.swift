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
