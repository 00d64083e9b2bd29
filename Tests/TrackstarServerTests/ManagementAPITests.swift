// Live tests of the management API on the admin listener: tokens and roles, writes checked like
// check-config (422 with the field's path), ETag/If-Match, the next click following a change, durability
// across kill -9, the audit log, SIGHUP with the file and the log together, `catalog export`, throttling.
import Foundation
import Testing
import TrackstarTestSupport

/// Bearer tokens of the tests and the config that names their digests.
enum APITokens {
    static let admin = "admin-token-for-tests", editor = "editor-token-for-tests", viewer = "viewer-token-for-tests"

    static var config: String {
        LiveServer.defaultConfig + "\n\n" + [("ops", admin, "admin"), ("campaigns", editor, "editor"), ("watcher", viewer, "viewer")]
            .map { "[[admin.tokens]]\nname = \"\($0.0)\"\nsha256 = \"\(sha256Hex($0.1))\"\nrole = \"\($0.2)\"\n" }.joined(separator: "\n")
    }
}

/// SHA-256 through the system's sha256sum, so the server's own implementation is checked against another.
func sha256Hex(_ text: String) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try? process.run()
    input.fileHandleForWriting.write(Data(text.utf8))
    try? input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(String(decoding: data, as: UTF8.self).prefix(64))
}

extension TestConnection {
    /// An API request with a bearer token and an optional JSON body.
    func api(_ method: String, _ path: String, token: String?, body: String? = nil, headers: String = "") throws -> TestResponse {
        var text = "\(method) /api/v1\(path) HTTP/1.1\r\nHost: test\r\n"
        if let token { text += "Authorization: Bearer \(token)\r\n" }
        text += headers
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)" } else { text += "Content-Length: 0\r\n\r\n" }
        return try request(text)
    }
}

@Suite("management API")
struct ManagementAPITests {
    static func location(_ server: LiveServer, offer: Int) throws -> String {
        try server.connect().get("/click?offer_id=\(offer)&aff_id=7").header("Location") ?? ""
    }

    @Test func rolesDecideWhatATokenMayDoAndNothingIsOnThePublicPort() throws {
        let server = try LiveServer(config: APITokens.config)
        let admin = try server.admin()
        #expect(try admin.api("GET", "/offers", token: nil).status == 401)
        #expect(try admin.api("GET", "/offers", token: "not-a-token").status == 401)
        let list = try admin.api("GET", "/offers?status=paused", token: APITokens.viewer)
        #expect(list.status == 200)
        #expect((list.json["items"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [2])
        let body = #"{"id": 40, "url": "https://new.example/?cid={click_id}"}"#
        let refused = try admin.api("POST", "/offers", token: APITokens.viewer, body: body)
        #expect(refused.status == 403 && refused.body.contains("viewer"), "\(refused.body)")
        #expect(try admin.api("GET", "/tokens", token: APITokens.editor).status == 403)
        let tokens = try admin.api("GET", "/tokens", token: APITokens.admin)
        #expect(tokens.status == 200 && tokens.body.contains("\"watcher\"") && !tokens.body.contains(sha256Hex(APITokens.viewer)))
        // Nothing operator-facing on the public port.
        for path in ["/api/v1/offers", "/metrics", "/api/v1/openapi.json", "/"] {
            #expect(try server.connect().get(path, headers: "Authorization: Bearer \(APITokens.admin)\r\n").status == 404, "\(path)")
        }
    }

