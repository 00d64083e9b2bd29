// The management API under /api/v1 on the admin listener: catalog collections (list, read, create,
// replace, patch, archive), the audit log, tokens, status, reports and the OpenAPI document. JSON in
// and out; every error is JSON with a message (and, for 422, each field's path and check-config's words).
import TrackstarCore
import TrackstarConfiguration
import TrackstarExport

/// What the API needs from the server, handed to the admin loop once it has started.
final class ApiContext: @unchecked Sendable {  // fields set once; `auth` and `applyTimes` touched on the admin loop only
    let service: CatalogService?
    let auth: ApiAuth
    let applyTimes: ApplyTimes
    let dataDir: String
    let export: ExportConfig

    init(service: CatalogService?, tokens: [AdminToken], applyTimes: ApplyTimes, dataDir: String, export: ExportConfig) {
        self.service = service; self.auth = ApiAuth(tokens: tokens, apiTokens: service?.apiTokens ?? []); self.applyTimes = applyTimes
        self.dataDir = dataDir; self.export = export
    }
}

enum Api {
    static let prefix = "/api/v1"

    /// Answers a request whose path starts with /api/v1.
    static func respond(_ request: AdminRequest, _ admin: AdminHandler) -> AdminResponse {
        let parts = request.path.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let segments = parts.first == "" ? Array(parts.dropFirst()) : parts
        if segments == ["openapi.json"] {
            guard request.isRead else { return methodNotAllowed("GET, HEAD") }
            return AdminResponse(status: 200, contentType: "application/json", body: Array(OpenAPIDocument.json.utf8))
        }
        guard let context = admin.api else { return error(503, "not started yet: \(admin.readinessReason(request) ?? "starting")") }
        let caller: ApiCaller
        switch context.auth.authenticate(request.authorization, peer: request.peer, nowMillis: request.nowMillis) {
        case .caller(let who): caller = who
        case .unauthorized(let why):
            var response = error(401, why)
            response.headers.append(("WWW-Authenticate", "Bearer realm=\"trackstar\""))
            return response
        case .throttled(let seconds):
            var response = error(429, "too many failed sign-ins from this address; retry in \(seconds) s")
            response.headers.append(("Retry-After", "\(seconds)"))
            return response
        }
        switch segments.first {
        case "audit" where segments.count == 1: return request.isRead ? audit(request, context) : methodNotAllowed("GET, HEAD")
        case "status" where segments.count == 1: return request.isRead ? status(context) : methodNotAllowed("GET, HEAD")
        case "report" where segments.count == 1: return request.isRead ? report(request, context) : methodNotAllowed("GET, HEAD")
        case "whoami" where segments.count == 1:
            guard request.isRead else { return methodNotAllowed("GET, HEAD") }
            return json(200, .object([("name", .string(caller.name)), ("role", .string(caller.role.rawValue))]))
        case "tokens" where segments.count <= 2:
            let name = segments.count == 2 ? AdminQuery.decode(Substring(segments[1])) : nil
            return ApiTokens(request: request, caller: caller, context: context).respond(name: name)
        default: break
        }
        guard let name = segments.first, let collection = CatalogCollection.named(name), segments.count <= 2 else {
            return error(404, "no such endpoint; see \(prefix)/openapi.json")
        }
        guard let service = context.service else { return error(503, "the catalog API needs the server started from a config file (trackstar serve --config)") }
        let key = segments.count == 2 ? AdminQuery.decode(Substring(segments[1])) : nil
        return ApiCatalogRoutes(request: request, caller: caller, service: service, collection: collection).respond(key: key)
    }

    static func json(_ status: Int, _ value: CatalogValue, headers: [(name: String, value: String)] = []) -> AdminResponse {
        AdminResponse(status: status, contentType: "application/json", headers: headers, body: Array(value.json.utf8))
    }

    static func error(_ status: Int, _ message: String, problems: [CatalogProblem] = []) -> AdminResponse {
        var pairs: [(String, CatalogValue)] = [("error", .string(message))]
        if !problems.isEmpty {
            pairs.append(("problems", .array(problems.map {
                .object([("path", .string($0.path)), ("message", .string($0.message))])
            })))
        }
        return json(status, .object(pairs))
    }

    static func methodNotAllowed(_ allow: String) -> AdminResponse {
        var response = error(405, "method not allowed; use \(allow)")
        response.headers.append(("Allow", allow))
        return response
    }

