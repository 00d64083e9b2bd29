// The OpenAPI 3.1 document of /api/v1, built from the collection registry (each collection gets the
// same six operations) and one schema per collection that names the config keys `check-config`
// knows; unknown keys are allowed by the schema and refused with 422 by the loader, as in the file.
import TrackstarConfiguration

enum OpenAPIDocument {
    /// The document as JSON text, built once.
    static let json: String = document.json

    typealias V = CatalogValue

    static func obj(_ pairs: (String, V)...) -> V { .object(pairs) }
    static func s(_ text: String) -> V { .string(text) }
    static func ref(_ name: String) -> V { obj(("$ref", s("#/components/schemas/\(name)"))) }
    static let string = obj(("type", s("string")))
    static let integer = obj(("type", s("integer")))
    static let number = obj(("type", s("number")))
    static let boolean = obj(("type", s("boolean")))
    static let duration = obj(("type", s("string")), ("description", s("a duration such as \"30s\", \"250ms\", \"30d\"")))
    static func strings(_ values: [String]) -> V { obj(("type", s("string")), ("enum", .array(values.map(s)))) }
    static func array(_ items: V) -> V { obj(("type", s("array")), ("items", items)) }

    /// A catalog object's schema: its known keys; more are allowed (the loader decides).
    static func objectSchema(_ description: String, required: [String], _ properties: [(String, V)]) -> V {
        obj(("type", s("object")), ("description", s(description)), ("required", .array(required.map(s))),
            ("properties", .object(properties)), ("additionalProperties", .bool(true)))
    }

    static let schemas: [(String, V)] = [
        ("offers", objectSchema("[[offers]] in the config file, key for key; the key is id.", required: ["id", "url"], [
            ("id", integer), ("name", string), ("url", string), ("fallback_url", string), ("status", strings(["active", "paused"])),
            ("click_lifetime", duration), ("txid_window", duration), ("min_conversion_delay", duration),
            ("multiple_conversions", boolean), ("token", string), ("allowed_ips", array(string)), ("currency", string),
            ("payout", number), ("revenue", number),
            ("events", obj(("type", s("object")), ("description", s("[offers.events.NAME]: payout and revenue per event")),
                           ("additionalProperties", obj(("type", s("object")), ("properties", obj(("payout", number), ("revenue", number))))))),
            ("postback_profile", string), ("bot_action", strings(["flag", "fallback", "refuse"])), ("unique_window", duration),
            ("caps", caps), ("affiliate_caps", array(caps)), ("countries", array(string)), ("exclude_countries", array(string)),
            ("devices", array(strings(["desktop", "mobile", "tablet", "tv", "bot", "other"]))), ("os", array(string)),
            ("redirect_offer_id", integer), ("trafficback_url", string), ("timezone", string),
        ])),
        ("affiliates", objectSchema("[[affiliates]] in the config file; the key is id.", required: ["id"], [
            ("id", integer), ("name", string), ("status", strings(["active", "paused"])), ("postback_url", string),
            ("reversal_url", string), ("postback_statuses", array(strings(["approved", "pending", "rejected"]))),
            ("postback_delay", duration), ("trafficback_url", string),
        ])),
        ("postbacks", objectSchema("[[postbacks]] rules; the key is AFF_OFFER_EVENT with * for an absent one (7_12_* or 7_*_upsell).",
                                   required: ["aff_id", "url"], [
            ("aff_id", integer), ("offer_id", integer), ("event", string), ("url", string),
        ])),
        ("postback_profiles", objectSchema("[[postback_profiles]] (sender profiles); the key is name.", required: ["name"], [
            ("name", string), ("extends", string), ("approved", array(string)), ("pending", array(string)), ("rejected", array(string)),
            ("decimal_comma", boolean), ("currency_sign", boolean), ("placeholders", array(string)), ("required", array(string)),
        ])),
        ("smartlinks", objectSchema("[[smartlinks]] (one link, several offers); the key is id.", required: ["id", "slug", "offers"], [
            ("id", integer), ("slug", string), ("offers", array(obj(("type", s("object"))))), ("trafficback_url", string),
        ])),
        ("bots", objectSchema("[bots] (one table): user-agent substrings, networks (CIDR) and AS numbers that make a click a bot. user_agent_regexes names a file: set it in the config file (a change through the API is refused).", required: [], [
            ("user_agent_substrings", array(string)), ("networks", array(string)),
            ("asns", array(obj(("type", .array([s("integer"), s("string")]))))), ("anonymous_proxy", boolean),
        ])),
    ]

