// libFuzzer harness: HTTPParser.parse over arbitrary bytes, as the server drives it (every pipelined
// request in turn), then QueryPairs and PercentDecoding over each request's query and body.
//
// Invariants checked, under the default limits and under tiny ones (so limit paths are reached):
// - every range lies inside the head, the body is [headerLength, totalLength), totalLength <= input;
// - the head is well formed: ends in CRLF CRLF, no bare LF, no NUL, the path starts with '/',
//   no Transfer-Encoding, Content-Length values all equal to contentLength, at most one Host;
// - the documented limits hold exactly (request line, header bytes, header count, body);
// - `.incomplete` only while fewer bytes than the largest acceptable request are buffered;
// - `100 Continue` is wanted exactly when a head with `Expect: 100-continue` is complete and no byte
//   of its (non-empty) body has arrived;
// - a result does not depend on bytes after the request (complete) or after the failure point;
// - QueryPairs and PercentDecoding agree with the reference models in FuzzSupport;
// - the Host syntax check agrees with the reference on the input and on each of its lines.
import FuzzSupport
@testable import TrackstarHTTP

let limitSets = [
    HTTPLimits(),
    HTTPLimits(maxRequestLineBytes: 48, maxHeaderBytes: 96, maxHeaderCount: 3, maxBodyBytes: 24),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    for limits in limitSets { checkPipeline(input, limits) }
    checkHostSyntax(input)
    return 0
}

/// `HostSyntax.isValid` agrees with the reference on the whole input and on every CRLF-separated part.
func checkHostSyntax(_ input: UnsafeRawBufferPointer) {
    var start = 0
    for i in 0...input.count where i == input.count || input[i] == 0x0A {
        for range in [ByteRange(start..<i), ByteRange(start..<max(start, i - 1))] {
            let expected = Reference.isValidHost(Array(input[range.range]))
            require(HostSyntax.isValid(input, range) == expected, "Host \(show(input[range.range])): reference says \(expected)")
        }
        start = i + 1
    }
}

/// Parses request after request, like `RequestHandler.process`.
func checkPipeline(_ input: UnsafeRawBufferPointer, _ limits: HTTPLimits) {
    var offset = 0
    while offset < input.count {
        let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
        let result = HTTPParser.parse(rest, limits: limits)
        switch result {
        case .incomplete:
            // The server keeps an incomplete request in a tail of line + header + body bytes (+ slack).
            let largest = limits.maxRequestLineBytes + 2 + limits.maxHeaderBytes + limits.maxBodyBytes
            require(rest.count < largest, "incomplete with \(rest.count) bytes buffered (largest request \(largest))")
            checkPrefixes(rest, result, limits)
            return
        case .failure(let error):
            require([400, 413, 414, 431, 501, 505].contains(error.status), "unexpected status \(error.status)")
            checkPrefixes(rest, result, limits)
            return
        case .complete(let head):
            checkHead(head, rest, limits)
            // Stable: the same request alone parses the same; any shorter prefix is incomplete.
            let alone = UnsafeRawBufferPointer(rebasing: rest[0..<head.totalLength])
            require(HTTPParser.parse(alone, limits: limits) == result, "result changes when later bytes are removed")
            checkPrefixes(alone, result, limits)
            offset += head.totalLength
        }
    }
}

/// Cut points: each prefix must be incomplete, or (for a failure) fail the same way.
func checkPrefixes(_ bytes: UnsafeRawBufferPointer, _ full: HTTPParseResult, _ limits: HTTPLimits) {
    guard bytes.count > 0 else { return }
    var cuts = [bytes.count - 1, bytes.count / 2, Int(bytes[bytes.count - 1]) % bytes.count]
    if case .complete(let head) = full { cuts += [head.headerLength - 1, head.headerLength] }
    for cut in cuts where cut >= 0 && cut < bytes.count {
        let prefix = UnsafeRawBufferPointer(rebasing: bytes[0..<cut])
        var continueWanted = false
        let result = HTTPParser.parse(prefix, limits: limits, continueWanted: &continueWanted)
        require(result == HTTPParser.parse(prefix, limits: limits), "parse(continueWanted:) differs from parse")
        if case .complete(let head) = full {
            let wanted = head.expectContinue && !head.lacksRequiredHost && head.contentLength > 0 && cut == head.headerLength
            require(continueWanted == wanted, "100 Continue \(continueWanted ? "" : "not ")wanted at \(cut) bytes: \(show(bytes))")
        } else if case .failure = full {
            require(!continueWanted || result == .incomplete, "100 Continue wanted without an incomplete result")
        }
        switch (full, result) {
        case (_, .incomplete): break
        case (.failure, .failure): require(result == full, "prefix of \(cut) bytes fails differently: \(result) vs \(full)")
        default: require(false, "prefix of \(cut) bytes gives \(result), whole gives \(full): \(show(bytes))")
        }
    }
}

