// A blocking HTTP client over one libcurl easy handle, for callers off the hot path: the exporter
// thread and `trackstar report` (ClickHouse), and the CLI's calls to the admin listener. The handle
// is reused, so its connection stays open between requests; answers arrive through curl's write
// callback into one growing buffer, and every curl call's result is checked and named.
import CTrackstarCurl
import TrackstarCore
import TrackstarConfiguration

/// An HTTP answer.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// Whether this transfer opened a new connection (false: it reused the client's open one).
    public var openedConnection: Bool
    /// The body as text (for errors and TabSeparated results).
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// The request methods the callers need.
public enum HTTPMethod: Sendable {
    case get, post
}

/// Talks to one base URL (`http[s]://HOST:PORT`) over one kept-alive connection. One thread at a time.
public final class HTTPClient {
    /// Scheme, host and port; a request's target is appended to it.
    public let baseURL: String
    /// A connection attempt, or an answer that stalls (no byte either way), fails after this long.
    public let timeoutSeconds: Int
    private let easy: UnsafeMutableRawPointer
    private let headers: UnsafeMutablePointer<curl_slist>
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let answer = AnswerBuffer()

    /// A client for `baseURL` (e.g. `ExportURL.base`), with basic authentication when `user` is set.
    /// https certificates are verified against the system's CA store, or against `caFile` (PEM) when given.
    public init(baseURL: String, user: String? = nil, password: String? = nil, caFile: String? = nil,
                timeoutSeconds: Int = 60) throws(ExportError) {
        self.baseURL = baseURL
        self.timeoutSeconds = timeoutSeconds
        let global = CURLcode(UInt32(bitPattern: ts_curl_global_init_once()))
        guard global == CURLE_OK else { throw HTTPClient.failure("curl_global_init", global, detail: "", url: baseURL) }
        guard let easy = curl_easy_init() else { throw ExportError("\(baseURL): curl_easy_init failed (out of memory?)") }
        // The header list: a raw body, and no `Expect: 100-continue` round trip before large bodies.
        guard let first = curl_slist_append(nil, "Content-Type: application/octet-stream") else {
            curl_easy_cleanup(easy)
            throw ExportError("\(baseURL): curl_slist_append failed (out of memory)")
        }
        guard let headers = curl_slist_append(first, "Expect:") else {
            curl_slist_free_all(first)
            curl_easy_cleanup(easy)
            throw ExportError("\(baseURL): curl_slist_append failed (out of memory)")
        }
        self.easy = easy
        self.headers = headers
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        try configure(user: user, password: password, caFile: caFile)
    }

    deinit {
        curl_easy_cleanup(easy)
        curl_slist_free_all(headers)
        errorBuffer.deallocate()
    }

    /// Sends `method baseURL+target` with `body` (POST) and returns the whole answer.
    public func request(_ method: HTTPMethod, _ target: String, body: [UInt8] = []) throws(ExportError) -> HTTPResponse {
        // Array.withUnsafeBytes rethrows untyped errors, so the request's failure comes out as a Result.
        try body.withUnsafeBytes { bytes -> Result<HTTPResponse, ExportError> in
            do throws(ExportError) { return .success(try request(method, target, body: bytes)) } catch { return .failure(error) }
        }.get()
    }