    /// `[offers.caps]` and each `[[offers.affiliate_caps]]` (with aff_id).
    static let caps = obj(("type", s("object")), ("properties", obj(
        ("aff_id", integer), ("daily_clicks", integer), ("daily_conversions", integer), ("monthly_clicks", integer),
        ("monthly_conversions", integer), ("total_clicks", integer), ("total_conversions", integer))))

    static let problem = obj(("type", s("object")), ("required", .array([s("path"), s("message")])), ("properties", obj(
        ("path", obj(("type", s("string")), ("description", s("JSON Pointer of the field")))),
        ("message", obj(("type", s("string")), ("description", s("what check-config prints"))))
    )))
    static let errorSchema = obj(("type", s("object")), ("required", .array([s("error")])),
                                 ("properties", obj(("error", string), ("problems", array(problem)))))

    static func response(_ description: String, _ schema: V) -> V {
        obj(("description", s(description)), ("content", obj(("application/json", obj(("schema", schema))))))
    }

    static func errors(_ codes: [Int]) -> [(String, V)] {
        let words = [400: "malformed request", 401: "no or unknown token", 403: "the token's role may not do this", 404: "no such object",
                     405: "method not allowed", 409: "exists already", 412: "If-Match is stale", 415: "not JSON",
                     422: "check-config refuses the result", 429: "too many failed sign-ins from this address", 503: "not ready, or the change could not be stored"]
        return codes.map { (String($0), response(words[$0] ?? "error", ref("Error"))) }
    }

    static let common = [401, 429, 503]
    static let bearer: V = .array([obj(("bearer", .array([])))])

    static func operation(_ id: String, _ summary: String, parameters: [V] = [], body: V? = nil, ok: [(String, V)], errorCodes: [Int]) -> V {
        var pairs: [(String, V)] = [("operationId", s(id)), ("summary", s(summary)), ("security", bearer)]
        if !parameters.isEmpty { pairs.append(("parameters", .array(parameters))) }
        if let body { pairs.append(("requestBody", body)) }
        pairs.append(("responses", .object(ok + errors((errorCodes + common).sorted()))))
        return .object(pairs)
    }

    static func queryParameter(_ name: String, _ schema: V, _ description: String) -> V {
        obj(("name", s(name)), ("in", s("query")), ("required", .bool(false)), ("schema", schema), ("description", s(description)))
    }

    /// Keys of the objects `Tests/Api/schemathesis.sh` seeds, as examples.
    static let exampleKeys = ["offers": "1", "affiliates": "7", "postbacks": "7_1_*", "postback_profiles": "partner", "smartlinks": "1"]

    static func keyParameter(_ collection: String) -> V {
        var pairs: [(String, V)] = [("name", s("key")), ("in", s("path")), ("required", .bool(true)), ("schema", string),
                                    ("description", s("the object's key (see the collection's schema)"))]
        if let example = exampleKeys[collection] { pairs.append(("example", s(example))) }
        return .object(pairs)
    }
    static let ifMatch = obj(("name", s("If-Match")), ("in", s("header")), ("required", .bool(false)), ("schema", string),
                             ("description", s("the ETag of the version this write replaces; 412 when stale")))
    static let etagHeader = obj(("ETag", obj(("schema", string))))

    static func jsonBody(_ schema: V, mergePatch: Bool = false) -> V {
        var content: [(String, V)] = [("application/json", obj(("schema", schema)))]
        if mergePatch { content.append(("application/merge-patch+json", obj(("schema", schema)))) }
        return obj(("required", .bool(true)), ("content", .object(content)))
    }

