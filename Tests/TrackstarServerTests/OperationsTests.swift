// Live tests of operator-facing behaviour: check-config output, unknown clicks with valid tags, and
// refusing to acknowledge when storage cannot be written, then recovering by itself.
import Foundation
import Testing
import TrackstarCore
import TrackstarTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("operations", .serialized)
struct OperationsTests {
    @Test func checkConfigPrintsEveryProblemWithItsLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).toml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try """
        [server]
        loops = 0

        [[offers]]
        id = 1
        url = "https://shop.example/?c={clickid}"
        status = "stopped"
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try LiveServer.run(["check-config", path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(path):2: server.loops"), "\(result.stderr)")
        #expect(result.stderr.contains("\(path):6: "), "\(result.stderr)")
        #expect(result.stderr.contains("clickid"))
        #expect(result.stderr.contains("\(path):7: "), "\(result.stderr)")
        #expect(result.stderr.contains("3 problems found"), "\(result.stderr)")

        let good = try LiveServer.run(["check-config", LiveServer.packageRoot.appendingPathComponent("examples/trackstar.toml").path])
        #expect(good.status == 0, "\(good.stderr)")
    }

    @Test func validTagForAClickNeverMintedIsUnknown() throws {
        let server = try LiveServer(loops: 1)
        _ = try server.connect().get("/click?offer_id=1&aff_id=7")  // the key file exists once serving
        let keyText = try String(contentsOfFile: server.dataPath + "/click.key", encoding: .utf8)
        let hex = try #require(keyText.split(separator: "\n").first { $0.hasPrefix("key0") }?.split(separator: " ").last)
        let key = SipHashKey(k0: UInt64(hex.prefix(16), radix: 16)!, k1: UInt64(hex.suffix(16), radix: 16)!)
        var text = [UInt8](repeating: 0, count: ClickID.textLength)
        let minute = ClickID.minute(unixMillis: Int64(Date().timeIntervalSince1970 * 1000))
        text.withUnsafeMutableBytes {
            ClickIDCodec(currentKey: key).encode(ClickID(node: 0, shard: 0, sequence: 999_999, mintMinute: minute, keyID: 0),
                                                 into: $0.baseAddress!)
        }
        let r = try server.connect().get("/postback?click_id=\(String(decoding: text, as: UTF8.self))")
        #expect(r.status == 404)
        #expect(r.json["reason"] as? String == "unknown_click")
    }

    /// A new data dir mints opaque IDs only: its key file says so, and a readable (version-0) ID with
    /// a tag that verifies under its key is refused as forged, while the opaque ID of the same click
    /// converts.
    @Test func aNewDataDirRefusesVersionZeroIDs() throws {
        let server = try LiveServer(loops: 1)
        let click = try server.connect().get("/click?offer_id=1&aff_id=7")
        let minted = try #require(click.header("Location").flatMap { URLComponents(string: $0)?.queryItems?.first { $0.name == "cid" }?.value })
        let keyText = try String(contentsOfFile: server.dataPath + "/click.key", encoding: .utf8)
        #expect(keyText.contains("legacy_ids = refuse"))
        let hex = try #require(keyText.split(separator: "\n").first { $0.hasPrefix("key0") }?.split(separator: " ").last)
        let codec = ClickIDCodec(currentKey: SipHashKey(k0: UInt64(hex.prefix(16), radix: 16)!, k1: UInt64(hex.suffix(16), radix: 16)!),
                                 acceptsLegacy: true)
        guard case .valid(let id) = Array(minted.utf8).withUnsafeBytes({ codec.decode($0) }) else {
            Issue.record("the minted id \(minted) does not decode under the data dir's key"); return
        }
        var legacy = [UInt8](repeating: 0, count: ClickID.textLength)
        legacy.withUnsafeMutableBytes { codec.encodeLegacy(id, into: $0.baseAddress!) }
        let refused = try server.connect().get("/postback?click_id=\(String(decoding: legacy, as: UTF8.self))")
        #expect(refused.status == 404)
        #expect(refused.json["reason"] as? String == "forged_id")
        #expect(try server.connect().get("/postback?click_id=\(minted)").status == 200)
    }

    /// A file-size limit makes every new segment fail (EFBIG), like a full disk: clicks get 503 with
    /// Retry-After and nothing is acknowledged; lifting the limit lets the next click through.
    @Test func unwritableStorageAnswers503ThenRecoversByItself() throws {
        let server = try LiveServer(loops: 1)
        let c = try server.connect()
        let pid = server.process.processIdentifier
        #expect(try LiveServer.runTool("/usr/bin/prlimit", ["--pid", "\(pid)", "--fsize=1048576:unlimited"]) == 0)
        let refused = try c.get("/click?offer_id=1&aff_id=7")
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") == "5")
        #expect(refused.json["reason"] as? String == "storage_unavailable")
        #expect(refused.header("Location") == nil)
        #expect(try LiveServer.runTool("/usr/bin/prlimit", ["--pid", "\(pid)", "--fsize=unlimited:unlimited"]) == 0)
        let accepted = try c.get("/click?offer_id=1&aff_id=7")
        #expect(accepted.status == 302)
        #expect(try server.connect().get("/healthz").status == 200)
    }
}

extension OperationsTests {
    @Test func metricsCountWhatHappenedInPrometheusFormat() throws {
        let server = try LiveServer()
        let c = try server.connect()
        for _ in 0..<3 { #expect(try c.get("/click?offer_id=1&aff_id=7").status == 302) }
        #expect(try c.get("/click?offer_id=2&aff_id=7").status == 302)  // paused: fallback
        #expect(try c.get("/postback?click_id=garbage").status == 400)
        #expect(try c.get("/postback?click_id=%7Bclick_id%7D").status == 400)
        let r = try server.admin().get("/metrics")
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "text/plain; version=0.0.4")
        let lines = Set(r.body.split(separator: "\n").map(String.init))
        #expect(lines.contains("trackstar_clicks_total{outcome=\"recorded\"} 3"), "\(r.body)")
        #expect(lines.contains("trackstar_clicks_total{outcome=\"fallback\"} 1"))
        #expect(lines.contains("trackstar_postbacks_total{result=\"refused\",reason=\"malformed_id\"} 1"))
        #expect(lines.contains("trackstar_postbacks_total{result=\"refused\",reason=\"unreplaced_macro\"} 1"))
        #expect(lines.contains("# TYPE trackstar_request_duration_seconds histogram"))
        #expect(lines.contains("trackstar_request_duration_seconds_count 6"))
        #expect(lines.contains("trackstar_connections 1"))
        let recorded = r.body.split(separator: "\n").filter { $0.hasPrefix("trackstar_shard_records{") && $0.contains("log=\"clicks\"") }
        #expect(recorded.compactMap { Int($0.split(separator: " ").last!) }.reduce(0, +) == 3)
    }
}

extension OperationsTests {
    @Test func sighupReloadsOffersWithoutDroppingConnectionsAndRefusesABadFile() throws {
        let server = try LiveServer()
        let kept = try server.connect()
        #expect(try kept.get("/click?offer_id=10&aff_id=7").status == 404)
        let updated = LiveServer.defaultConfig.replacingOccurrences(of: "id = 1\nurl = \"https://shop.example/landing", with: "id = 1\nstatus = \"paused\"\nfallback_url = \"https://closed.example/\"\nurl = \"https://shop.example/landing") + """

        [[offers]]
        id = 10
        url = "https://new.example/?cid={click_id}"
        """
        try updated.write(toFile: server.configPath, atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        #expect(try eventually(within: 10) { try kept.get("/click?offer_id=10&aff_id=7").status == 302 })
        #expect(try kept.get("/click?offer_id=1&aff_id=7").header("Location") == "https://closed.example/")

        try "[[offers]]\nid = \"ten\"\n".write(toFile: server.configPath, atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        // The refusal is logged with the file's line; the running configuration stays.
        #expect(eventually(within: 10) { server.stderrText.contains("reload refused") })
        #expect(server.stderrText.contains("\(server.configPath):2: "), "\(server.stderrText)")
        #expect(try kept.get("/click?offer_id=10&aff_id=7").status == 302)
        #expect(server.process.isRunning)
    }
}

extension OperationsTests {
    @Test func forwardedAddressesCountOnlyFromTrustedProxies() throws {
        // Without trusted_proxies the header is ignored: offer 6 allows only 10.0.0.0/8.
        let plain = try LiveServer()
        let id6 = try #require(clickID(try plain.connect().get("/click?offer_id=6&aff_id=7")))
        #expect(try plain.connect().get("/postback?click_id=\(id6)", headers: "X-Forwarded-For: 10.1.2.3\r\n").status == 403)

        let config = LiveServer.defaultConfig.replacingOccurrences(of: "[server]\n", with: "[server]\ntrusted_proxies = [\"127.0.0.0/8\"]\n") + """

        [[offers]]
        id = 20
        url = "https://x.example/?cid={click_id}"
        allowed_ips = ["203.0.113.0/24", "2001:db8::/32"]
        """
        let proxied = try LiveServer(config: config)
        let c = try proxied.connect()
        func postback(_ header: String) throws -> Int {
            let id = try #require(clickID(try c.get("/click?offer_id=20&aff_id=7")))
            return try c.get("/postback?click_id=\(id)", headers: header).status
        }
        #expect(try postback("") == 403)
        #expect(try postback("X-Forwarded-For: 203.0.113.7\r\n") == 200)
        #expect(try postback("X-Forwarded-For: 203.0.113.7, 127.0.0.5\r\n") == 200)
        #expect(try postback("X-Forwarded-For: 203.0.113.7, 198.51.100.1\r\n") == 403)
        #expect(try postback("Forwarded: for=\"[2001:db8::1]:4711\";proto=https\r\n") == 200)
        #expect(try postback("Forwarded: for=192.0.2.60\r\n") == 403)
    }
}

extension OperationsTests {
    @Test func sigtermDrainsSnapshotsAndExitsZero() throws {
        let config = LiveServer.defaultConfig.replacingOccurrences(of: "[server]\n", with: "[storage]\nfsync = \"always\"\n\n[server]\n")
        let server = try LiveServer(config: config)
        let c = try server.connect()
        let idle = try server.connect()
        _ = idle
        // Pipelined clicks, then SIGTERM at once: whatever was answered is durable and the exit is clean.
        c.send(String(repeating: "GET /click?offer_id=1&aff_id=7 HTTP/1.1\r\nHost: t\r\n\r\n", count: 50))
        let first = try c.read()
        #expect(first.status == 302)
        server.stop()
        #expect(server.process.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: server.dataPath + "/manifest"))
        let inspected = try LiveServer.run(["inspect", server.dataPath])
        #expect(inspected.status == 0, "\(inspected.stdout)")
        #expect(inspected.stdout.contains("integrity: ok"))
    }
}

extension LiveServer {
    /// Runs a system tool to completion and returns its exit status.
    static func runTool(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