func checkHead(_ head: HTTPRequestHead, _ rest: UnsafeRawBufferPointer, _ limits: HTTPLimits) {
    let bytes = Array(rest[0..<head.headerLength])
    // Framing.
    require(head.headerLength >= 16 && head.headerLength <= rest.count, "headerLength \(head.headerLength)")
    require(head.contentLength >= 0 && head.contentLength <= limits.maxBodyBytes, "contentLength \(head.contentLength)")
    require(head.totalLength == head.headerLength + head.contentLength, "totalLength \(head.totalLength)")
    require(head.totalLength <= rest.count, "totalLength \(head.totalLength) beyond input \(rest.count)")
    require(head.body.range == head.headerLength..<head.totalLength, "body \(head.body)")
    require(head.versionMinor <= 1, "version 1.\(head.versionMinor)")
    for range in [head.path, head.query, head.host, head.userAgent, head.xForwardedFor, head.forwarded, head.xRealIP] {
        require(range.start >= 0 && range.start <= range.end && Int(range.end) <= head.headerLength, "range \(range) outside head")
    }
    // Syntax of the head.
    require(bytes.suffix(4) == [13, 10, 13, 10], "head does not end in CRLF CRLF")
    for (i, b) in bytes.enumerated() {
        require(b != 0, "NUL in an accepted head")
        if b == 10 { require(i > 0 && bytes[i - 1] == 13, "bare LF at \(i) in an accepted head: \(show(bytes))") }
        if b == 13 { require(i + 1 < bytes.count && bytes[i + 1] == 10, "bare CR at \(i) in an accepted head") }
    }
    let path = bytes[head.path.range]
    require(path.first == UInt8(ascii: "/"), "path does not start with '/'")
    require(path.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }, "path bytes")
    if !head.query.isEmpty {
        require(head.query.start == head.path.end + 1 && bytes[Int(head.path.end)] == UInt8(ascii: "?"), "query not after '?'")
        require(bytes[head.query.range].allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }, "query bytes")
    }
    for range in [head.host, head.userAgent, head.xForwardedFor, head.forwarded, head.xRealIP] where !range.isEmpty {
        let value = bytes[range.range]
        require(value.allSatisfy { $0 == 9 || ($0 >= 0x20 && $0 != 0x7F) }, "control byte in a header value")
        require(![9, 32].contains(value.first!) && ![9, 32].contains(value.last!), "header value not trimmed")
    }
    checkLinesAndLimits(bytes, head, limits)
    // Parameters.
    checkPairs(rest, head.query)
    checkPairs(rest, head.body)
}

/// Re-splits the head into lines with a naive reader and checks limits and framing headers.
func checkLinesAndLimits(_ bytes: [UInt8], _ head: HTTPRequestHead, _ limits: HTTPLimits) {
    var lines: [ArraySlice<UInt8>] = []
    var start = 0
    var i = 0
    while i + 1 < bytes.count {
        if bytes[i] == 13 && bytes[i + 1] == 10 { lines.append(bytes[start..<i]); i += 2; start = i } else { i += 1 }
    }
    var leading = 0
    while lines.first?.isEmpty == true { lines.removeFirst(); leading += 2 }
    let requestLine = lines.removeFirst()
    require(lines.last?.isEmpty == true, "no empty line at the end of the head")
    lines.removeLast()
    require(leading + requestLine.count <= limits.maxRequestLineBytes, "request line of \(requestLine.count) (+\(leading)) accepted")
    let headerSection = head.headerLength - (leading + requestLine.count + 2)
    require(headerSection <= limits.maxHeaderBytes, "header section of \(headerSection) bytes accepted")
    require(lines.count <= limits.maxHeaderCount, "\(lines.count) header lines accepted")
    let method = requestLine.prefix { $0 != 32 }
    switch head.method {
    case .get: require(Array(method) == Array("GET".utf8), "method GET")
    case .post: require(Array(method) == Array("POST".utf8), "method POST")
    case .head: require(Array(method) == Array("HEAD".utf8), "method HEAD")
    case .other: require(![Array("GET".utf8), Array("POST".utf8), Array("HEAD".utf8)].contains(Array(method)), "method other")
    }
    var hosts = 0
    var sawLength = false
    for line in lines {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { require(false, "header line without colon"); return }
        let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self).lowercased()
        var value = line[(colon + 1)...]
        while let f = value.first, f == 32 || f == 9 { value.removeFirst() }
        while let l = value.last, l == 32 || l == 9 { value.removeLast() }
        require(!name.isEmpty, "empty header name")
        switch name {
        case "transfer-encoding":
            require(false, "a request with Transfer-Encoding was accepted: \(show(bytes))")
        case "content-length":
            sawLength = true
            let digits = value.drop { $0 == UInt8(ascii: "0") }
            require(value.allSatisfy { $0 >= 48 && $0 <= 57 } && !value.isEmpty, "Content-Length \(show(value)) accepted")
            require(digits.count <= 18 && Int(String(decoding: digits, as: UTF8.self)) ?? 0 == head.contentLength,
                    "Content-Length \(show(value)) but contentLength \(head.contentLength)")
        case "host":
            hosts += 1
            require(Array(value) == Array(bytes[head.host.range]), "host range")
        default: break
        }
    }
    require(hosts <= 1, "\(hosts) Host headers accepted")
    require(sawLength || head.contentLength == 0, "contentLength \(head.contentLength) without Content-Length")
}