    static func forbidden(_ caller: ApiCaller, _ what: String) -> AdminResponse {
        error(403, "token \(caller.name) has role \(caller.role.rawValue), which may not \(what)")
    }

    /// A whole number from the query, or the default; nil (an error answer) when malformed.
    static func number(_ query: AdminQuery, _ name: String, default value: Int, _ range: ClosedRange<Int>) -> Result<Int, AdminResponseError> {
        guard let text = query[name] else { return .success(value) }
        guard let number = Int(text), range.contains(number) else {
            return .failure(AdminResponseError(response: error(400, "\(name): expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(text)")))
        }
        return .success(number)
    }

    /// GET /api/v1/audit?collection=&key=&after=SEQUENCE&limit=N: changes oldest first.
    static func audit(_ request: AdminRequest, _ context: ApiContext) -> AdminResponse {
        let query = AdminQuery(request.query)
        let limit: Int, after: Int
        switch number(query, "limit", default: 100, 1...1000) { case .success(let v): limit = v; case .failure(let e): return e.response }
        switch number(query, "after", default: 0, 0...Int(Int32.max)) { case .success(let v): after = v; case .failure(let e): return e.response }
        let changes = (context.service?.changes ?? []).filter { change in
            change.sequence > after && (query["collection"].map { $0 == change.collection } ?? true)
                && (query["key"].map { $0 == change.key } ?? true)
        }
        let page = changes.prefix(limit)
        let items = page.compactMap { change -> CatalogValue? in
            guard case .success(let (value, _)) = CatalogJSONReader.parse(Array(change.json.utf8)) else { return nil }
            return change.collection == ApiTokens.collection ? ApiTokens.redacted(value) : value
        }
        let next: CatalogValue = changes.count > limit ? .string(String(page.last!.sequence)) : .string("")
        return json(200, .object([("items", .array(items)), ("next_after", next)]))
    }

    /// GET /api/v1/status: catalog size and changes, and how long changes took to reach every loop.
    static func status(_ context: ApiContext) -> AdminResponse {
        let times = context.applyTimes.summary()
        var pairs: [(String, CatalogValue)] = [("changes", .integer(Int64(context.service?.changes.count ?? 0)))]
        for collection in CatalogCollection.all where !collection.isSingleton {
            pairs.append((collection.name, .integer(Int64(context.service?.objects(collection).count ?? 0))))
        }
        pairs.append(("apply_count", .integer(Int64(times.count))))
        pairs.append(("apply_p50_us", .integer(times.p50)))
        pairs.append(("apply_p99_us", .integer(times.p99)))
        pairs.append(("apply_max_us", .integer(times.max)))
        pairs.append(("apply_late", .integer(Int64(times.late))))
        return json(200, .object(pairs))
    }

    /// GET /api/v1/report?from=&to=&tz=&group_by=: what `trackstar report --format json` prints.
    static func report(_ request: AdminRequest, _ context: ApiContext) -> AdminResponse {
        let query = AdminQuery(request.query)
        var report = ReportRequest()
        if let tz = query["tz"] {
            do { report.timeZone = try ReportTimeZone.load(tz) } catch { return Api.error(400, "tz: \(error.description)") }
        }
        switch ReportRequest.range(from: query["from"], to: query["to"], timeZone: report.timeZone) {
        case .success(let range): (report.fromMillis, report.toMillis) = range
        case .failure(let failure): return error(400, failure.description)
        }
        if let groupBy = query["group_by"] {
            switch ReportDimension.parseList(groupBy) {
            case .success(let dimensions): report.groupBy = dimensions
            case .failure(let failure): return error(400, "group_by: \(failure.description)")
            }
        }
        do {
            let backend = try Reporter.backend(config: context.export, dataDir: context.dataDir)
            let result = try Reporter.run(report, on: backend)
            return AdminResponse(status: 200, contentType: "application/json", body: Array(ReportFormat.json.render(result, request: report).utf8))
        } catch {
            return Api.error(503, "the reporting store cannot answer: \(error)")
        }
    }
}

/// An error answer carried through a `Result`.
struct AdminResponseError: Error {
    let response: AdminResponse
}

extension AdminRequest {
    /// GET or HEAD.
    var isRead: Bool { methodName == "GET" || methodName == "HEAD" }
}

extension AdminConfig {
    /// The settings that need a restart (tokens are taken at each reload).
    var withoutTokens: AdminConfig {
        var copy = self
        copy.tokens = []
        return copy
    }
}
