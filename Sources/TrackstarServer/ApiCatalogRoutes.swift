// One catalog collection's routes: GET (list, paged and filtered by any top-level field), POST (create),
// and per object GET, PUT (replace or create), PATCH (JSON merge patch) and DELETE (archive), with
// ETag / If-Match; a single table (`[bots]`) has GET, PUT and PATCH at the collection's own path.
// Writes need the editor role; the catalog service checks, applies and stores them.
import TrackstarConfiguration

struct ApiCatalogRoutes {
    let request: AdminRequest
    let caller: ApiCaller
    let service: CatalogService
    let collection: CatalogCollection

    func respond(key: String?) -> AdminResponse {
        if collection.isSingleton {  // /api/v1/bots: one table
            guard key == nil else { return Api.error(404, "\(collection.name) is a single object: use \(Api.prefix)/\(collection.name)") }
            switch request.methodName {
            case "GET", "HEAD": return read(collection.name)
            case "PUT": return replace(collection.name)
            case "PATCH": return patch(collection.name)
            default: return Api.methodNotAllowed("GET, HEAD, PUT, PATCH")
            }
        }
        guard let key else {
            switch request.methodName {
            case "GET", "HEAD": return list()
            case "POST": return create()
            default: return Api.methodNotAllowed("GET, HEAD, POST")
            }
        }
        switch request.methodName {
        case "GET", "HEAD": return read(key)
        case "PUT": return replace(key)
        case "PATCH": return patch(key)
        case "DELETE": return archive(key)
        default: return Api.methodNotAllowed("GET, HEAD, PUT, PATCH, DELETE")
        }
    }

    static let pagingKeys: Set<String> = ["limit", "cursor"]

    func list() -> AdminResponse {
        let query = AdminQuery(request.query)
        let limit: Int, cursor: Int
        switch Api.number(query, "limit", default: 100, 1...1000) { case .success(let v): limit = v; case .failure(let e): return e.response }
        switch Api.number(query, "cursor", default: 0, 0...Int(Int32.max)) { case .success(let v): cursor = v; case .failure(let e): return e.response }
        let filters = query.pairs.filter { !ApiCatalogRoutes.pagingKeys.contains($0.0) }
        let matching = service.objects(collection).filter { object in
            filters.allSatisfy { field, wanted in object[field]?.filterText == wanted }
        }
        let page = Array(matching.dropFirst(cursor).prefix(limit))
        let next: CatalogValue = cursor + page.count < matching.count ? .string(String(cursor + page.count)) : .string("")
        return Api.json(200, .object([("items", .array(page)), ("next_cursor", next), ("total", .integer(Int64(matching.count)))]))
    }

    func read(_ key: String) -> AdminResponse {
        guard let object = service.object(collection, key: key) else { return missing(key) }
        return Api.json(200, object, headers: [("ETag", CatalogService.etag(object))])
    }

    func missing(_ key: String) -> AdminResponse {
        if service.isArchived(collection, key: key) {
            return Api.error(404, "\(collection.name)/\(key) is archived; PUT it to bring it back (GET /api/v1/audit?collection=\(collection.name)&key=\(key) has its last version)")
        }
        return Api.error(404, "no \(collection.name) with key \(key)")
    }

    /// The body as an object; an error answer when it is not JSON or not an object.
    func body(allowNull: Bool = false) -> Result<(CatalogValue, removed: [[String]]), AdminResponseError> {
        guard request.contentType.hasPrefix("application/json") || request.contentType.hasPrefix("application/merge-patch+json") else {
            return .failure(AdminResponseError(response: Api.error(415, "send the object as JSON (Content-Type: application/json)")))
        }
        switch CatalogJSONReader.parse(request.body, allowNull: allowNull) {
        case .failure(let error): return .failure(AdminResponseError(response: Api.error(400, error.message)))
        case .success(let (value, removed)):
            guard case .object = value else {
                return .failure(AdminResponseError(response: Api.error(422, "expected a JSON object", problems: [CatalogProblem(path: "", line: 0, message: "expected a JSON object, one of \(collection.name)")])))
            }
            return .success((value, removed))
        }
    }

    func create() -> AdminResponse {
        guard caller.may(.editor) else { return Api.forbidden(caller, "change the catalog") }
        let object: CatalogValue
        switch body() { case .success(let (value, _)): object = value; case .failure(let e): return e.response }
        guard let key = collection.key(of: object) else { return keyMissing() }
        return store(key, object, action: "create", mustNotExist: true, created: true)
    }