    static func collectionPaths(_ name: String) -> [(String, V)] {
        let item = ref(name)
        let page = obj(("type", s("object")), ("required", .array([s("items"), s("next_cursor"), s("total")])), ("properties", obj(
            ("items", array(item)), ("next_cursor", obj(("type", s("string")), ("description", s("cursor of the next page; empty at the end")))),
            ("total", integer))))
        let ok = { (description: String, schema: V) -> V in
            obj(("description", s(description)), ("headers", etagHeader), ("content", obj(("application/json", obj(("schema", schema))))))
        }
        let archived = obj(("type", s("object")), ("required", .array([s("archived"), s("sequence")])),
                            ("properties", obj(("archived", string), ("sequence", integer))))
        let list = operation("list_\(name)", "List \(name) (paged; any other query parameter filters on that top-level field)", parameters: [
            queryParameter("limit", obj(("type", s("integer")), ("minimum", .integer(1)), ("maximum", .integer(1000))), "page size, 100 by default"),
            queryParameter("cursor", obj(("type", s("integer")), ("minimum", .integer(0))), "next_cursor of the previous page"),
        ], ok: [("200", response("a page", page))], errorCodes: [400])
        let create = operation("create_\(name)", "Create one of \(name)", body: jsonBody(item),
                               ok: [("201", ok("created", item))], errorCodes: [400, 403, 409, 415, 422])
        let read = operation("read_\(name)", "Read one of \(name)", parameters: [keyParameter(name)], ok: [("200", ok("the object", item))], errorCodes: [404])
        let put = operation("replace_\(name)", "Replace (or create) one of \(name)", parameters: [keyParameter(name), ifMatch], body: jsonBody(item),
                            ok: [("200", ok("replaced", item)), ("201", ok("created", item))], errorCodes: [400, 403, 404, 412, 415, 422])
        let patch = operation("patch_\(name)", "Change fields of one of \(name) (JSON merge patch, RFC 7396: objects merge, a null at any depth removes that member)",
                              parameters: [keyParameter(name), ifMatch], body: jsonBody(obj(("type", s("object"))), mergePatch: true),
                              ok: [("200", ok("changed", item))], errorCodes: [400, 403, 404, 412, 415, 422])
        let archive = operation("archive_\(name)", "Archive one of \(name): it leaves the live catalog; the audit log keeps it",
                                parameters: [keyParameter(name), ifMatch], ok: [("200", response("archived", archived))], errorCodes: [403, 404, 412, 422])
        if CatalogCollection.named(name)?.isSingleton == true {
            let readOne = operation("read_\(name)", "Read [\(name)]", ok: [("200", ok("the table", item))], errorCodes: [])
            let putOne = operation("replace_\(name)", "Replace [\(name)]", parameters: [ifMatch], body: jsonBody(item),
                                   ok: [("200", ok("replaced", item))], errorCodes: [400, 403, 412, 415, 422])
            let patchOne = operation("patch_\(name)", "Change fields of [\(name)] (JSON merge patch, RFC 7396)", parameters: [ifMatch],
                                     body: jsonBody(obj(("type", s("object"))), mergePatch: true), ok: [("200", ok("changed", item))],
                                     errorCodes: [400, 403, 412, 415, 422])
            return [("/api/v1/\(name)", obj(("get", readOne), ("put", putOne), ("patch", patchOne)))]
        }
        return [
            ("/api/v1/\(name)", obj(("get", list), ("post", create))),
            ("/api/v1/\(name)/{key}", obj(("get", read), ("put", put), ("patch", patch), ("delete", archive))),
        ]
    }

    static let change = obj(("type", s("object")), ("required", .array(["sequence", "at", "at_ms", "who", "collection", "key", "action"].map(s))),
                            ("properties", obj(("sequence", integer), ("at", string), ("at_ms", integer), ("who", string), ("collection", string),
                                               ("key", string), ("action", strings(["create", "replace", "patch", "archive", "revoke"])),
                                               ("before", obj(("type", s("object")))), ("after", obj(("type", s("object")))))))

    static let changes = obj(("type", s("object")), ("required", .array([s("items"), s("next_after")])),
                             ("properties", obj(("items", array(change)), ("next_after", string))))