    @Test func aCreatedOfferTakesTheNextClickAndAnEditChangesItsRedirect() throws {
        let server = try LiveServer(config: APITokens.config)
        let admin = try server.admin()
        #expect(try server.connect().get("/click?offer_id=40&aff_id=7").status == 404)
        let created = try admin.api("POST", "/offers", token: APITokens.editor, body: #"{"id": 40, "url": "https://new.example/?cid={click_id}", "payout": 1.25}"#)
        #expect(created.status == 201, "\(created.body)")
        #expect(created.header("Location") == "/api/v1/offers/40")
        // Applied to every loop before the answer was sent: each new connection may land on either loop.
        for _ in 0..<8 { #expect(try Self.location(server, offer: 40).hasPrefix("https://new.example/?cid=")) }
        let tag = try #require(created.header("ETag"))
        let patched = try admin.api("PATCH", "/offers/40", token: APITokens.editor, body: #"{"url": "https://newer.example/?c={click_id}"}"#,
                                    headers: "If-Match: \(tag)\r\n")
        #expect(patched.status == 200, "\(patched.body)")
        #expect(patched.json["payout"] as? Double == 1.25)
        for _ in 0..<8 { #expect(try Self.location(server, offer: 40).hasPrefix("https://newer.example/?c=")) }
        // The old tag is stale now; a duplicate create conflicts.
        let stale = try admin.api("PATCH", "/offers/40", token: APITokens.editor, body: #"{"status": "paused"}"#, headers: "If-Match: \(tag)\r\n")
        #expect(stale.status == 412, "\(stale.body)")
        #expect(try admin.api("POST", "/offers", token: APITokens.editor, body: #"{"id": 40, "url": "https://x.example/"}"#).status == 409)
        // Archived: gone from routing and from reads, kept in the audit log.
        #expect(try admin.api("DELETE", "/offers/40", token: APITokens.editor).status == 200)
        #expect(try server.connect().get("/click?offer_id=40&aff_id=7").status == 404)
        let gone = try admin.api("GET", "/offers/40", token: APITokens.viewer)
        #expect(gone.status == 404 && gone.body.contains("archived"))
    }

    /// Clicks recorded by each loop (its shard's click log), from /metrics.
    static func clicksPerShard(_ server: LiveServer) throws -> [String: Double] {
        let samples = try PrometheusExposition.parse(try server.admin().get("/metrics").body)
        var counts: [String: Double] = [:]
        for sample in samples where sample.name == "trackstar_shard_records" && sample.labels["log"] == "clicks" {
            counts[sample.labels["shard"] ?? "?"] = sample.value
        }
        return counts
    }

    /// An answered write is on every loop: connections opened before each write (the kernel spreads
    /// them over both loops) click the moment the 200 arrives, and every click meets the new URL.
    /// Before the admin loop held its answers for the loops, a loop could still route by the old one.
    @Test func anAnsweredWriteIsOnEveryLoopForTheNextClick() throws {
        let server = try LiveServer(config: APITokens.config, loops: 2)
        let admin = try server.admin()
        let before = try Self.clicksPerShard(server)
        #expect(before.count == 2, "\(before)")
        for round in 0..<6 {
            let waiting = try (0..<8).map { _ in try server.connect() }
            let url = "https://round\(round).example/?cid={click_id}"
            let patched = try admin.api("PATCH", "/offers/1", token: APITokens.editor, body: "{\"url\": \"\(url)\"}")
            #expect(patched.status == 200, "\(patched.body)")
            for connection in waiting {
                let location = try connection.get("/click?offer_id=1&aff_id=7").header("Location") ?? ""
                #expect(location.hasPrefix("https://round\(round).example/?cid="), "round \(round): \(location)")
            }
        }
        // Both loops served some of those clicks (48 connections: one loop alone is a 1 in 2^47 chance).
        #expect(eventually(within: 20) {
            guard let after = try? Self.clicksPerShard(server) else { return false }
            return before.allSatisfy { shard, count in (after[shard] ?? 0) > count }
        })
        let status = try admin.api("GET", "/status", token: APITokens.viewer)
        #expect((status.json["apply_count"] as? Int ?? 0) >= 6 && status.json["apply_late"] as? Int == 0, "\(status.body)")
    }

    @Test func aWriteCheckConfigWouldRefuseIs422WithTheFieldsPathAndItsMessage() throws {
        let server = try LiveServer(config: APITokens.config)
        let admin = try server.admin()
        let bad = try admin.api("PUT", "/offers/1", token: APITokens.editor,
                                body: #"{"id": 1, "url": "https://shop.example/?x={nope}", "click_lifetime": 30, "events": {"upsell": {"payout": -1}}}"#)
        #expect(bad.status == 422, "\(bad.body)")
        let problems = try #require(bad.json["problems"] as? [[String: String]])
        #expect(problems.contains { $0["path"] == "/url" && $0["message"]!.contains("unknown macro {nope}") }, "\(problems)")
        #expect(problems.contains { $0["path"] == "/click_lifetime" && $0["message"]!.contains("write it with a unit") }, "\(problems)")
        #expect(problems.contains { $0["path"] == "/events/upsell/payout" && $0["message"]!.contains("must not be negative") }, "\(problems)")
        // A reference check across objects: a rule for an affiliate that does not exist.
        let rule = try admin.api("POST", "/postbacks", token: APITokens.editor, body: #"{"aff_id": 99, "offer_id": 1, "url": "https://p.example/"}"#)
        #expect(rule.status == 422 && rule.body.contains("no affiliate has id 99"), "\(rule.body)")
        #expect(try admin.api("POST", "/offers", token: APITokens.editor, body: "{\"id\": 1,").status == 400)
        #expect(try Self.location(server, offer: 1).hasPrefix("https://shop.example/landing"))  // nothing changed
    }

    @Test func anAnsweredChangeSurvivesKill9AndTheAuditLogSaysWhoAndWhat() throws {
        let first = try LiveServer(config: APITokens.config)
        first.ownsDataDir = false
        let admin = try first.admin()
        let answer = try admin.api("PATCH", "/offers/1", token: APITokens.editor, body: #"{"url": "https://durable.example/?cid={click_id}"}"#)
        #expect(answer.status == 200)
        first.kill9()
        let restarted = try LiveServer(config: APITokens.config, dataDir: first.dataDir)
        #expect(try Self.location(restarted, offer: 1).hasPrefix("https://durable.example/"))
        let audit = try restarted.admin().api("GET", "/audit?collection=offers&key=1", token: APITokens.viewer)
        let change = try #require((audit.json["items"] as? [[String: Any]])?.first)
        #expect(change["who"] as? String == "campaigns" && change["action"] as? String == "patch")
        #expect((change["before"] as? [String: Any])?["url"] as? String == "https://shop.example/landing?cid={click_id}&a={aff_id}&o={offer_id}&s1={sub1}&s2={sub2}&ac={aff_click_id}&src={source}&t={timestamp}")
        #expect((change["after"] as? [String: Any])?["url"] as? String == "https://durable.example/?cid={click_id}")

        // `catalog export` prints the merged catalog, which check-config accepts.
        let export = try LiveServer.run(["catalog", "export", "--config", restarted.configPath, "--data-dir", restarted.dataPath])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stdout.contains("url = \"https://durable.example/?cid={click_id}\""))
        let exported = restarted.dataDir + "/exported.toml"
        try export.stdout.write(toFile: exported, atomically: true, encoding: .utf8)
        let check = try LiveServer.run(["check-config", exported])
        #expect(check.status == 0 && check.stdout.contains("ok (6 offers, 2 affiliates)"), "\(check.stdout)\(check.stderr)")
    }

    /// SIGHUP re-reads the file under the stored changes: a new offer from the file, and the API's edit still on top.
    @Test func aReloadedFileKeepsTheAPIsChangesOnTop() throws {
        let server = try LiveServer(config: APITokens.config)
        let admin = try server.admin()
        #expect(try admin.api("PATCH", "/offers/1", token: APITokens.editor, body: #"{"url": "https://api.example/?cid={click_id}"}"#).status == 200)
        try (APITokens.config + "\n\n[[offers]]\nid = 50\nurl = \"https://file.example/?cid={click_id}\"\n")
            .write(toFile: server.configPath, atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        #expect(eventually(within: 20) { (try? Self.location(server, offer: 50))?.hasPrefix("https://file.example/") ?? false })
        #expect(try Self.location(server, offer: 1).hasPrefix("https://api.example/"))
        let status = try admin.api("GET", "/status", token: APITokens.viewer)
        #expect(status.json["changes"] as? Int == 1 && status.json["offers"] as? Int == 7, "\(status.body)")
    }

    /// Keys the API has no code for (issue 14's caps, trafficback, smart links) pass through as the file has them.
    @Test func capsAndSmartLinksComeThroughTheAPIAsInTheFile() throws {
        let server = try LiveServer(config: APITokens.config, loops: 1)
        let admin = try server.admin()
        let patched = try admin.api("PATCH", "/offers/1", token: APITokens.editor,
                                    body: #"{"trafficback_url": "https://back.example/?c={click_id}", "caps": {"daily_clicks": 2}}"#)
        #expect(patched.status == 200, "\(patched.body)")
        let hosts = try (0..<3).map { _ in URL(string: try Self.location(server, offer: 1))?.host ?? "" }
        #expect(hosts == ["shop.example", "shop.example", "back.example"], "\(hosts)")
        let badCap = try admin.api("PATCH", "/offers/1", token: APITokens.editor, body: #"{"caps": {"daily_clicks": "many"}}"#)
        #expect(badCap.status == 422 && badCap.body.contains("/caps/daily_clicks"), "\(badCap.body)")
        let link = try admin.api("POST", "/smartlinks", token: APITokens.editor,
                                 body: #"{"id": 9, "slug": "summer", "offers": [{"offer_id": 5, "weight": 1}]}"#)
        #expect(link.status == 201, "\(link.body)")
        let smart = try server.connect().get("/s/summer?aff_id=7")
        #expect(smart.status == 302 && (smart.header("Location") ?? "").hasPrefix("https://multi.example/"), "\(smart.status) \(smart.body)")
    }

    @Test func repeatedFailuresFromOneAddressAreSlowedDown() throws {
        let server = try LiveServer(config: APITokens.config)
        let admin = try server.admin()
        var statuses: [Int] = []
        for _ in 0..<6 { statuses.append(try admin.api("GET", "/offers", token: "guess").status) }
        #expect(statuses == [401, 401, 401, 401, 401, 429], "\(statuses)")
        let throttled = try admin.api("GET", "/offers", token: APITokens.admin)  // even the right token waits
        #expect(throttled.status == 429 && throttled.header("Retry-After") != nil)
        #expect(eventually(within: 20) { (try? admin.api("GET", "/offers", token: APITokens.admin).status) == 200 })
    }

    @Test func theOpenAPIDocumentListsEveryCollectionsOperations() throws {
        let server = try LiveServer(config: APITokens.config)
        let document = try server.admin().get("/api/v1/openapi.json")
        #expect(document.status == 200 && document.json["openapi"] as? String == "3.1.0")
        let paths = try #require(document.json["paths"] as? [String: [String: Any]])
        for collection in ["offers", "affiliates", "postbacks", "postback_profiles", "smartlinks"] {
            #expect(Set(paths["/api/v1/\(collection)"]?.keys.map { $0 } ?? []) == ["get", "post"])
            #expect(Set(paths["/api/v1/\(collection)/{key}"]?.keys.map { $0 } ?? []) == ["get", "put", "patch", "delete"])
        }
        #expect(Set(paths["/api/v1/bots"]?.keys.map { $0 } ?? []) == ["get", "put", "patch"])
        #expect(Set(paths["/api/v1/tokens"]?.keys.map { $0 } ?? []) == ["get", "post"])
        #expect(Set(paths["/api/v1/tokens/{name}"]?.keys.map { $0 } ?? []) == ["get", "delete"])
        #expect(paths["/api/v1/audit"] != nil && paths["/api/v1/report"] != nil)
    }

    /// An admin makes a token (shown once, stored as its digest), it works at once and after kill -9,
    /// the list and the audit log never show it or its hash, and a revoked one is refused.
    @Test func anAdminMakesAndRevokesTokensAndTheConfigsStayReadOnly() throws {
        let first = try LiveServer(config: APITokens.config)
        first.ownsDataDir = false
        let admin = try first.admin()
        let body = #"{"name": "backoffice", "role": "editor"}"#
        #expect(try admin.api("POST", "/tokens", token: APITokens.editor, body: body).status == 403)
        let made = try admin.api("POST", "/tokens", token: APITokens.admin, body: body)
        #expect(made.status == 201 && made.header("Cache-Control") == "no-store", "\(made.body)")
        let secret = try #require(made.json["token"] as? String)
        let bad = try admin.api("POST", "/tokens", token: APITokens.admin, body: #"{"name": "x y", "role": "boss"}"#)
        #expect(bad.status == 422 && bad.body.contains("/name") && bad.body.contains("/role"), "\(bad.body)")
        #expect(try admin.api("POST", "/tokens", token: APITokens.admin, body: #"{"name": "ops", "role": "viewer"}"#).status == 409)
        let whoami = try admin.api("GET", "/whoami", token: secret)
        #expect(whoami.json["name"] as? String == "backoffice" && whoami.json["role"] as? String == "editor")
        #expect(try admin.api("PATCH", "/offers/1", token: secret, body: #"{"payout": 3}"#).status == 200)
        #expect(try admin.api("DELETE", "/tokens/ops", token: APITokens.admin).status == 409)  // [[admin.tokens]]: the file's
        first.kill9()

        let server = try LiveServer(config: APITokens.config, dataDir: first.dataDir)
        let again = try server.admin()
        #expect(try again.api("GET", "/whoami", token: secret).json["name"] as? String == "backoffice")
        let list = try again.api("GET", "/tokens", token: APITokens.admin)
        let items = try #require(list.json["items"] as? [[String: String]])
        #expect(items.contains { $0["name"] == "backoffice" && $0["source"] == "api" } && items.contains { $0["name"] == "ops" && $0["source"] == "config" })
        let audit = try again.api("GET", "/audit?collection=tokens", token: APITokens.admin)
        #expect(audit.status == 200 && audit.body.contains("backoffice"))
        for shown in [list.body, audit.body] { #expect(!shown.contains(secret) && !shown.contains(sha256Hex(secret))) }
        let log = try String(contentsOfFile: server.dataPath + "/catalog.log", encoding: .utf8)
        #expect(!log.contains(secret) && log.contains(sha256Hex(secret)))
        #expect(try again.api("DELETE", "/tokens/backoffice", token: APITokens.admin).status == 200)
        #expect(try again.api("GET", "/whoami", token: secret).status == 401)
        #expect(try again.api("DELETE", "/tokens/backoffice", token: APITokens.admin).status == 404)
    }

    /// `[bots]` as one object: a user-agent substring set through the API makes the next such click a bot;
    /// a nested null in a merge patch removes just that member; the regex file path stays the file's.
    @Test func theBotListsAreOneObjectAndANestedNullRemovesAMember() throws {
        let server = try LiveServer(config: APITokens.config, loops: 1)
        let admin = try server.admin()
        let scanner = "User-Agent: Mozilla/5.0 AcmeScanner/1.0\r\n"
        #expect(try admin.api("PATCH", "/offers/5", token: APITokens.editor, body: #"{"bot_action": "refuse"}"#).status == 200)
        #expect(try server.connect().get("/click?offer_id=5&aff_id=7", headers: scanner).status == 302)
        let bots = try admin.api("GET", "/bots", token: APITokens.viewer)
        let tag = try #require(bots.header("ETag"))
        let put = try admin.api("PUT", "/bots", token: APITokens.editor, body: #"{"user_agent_substrings": ["acmescanner"], "networks": ["203.0.113.0/24"], "asns": [64512]}"#,
                                headers: "If-Match: \(tag)\r\n")
        #expect(put.status == 200, "\(put.body)")
        #expect(try server.connect().get("/click?offer_id=5&aff_id=7", headers: scanner).status == 404)
        let badNetwork = try admin.api("PATCH", "/bots", token: APITokens.editor, body: #"{"networks": ["203.0.113.0/33"]}"#)
        #expect(badNetwork.status == 422 && badNetwork.body.contains("\"/networks\""), "\(badNetwork.body)")
        let path = try admin.api("PATCH", "/bots", token: APITokens.editor, body: #"{"user_agent_regexes": "/etc/shadow"}"#)
        #expect(path.status == 422 && path.body.contains("/user_agent_regexes"), "\(path.body)")
        #expect(try admin.api("DELETE", "/bots", token: APITokens.editor).status == 405)
        // RFC 7396: a null inside a nested object removes that member only.
        let capped = try admin.api("PATCH", "/offers/1", token: APITokens.editor, body: #"{"caps": {"daily_clicks": 9, "total_clicks": 100}}"#)
        #expect(capped.status == 200, "\(capped.body)")
        let uncapped = try admin.api("PATCH", "/offers/1", token: APITokens.editor,
                                     body: #"{"caps": {"daily_clicks": null}, "events": {"upsell": {"revenue": null}}}"#)
        #expect(uncapped.status == 200, "\(uncapped.body)")
        #expect(uncapped.json["caps"] as? [String: Int] == ["total_clicks": 100], "\(uncapped.body)")
        #expect((uncapped.json["events"] as? [String: [String: Double]])?["upsell"] == ["payout": 1.0], "\(uncapped.body)")
    }
}