    func replace(_ key: String) -> AdminResponse {
        guard caller.may(.editor) else { return Api.forbidden(caller, "change the catalog") }
        let object: CatalogValue
        switch body() { case .success(let (value, _)): object = value; case .failure(let e): return e.response }
        guard let bodyKey = collection.key(of: object) else { return keyMissing() }  // a singleton's key is its name
        guard bodyKey == key else {
            return Api.error(422, "the object's key is \(bodyKey), the URL's \(key)",
                             problems: [CatalogProblem(path: "/" + collection.keyFields[0], line: 0, message: "must match the URL (\(key)); to change a key, archive the object and create a new one")])
        }
        let exists = service.object(collection, key: key) != nil
        return store(key, object, action: exists ? "replace" : "create", created: !exists)
    }

    func patch(_ key: String) -> AdminResponse {
        guard caller.may(.editor) else { return Api.forbidden(caller, "change the catalog") }
        let patch: CatalogValue, removed: [[String]]
        switch body(allowNull: true) { case .success(let (value, gone)): (patch, removed) = (value, gone); case .failure(let e): return e.response }
        guard let current = service.object(collection, key: key) else { return missing(key) }
        var object = ApiCatalogRoutes.mergePatch(current, patch)
        for path in removed { object = object.removing(path[...]) }  // RFC 7396: a null at any depth removes that member
        guard collection.key(of: object) == key else {
            return Api.error(422, "a patch may not change the object's key",
                             problems: [CatalogProblem(path: "/" + collection.keyFields[0], line: 0, message: "must stay \(key)")])
        }
        return store(key, object, action: "patch")
    }

    func archive(_ key: String) -> AdminResponse {
        guard caller.may(.editor) else { return Api.forbidden(caller, "change the catalog") }
        return store(key, nil, action: "archive", mustExist: true)
    }

    func keyMissing() -> AdminResponse {
        let field = collection.keyFields[0]
        return Api.error(422, "the object has no \(field)", problems: [CatalogProblem(path: "/" + field, line: 0, message: "missing required key \(field)")])
    }

    func store(_ key: String, _ object: CatalogValue?, action: String, mustExist: Bool = false,
               mustNotExist: Bool = false, created: Bool = false) -> AdminResponse {
        // A file path is the operator's to choose, not a token holder's: the server would read any file named.
        if collection.name == "bots", object?["user_agent_regexes"] != service.object(collection, key: key)?["user_agent_regexes"] {
            return Api.error(422, "bots.user_agent_regexes names a file on the server; set it in the config file",
                             problems: [CatalogProblem(path: "/user_agent_regexes", line: 0, message: "bots.user_agent_regexes: read-only through the API; set it in the config file and reload")])
        }
        let outcome = service.write(collection, key: key, object: object, action: action, who: caller.name,
                                    expectedTag: request.ifMatch, mustExist: mustExist, mustNotExist: mustNotExist,
                                    nowMillis: request.nowMillis)
        switch outcome {
        case .stored(let object?, let change):
            var headers: [(name: String, value: String)] = [("ETag", CatalogService.etag(object)), ("X-Catalog-Sequence", String(change.sequence))]
            if created { headers.append(("Location", "\(Api.prefix)/\(collection.name)/\(key)")) }
            return Api.json(created ? 201 : 200, object, headers: headers)
        case .stored(nil, let change):
            return Api.json(200, .object([("archived", .string(key)), ("sequence", .integer(change.sequence))]))
        case .notFound: return missing(key)
        case .exists: return Api.error(409, "\(collection.name)/\(key) exists already; PUT or PATCH it instead")
        case .stale(let current):
            return Api.error(412, "If-Match does not match the object's current ETag \(current); GET it again and retry", problems: [])
        case .invalid(let problems):
            return Api.error(422, "the catalog would not pass check-config: \(problems.first?.message ?? "")", problems: problems)
        case .unavailable(let why): return Api.error(503, why)
        }
    }

    /// RFC 7396: members of the patch replace the target's; objects merge recursively.
    static func mergePatch(_ target: CatalogValue, _ patch: CatalogValue) -> CatalogValue {
        guard case .object(let members) = patch else { return patch }
        var result: CatalogValue = { if case .object = target { return target } else { return .object([]) } }()
        for (key, value) in members {
            if case .object = value, let existing = result[key] {
                result = result.setting(key, mergePatch(existing, value))
            } else {
                result = result.setting(key, value)
            }
        }
        return result
    }
}