    static var otherPaths: [(String, V)] {
        let audit = operation("audit", "Catalog changes, oldest first: who (token name), when, before and after", parameters: [
            queryParameter("collection", string, "only this collection"), queryParameter("key", string, "only this object"),
            queryParameter("after", obj(("type", s("integer")), ("minimum", .integer(0))), "only changes after this sequence"),
            queryParameter("limit", obj(("type", s("integer")), ("minimum", .integer(1)), ("maximum", .integer(1000))), "page size, 100 by default"),
        ], ok: [("200", response("changes", changes))], errorCodes: [400])
        let status = operation("status", "Catalog size, changes, and how long changes took to reach every loop (microseconds)",
                               ok: [("200", response("status", obj(("type", s("object")), ("additionalProperties", integer))))], errorCodes: [])
        let roles = strings(["admin", "editor", "viewer"])
        let token = obj(("type", s("object")), ("required", .array([s("name"), s("role"), s("source")])),
                        ("properties", obj(("name", string), ("role", roles), ("source", strings(["config", "api"])))))
        let tokens = operation("list_tokens", "Every token's name, role and source (config file or API); never a token or its hash (admin only)",
                               ok: [("200", response("tokens", obj(("type", s("object")), ("required", .array([s("items")])),
                                                                   ("properties", obj(("items", array(token)))))))],
                               errorCodes: [403])
        let newToken = obj(("type", s("object")), ("required", .array([s("name"), s("role")])), ("additionalProperties", .bool(false)),
                           ("properties", obj(("name", obj(("type", s("string")), ("pattern", s("^[A-Za-z0-9_.-]{1,64}$")))), ("role", roles))))
        let created = obj(("type", s("object")), ("required", .array([s("name"), s("role"), s("token")])),
                          ("properties", obj(("name", string), ("role", roles), ("source", string), ("token", obj(("type", s("string")),
                              ("description", s("the bearer token, shown this once; only its SHA-256 is stored")))), ("sequence", integer))))
        let createToken = operation("create_token", "Make a token (admin only); the answer shows it once", body: jsonBody(newToken),
                                    ok: [("201", response("created", created))], errorCodes: [400, 403, 409, 415, 422])
        let nameParameter = obj(("name", s("name")), ("in", s("path")), ("required", .bool(true)), ("schema", string), ("example", s("ops")))
        let readToken = operation("read_token", "One token's name, role and source (admin only)", parameters: [nameParameter],
                                  ok: [("200", response("the token", token))], errorCodes: [403, 404])
        let revoked = obj(("type", s("object")), ("required", .array([s("revoked"), s("sequence")])),
                          ("properties", obj(("revoked", string), ("sequence", integer))))
        let revokeToken = operation("revoke_token", "Revoke a token made through the API (admin only; [[admin.tokens]] are read-only: 409)",
                                    parameters: [nameParameter], ok: [("200", response("revoked", revoked))], errorCodes: [403, 404, 409])
        let caller = obj(("type", s("object")), ("required", .array([s("name"), s("role")])),
                         ("properties", obj(("name", string), ("role", strings(["admin", "editor", "viewer"])))))
        let whoami = operation("whoami", "The calling token's name and role", ok: [("200", response("caller", caller))], errorCodes: [])
        let report = operation("report", "What `trackstar report --format json` prints", parameters: [
            queryParameter("from", string, "YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS]"), queryParameter("to", string, "as from"),
            queryParameter("tz", string, "a tz database name"), queryParameter("group_by", string, "offer,affiliate,sub1..sub5,source,day,hour,event"),
        ], ok: [("200", response("the report", obj(("type", s("object")))))], errorCodes: [400])
        let responses = obj(("200", response("OpenAPI 3.1", obj(("type", s("object"))))))
        let openapi = obj(("get", obj(("operationId", s("openapi")), ("summary", s("This document")), ("security", .array([])),
                                      ("responses", responses))))
        return [("/api/v1/audit", obj(("get", audit))), ("/api/v1/status", obj(("get", status))), ("/api/v1/tokens", obj(("get", tokens), ("post", createToken))),
                ("/api/v1/tokens/{name}", obj(("get", readToken), ("delete", revokeToken))), ("/api/v1/whoami", obj(("get", whoami))),
                ("/api/v1/report", obj(("get", report))), ("/api/v1/openapi.json", openapi)]
    }

    static var document: V {
        let paths = CatalogCollection.all.flatMap { collectionPaths($0.name) } + otherPaths
        let collectionSchemas = CatalogCollection.all.map { collection in
            (collection.name, schemas.first { $0.0 == collection.name }?.1
                ?? objectSchema("[[\(collection.name)]] in the config file", required: collection.keyFields.prefix(1).map { $0 }, []))
        }
        return obj(
            ("openapi", s("3.1.0")),
            ("info", obj(("title", s("Trackstar management API")), ("version", s("1")),
                         ("description", s("The catalog (offers, affiliates, postback rules, sender profiles, smart links, [bots]) as in the config file, key for key: a JSON object is a TOML table, an array an array. Writes are checked by the loader check-config uses; errors are 422 with each field's path and check-config's message.")))),
            ("servers", .array([obj(("url", s("/")))])),
            ("paths", .object(paths)),
            ("components", obj(("schemas", .object(collectionSchemas + [("Error", errorSchema)])),
                               ("securitySchemes", obj(("bearer", obj(("type", s("http")), ("scheme", s("bearer")))))))))
    }
}
