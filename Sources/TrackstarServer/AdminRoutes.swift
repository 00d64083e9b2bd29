// The admin endpoints, one table entry each. To add one (say `GET /deliveries`), append an
// `AdminRoute` to `AdminRoutes.all` with a function from request to response: `AdminHandler` does
// the parsing, HEAD, 404 for unknown paths and 405 (with `Allow`) for a known path's other methods.
import TrackstarCore
import TrackstarHTTP
import TrackstarDelivery
import TrackstarIO

/// One admin request, copied out of the read buffer (the admin path may allocate).
struct AdminRequest: Sendable {
    var method: HTTPMethod
    /// The path without the query, e.g. `/metrics`.
    var path: String
    /// The bytes after `?` (still percent-encoded); empty if none.
    var query: String
    var body: [UInt8]
    var nowMillis: Int64
    /// The method as sent (`PUT`, `PATCH`, `DELETE` are `.other` in `method`).
    var methodName: String = ""
    /// The `Authorization`, `If-Match` and `Content-Type` headers (the API's), and the client's address.
    var authorization: String? = nil
    var ifMatch: String? = nil
    var contentType: String = ""
    var peer: PeerAddress = .unknown
}

/// What an endpoint answers; the handler adds Date, Content-Length, Cache-Control and Connection.
struct AdminResponse: Sendable {
    var status: Int
    var contentType = "text/plain; charset=utf-8"
    var headers: [(name: String, value: String)] = []
    var body: [UInt8]

    /// A plain-text answer.
    static func text(_ status: Int, _ text: String) -> AdminResponse {
        AdminResponse(status: status, body: Array(text.utf8))
    }

    /// The reason phrase of the statuses the admin listener uses.
    static func phrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 412: "Precondition Failed"
        case 415: "Unsupported Media Type"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 408: "Request Timeout"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 431: "Request Header Fields Too Large"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }
}

/// An admin endpoint: a method and exact path, and the function that answers it (on the admin loop).
struct AdminRoute: Sendable {
    let method: HTTPMethod
    let path: String
    let answer: @Sendable (AdminRequest, AdminHandler) -> AdminResponse

    init(_ method: HTTPMethod, _ path: String, _ answer: @escaping @Sendable (AdminRequest, AdminHandler) -> AdminResponse) {
        self.method = method; self.path = path; self.answer = answer
    }

    /// Whether `requestPath` is this route's path; a `{name}` segment matches any one non-empty segment.
    func matches(_ requestPath: String) -> Bool {
        guard path.contains("{") else { return path == requestPath }
        let pattern = path.split(separator: "/", omittingEmptySubsequences: false)
        let actual = requestPath.split(separator: "/", omittingEmptySubsequences: false)
        guard pattern.count == actual.count else { return false }
        return zip(pattern, actual).allSatisfy { p, a in p.hasPrefix("{") ? !a.isEmpty : p == a }
    }
}

/// The admin endpoints.
enum AdminRoutes {
    static let all: [AdminRoute] = [
        AdminRoute(.get, "/metrics", metrics),
        AdminRoute(.get, "/healthz", healthz),
        AdminRoute(.get, "/readyz", readyz),
        AdminRoute(.get, "/deliveries", deliveries),
        AdminRoute(.post, "/deliveries/resume", resumeDeliveries),
        AdminRoute(.post, "/deliveries/retry", retryDeliveries),
        AdminRoute(.post, "/conversions/{id}/status", changeConversionStatus),
    ]

    /// Partner postbacks: endpoints, affiliates, pending, and (with `failed=1`) recent failures.
    /// `affiliate=ID` limits it to one affiliate. The same JSON as `trackstar deliveries --format json`.
    static func deliveries(_ request: AdminRequest, _ admin: AdminHandler) -> AdminResponse {
        guard let dispatcher = admin.engine?.deliveries else { return .text(503, "not started yet\n") }
        let query = AdminQuery(request.query)
        let affiliate = query["affiliate"].flatMap { UInt32($0) }
        if query["affiliate"] != nil && affiliate == nil { return .text(400, "affiliate: expected an affiliate id\n") }
        let body = DeliveryReport.json(dispatcher.snapshot, affiliate: affiliate, failed: query["failed"] == "1" || query["failed"] == "true")
        return AdminResponse(status: 200, contentType: "application/json", body: Array(body.utf8))
    }

