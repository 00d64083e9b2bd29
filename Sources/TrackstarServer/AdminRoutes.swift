// The admin endpoints, one table entry each. To add one (say `GET /deliveries`), append an
// `AdminRoute` to `AdminRoutes.all` with a function from request to response: `AdminHandler` does
// the parsing, HEAD, 404 for unknown paths and 405 (with `Allow`) for a known path's other methods.
import TrackstarCore
import TrackstarHTTP

/// One admin request, copied out of the read buffer (the admin path may allocate).
struct AdminRequest: Sendable {
    var method: HTTPMethod
    /// The path without the query, e.g. `/metrics`.
    var path: String
    /// The bytes after `?` (still percent-encoded); empty if none.
    var query: String
    var body: [UInt8]
    var nowMillis: Int64
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
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
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
}

/// The admin endpoints.
enum AdminRoutes {
    static let all: [AdminRoute] = [
        AdminRoute(.get, "/metrics", metrics),
        AdminRoute(.get, "/healthz", healthz),
        AdminRoute(.get, "/readyz", readyz),
    ]

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