    /// Sends `method baseURL+target` with the bytes of `body` (POST), which curl reads in place
    /// (no copy: a sink's insert buffer goes out as it is), and returns the whole answer.
    public func request(_ method: HTTPMethod, _ target: String, body: UnsafeRawBufferPointer) throws(ExportError) -> HTTPResponse {
        answer.bytes.removeAll(keepingCapacity: true)
        errorBuffer[0] = 0
        try set(CURLOPT_URL, "setting the URL") { ts_curl_setopt_str(easy, CURLOPT_URL, baseURL + target) }
        let result: CURLcode
        switch method {
        case .get:
            try set(CURLOPT_HTTPGET, "choosing GET") { ts_curl_setopt_long(easy, CURLOPT_HTTPGET, 1) }
            result = curl_easy_perform(easy)
        case .post:
            try set(CURLOPT_POST, "choosing POST") { ts_curl_setopt_long(easy, CURLOPT_POST, 1) }
            try set(CURLOPT_POSTFIELDSIZE_LARGE, "setting the body size") {
                ts_curl_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, Int64(body.count))
            }
            result = try perform(body: body)
        }
        guard result == CURLE_OK else { throw failure("curl_easy_perform", result, target: target) }
        var status = 0, connects = 0
        try info(CURLINFO_RESPONSE_CODE, into: &status, target: target)
        try info(CURLINFO_NUM_CONNECTS, into: &connects, target: target)
        return HTTPResponse(status: status, body: answer.bytes, openedConnection: connects > 0)
    }

    /// Runs a POST whose body curl reads in place (CURLOPT_POSTFIELDS does not copy, so the bytes must
    /// stay put for exactly the duration of curl_easy_perform, which the caller's pointer guarantees).
    private func perform(body: UnsafeRawBufferPointer) throws(ExportError) -> CURLcode {
        guard body.count > 0, let start = body.baseAddress else {
            // A NULL body would make curl read the body from stdin; an empty copied one sends nothing.
            try set(CURLOPT_COPYPOSTFIELDS, "setting an empty body") { ts_curl_setopt_str(easy, CURLOPT_COPYPOSTFIELDS, "") }
            return curl_easy_perform(easy)
        }
        let pointer = UnsafeMutableRawPointer(mutating: start)
        try set(CURLOPT_POSTFIELDS, "setting the body") { ts_curl_setopt_ptr(easy, CURLOPT_POSTFIELDS, pointer) }
        return curl_easy_perform(easy)
    }

    /// The options that stay the same for every request of this client.
    private func configure(user: String?, password: String?, caFile: String?) throws(ExportError) {
        let seconds = max(timeoutSeconds, 1)
        try set(CURLOPT_ERRORBUFFER, "setting the error buffer") { ts_curl_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer) }
        try set(CURLOPT_NOSIGNAL, "turning off signals") { ts_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1) }
        try set(CURLOPT_PROTOCOLS_STR, "limiting protocols") { ts_curl_setopt_str(easy, CURLOPT_PROTOCOLS_STR, "http,https") }
        try set(CURLOPT_CONNECTTIMEOUT, "setting the connect timeout") { ts_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT, seconds) }
        // A stall, not a total, limit: a large insert or report query may take longer than `seconds`
        // while bytes still move (the hand-written client's per-read timeout behaved the same way).
        try set(CURLOPT_LOW_SPEED_LIMIT, "setting the stall limit") { ts_curl_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, 1) }
        try set(CURLOPT_LOW_SPEED_TIME, "setting the stall time") { ts_curl_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, seconds) }
        try set(CURLOPT_USERAGENT, "setting the user agent") { ts_curl_setopt_str(easy, CURLOPT_USERAGENT, "Trackstar/1") }
        try set(CURLOPT_HTTPHEADER, "setting the headers") { ts_curl_setopt_ptr(easy, CURLOPT_HTTPHEADER, headers) }
        try set(CURLOPT_WRITEDATA, "setting the answer buffer") {
            ts_curl_setopt_ptr(easy, CURLOPT_WRITEDATA, Unmanaged.passUnretained(answer).toOpaque())
        }
        try set(CURLOPT_WRITEFUNCTION, "setting the write callback") {
            ts_curl_setopt_write_function(easy) { data, size, count, context in
                let bytes = size * count
                guard let context else { return 0 }
                let buffer = Unmanaged<AnswerBuffer>.fromOpaque(context).takeUnretainedValue()
                buffer.bytes.append(contentsOf: UnsafeRawBufferPointer(start: UnsafeRawPointer(data), count: bytes))
                return bytes
            }
        }
        if let caFile {
            try set(CURLOPT_CAINFO, "setting the CA file") { ts_curl_setopt_str(easy, CURLOPT_CAINFO, caFile) }
        }
        if let user {
            try set(CURLOPT_USERNAME, "setting basic authentication") { ts_curl_setopt_basic_auth(easy, user, password ?? "") }
        }
    }

    /// Runs one wrapped setopt and throws its failure, named.
    private func set(_ option: CURLoption, _ doing: String, _ call: () -> Int32) throws(ExportError) {
        let code = CURLcode(UInt32(bitPattern: call()))
        guard code == CURLE_OK else {
            throw HTTPClient.failure("curl_easy_setopt (\(doing), option \(option.rawValue))", code, detail: "", url: baseURL)
        }
    }

    private func info(_ item: CURLINFO, into value: inout Int, target: String) throws(ExportError) {
        var long = 0
        let code = CURLcode(UInt32(bitPattern: ts_curl_getinfo_long(easy, item, &long)))
        guard code == CURLE_OK else { throw failure("curl_easy_getinfo (item \(item.rawValue))", code, target: target) }
        value = long
    }

    /// Names a failed call with the request's URL up to its query (an insert's query is long).
    private func failure(_ call: String, _ code: CURLcode, target: String) -> ExportError {
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return HTTPClient.failure(call, code, detail: String(cString: errorBuffer), url: baseURL + path)
    }

    /// `URL: call: curl's name for the code (its detail)`, e.g. "…: curl_easy_perform: Couldn't connect
    /// to server (Failed to connect to 127.0.0.1 port 1: Connection refused)".
    static func failure(_ call: String, _ code: CURLcode, detail: String, url: String) -> ExportError {
        let name = String(cString: curl_easy_strerror(code))
        return ExportError("\(url): \(call): \(name)" + (detail.isEmpty || detail == name ? "" : " (\(detail))"))
    }

    /// Percent-encodes a query parameter value with `ByteWriter`'s encoder (RFC 3986 unreserved kept).
    public static func encode(_ text: String) -> String {
        let bytes = Array(text.utf8)
        let capacity = bytes.count * 3  // every byte at most %XX
        return String(unsafeUninitializedCapacity: max(capacity, 1)) { output in
            var writer = ByteWriter(base: UnsafeMutableRawPointer(output.baseAddress!), capacity: capacity)
            bytes.withUnsafeBytes { writer.appendPercentEncoded($0) }
            return writer.count
        }
    }
}

/// The answer being received: curl's write callback appends to it (amortised growth, no re-scan).
private final class AnswerBuffer {
    var bytes: [UInt8] = []
}