    /// Resumes a paused endpoint: `POST /deliveries/resume?endpoint=https://partner.example:443`
    /// (any URL on the endpoint will do). 200 when resumed, 409 when it was not paused.
    static func resumeDeliveries(_ request: AdminRequest, _ admin: AdminHandler) -> AdminResponse {
        guard let dispatcher = admin.engine?.deliveries else { return .text(503, "not started yet\n") }
        let form = AdminQuery(request.query.isEmpty ? String(decoding: request.body, as: UTF8.self) : request.query)
        guard let text = form["endpoint"] else { return .text(400, "endpoint: missing; give endpoint=scheme://host:port\n") }
        guard let endpoint = PartnerTemplate.endpoint(of: text) else {
            return .text(400, "endpoint: expected scheme://host:port such as https://partner.example:443, got \(text)\n")
        }
        switch dispatcher.resume(endpoint: endpoint, timeoutMillis: 5000) {
        case true?: return .text(200, "resumed \(endpoint)\n")
        case false?: return .text(409, "\(endpoint) is not paused\n")
        case nil: return .text(503, "the dispatcher did not answer in time\n")
        }
    }

    /// Queues failed postbacks again: `POST /deliveries/retry?endpoint=…&affiliate=…&from=…&to=…&conversion=…`
    /// (at least one), `rerender=1` to render each URL from the current configuration, `request=ID` to
    /// make a repeated request do nothing more, `format=json` for a JSON answer. 200 with what was done.
    static func retryDeliveries(_ request: AdminRequest, _ admin: AdminHandler) -> AdminResponse {
        guard let dispatcher = admin.engine?.deliveries else { return .text(503, "not started yet\n") }
        let form = AdminQuery(request.query.isEmpty ? String(decoding: request.body, as: UTF8.self) : request.query)
        let selection: RetrySelection
        do { selection = try RetrySelection.parse { form[$0] } } catch { return .text(400, "\(error.description)\n") }
        guard let result = dispatcher.retryFailed(selection, timeoutMillis: 5000) else {
            return .text(503, "the dispatcher did not answer in time; send the same request (request=\(selection.requestID)) again\n")
        }
        let status = result.storageFailed ? 503 : 200
        if form["format"] == "json" { return AdminResponse(status: status, contentType: "application/json", body: Array(result.json.utf8)) }
        return .text(status, result.text)
    }

    /// The Prometheus page, the same text the public listener serves without `[admin]`.
    static func metrics(_ request: AdminRequest, _ admin: AdminHandler) -> AdminResponse {
        guard let page = admin.metricsPage else { return .text(503, "not started yet: \(admin.readinessReason(request) ?? "starting")\n") }
        guard let body = page.render() else { return .text(503, "the metrics page outgrew its buffer\n") }
        return AdminResponse(status: 200, contentType: "text/plain; version=0.0.4", body: body)
    }

    /// Liveness: the process runs and its admin loop answers.
    static func healthz(_ request: AdminRequest, _ admin: AdminHandler) -> AdminResponse {
        .text(200, "ok\n")
    }

    /// Readiness: 200 when the node should get traffic, else 503 with the reason (see `Readiness`).
    static func readyz(_ request: AdminRequest, _ admin: AdminHandler) -> AdminResponse {
        guard let reason = admin.readinessReason(request) else { return .text(200, "ready\n") }
        return .text(503, "not ready: \(reason)\n")
    }
}

/// `key=value&…` pairs of an admin query or form body, percent-decoded (admin path: may allocate).
struct AdminQuery {
    var pairs: [(String, String)] = []

    init(_ text: String) {
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            pairs.append((AdminQuery.decode(parts[0]), parts.count > 1 ? AdminQuery.decode(parts[1]) : ""))
        }
    }

    subscript(key: String) -> String? { pairs.first { $0.0 == key }?.1 }

    /// `%XX` and '+' decoded (TrackstarHTTP's PercentDecoding); a malformed escape leaves the text
    /// as it came, so a check of the value (an id, an endpoint) refuses it.
    static func decode(_ text: Substring) -> String {
        let raw = Array(text.utf8)
        var decoded = [UInt8](repeating: 0, count: raw.count)
        let count = raw.withUnsafeBytes { input in decoded.withUnsafeMutableBytes { PercentDecoding.decode(input, into: $0) } }
        guard let count else { return String(text) }
        return String(decoding: decoded[..<count], as: UTF8.self)
    }
}
