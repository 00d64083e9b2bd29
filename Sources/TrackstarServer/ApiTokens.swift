// /api/v1/tokens, for the admin role: list (names, roles and where each comes from, never a hash),
// create (the answer shows the new token once; the catalog log keeps only its SHA-256) and revoke.
// `[[admin.tokens]]` of the config file are listed but read-only here.
import TrackstarConfiguration

struct ApiTokens {
    /// The catalog log's collection for token changes (not a catalog object: never in the TOML export).
    static let collection = "tokens"
    static let nameLimit = 64

    let request: AdminRequest
    let caller: ApiCaller
    let context: ApiContext

    func respond(name: String?) -> AdminResponse {
        guard caller.may(.admin) else { return Api.forbidden(caller, request.isRead ? "read tokens" : "manage tokens") }
        guard let name else {
            switch request.methodName {
            case "GET", "HEAD": return Api.json(200, .object([("items", .array(listed.map { $0.value }))]))
            case "POST": return create()
            default: return Api.methodNotAllowed("GET, HEAD, POST")
            }
        }
        switch request.methodName {
        case "GET", "HEAD":
            guard let token = listed.first(where: { $0.token.name == name }) else { return Api.error(404, "no token named \(name)") }
            return Api.json(200, token.value)
        case "DELETE": return revoke(name)
        default: return Api.methodNotAllowed("GET, HEAD, DELETE")
        }
    }

    /// Every token with where it comes from, the config's first.
    var listed: [(token: AdminToken, value: CatalogValue)] {
        context.auth.configTokens.map { ($0, ApiTokens.listing($0, source: "config")) }
            + context.auth.apiTokens.map { ($0, ApiTokens.listing($0, source: "api")) }
    }

    static func listing(_ token: AdminToken, source: String) -> CatalogValue {
        .object([("name", .string(token.name)), ("role", .string(token.role.rawValue)), ("source", .string(source))])
    }

    func create() -> AdminResponse {
        guard let service = context.service else { return Api.error(503, "tokens are stored in the catalog log: start the server with its config file") }
        guard request.contentType.hasPrefix("application/json") else {
            return Api.error(415, "send {\"name\": …, \"role\": …} as JSON (Content-Type: application/json)")
        }
        let body: CatalogValue
        switch CatalogJSONReader.parse(request.body) {
        case .failure(let error): return Api.error(400, error.message)
        case .success(let (value, _)): body = value
        }
        guard case .object(let members) = body else {
            return Api.error(422, "expected a JSON object", problems: [CatalogProblem(path: "", line: 0, message: "expected {\"name\": …, \"role\": …}")])
        }
        var problems: [CatalogProblem] = []
        for (key, _) in members where key != "name" && key != "role" {
            problems.append(CatalogProblem(path: "/" + key, line: 0, message: "tokens.\(key): unknown key; known keys here: name, role"))
        }
        let name: String? = { if case .string(let text)? = body["name"], ApiTokens.isValidName(text) { return text }; return nil }()
        if name == nil {
            problems.append(CatalogProblem(path: "/name", line: 0, message: "tokens.name: expected 1 to \(ApiTokens.nameLimit) characters of A-Z a-z 0-9 _ . -"))
        }
        let role: AdminRole? = { if case .string(let text)? = body["role"] { return AdminRole(rawValue: text) }; return nil }()
        if role == nil {
            problems.append(CatalogProblem(path: "/role", line: 0, message: "tokens.role: expected \"admin\", \"editor\" or \"viewer\""))
        }
        guard let name, let role, problems.isEmpty else { return Api.error(422, problems.first?.message ?? "invalid token", problems: problems) }
        if listed.contains(where: { $0.token.name == name }) {
            return Api.error(409, "a token named \(name) exists already; revoke it first or choose another name")
        }
        let secret = ApiTokens.newSecret()
        let token = AdminToken(name: name, sha256: SHA256.hex(Array(secret.utf8)), role: role)
        switch service.writeToken(name: name, after: token, action: "create", who: caller.name, nowMillis: request.nowMillis) {
        case .stored(_, let change):
            context.auth.replace(apiTokens: service.apiTokens)
            var response = Api.json(201, .object([("name", .string(name)), ("role", .string(role.rawValue)), ("source", .string("api")),
                                                  ("token", .string(secret)), ("sequence", .integer(change.sequence))]),
                                    headers: [("Location", "\(Api.prefix)/tokens/\(name)"), ("Cache-Control", "no-store")])
            response.headers.append(("X-Catalog-Sequence", String(change.sequence)))
            return response
        case .unavailable(let why): return Api.error(503, why)
        default: return Api.error(503, "the token could not be stored")
        }
    }

    func revoke(_ name: String) -> AdminResponse {
        if context.auth.configTokens.contains(where: { $0.name == name }) {
            return Api.error(409, "token \(name) is defined by [[admin.tokens]] in the config file: remove it there and reload (SIGHUP)")
        }
        guard context.auth.apiTokens.contains(where: { $0.name == name }) else { return Api.error(404, "no token named \(name)") }
        guard let service = context.service else { return Api.error(503, "no catalog log") }
        switch service.writeToken(name: name, after: nil, action: "revoke", who: caller.name, nowMillis: request.nowMillis) {
        case .stored(_, let change):
            context.auth.replace(apiTokens: service.apiTokens)
            return Api.json(200, .object([("revoked", .string(name)), ("sequence", .integer(change.sequence))]))
        case .unavailable(let why): return Api.error(503, why)
        default: return Api.error(503, "the revocation could not be stored")
        }
    }

    static func isValidName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= nameLimit && text.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2E || b == 0x2D
        }
    }

    /// 32 bytes from the system's cryptographic generator (getrandom), as `ts_` and 64 hex digits.
    static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        var text = "ts_"
        for _ in 0..<4 {
            let word: UInt64 = generator.next()
            let hex = String(word, radix: 16)
            text += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return text
    }

    /// A token as the catalog log keeps it: name, role and the SHA-256 (never the token).
    static func value(_ token: AdminToken) -> CatalogValue {
        .object([("name", .string(token.name)), ("role", .string(token.role.rawValue)), ("sha256", .string(token.sha256))])
    }

    /// A token back from the catalog log; nil when the record is not one.
    static func token(_ value: CatalogValue) -> AdminToken? {
        guard case .string(let name)? = value["name"], case .string(let roleText)? = value["role"], let role = AdminRole(rawValue: roleText),
              case .string(let sha256)? = value["sha256"], sha256.utf8.count == 64 else { return nil }
        return AdminToken(name: name, sha256: sha256, role: role)
    }

    /// An audit record of a token change without the hash (the token itself is never stored anywhere).
    static func redacted(_ record: CatalogValue) -> CatalogValue {
        var out = record
        for side in ["before", "after"] {
            if let value = record[side] { out = out.setting(side, value.setting("sha256", nil)) }
        }
        return out
    }
}
