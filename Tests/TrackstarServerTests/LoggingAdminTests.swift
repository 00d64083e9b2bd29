// Live tests of the operator's view: structured log lines (text and JSON) that parse, refusal
// summaries instead of a line per request under a flood, and the admin listener (/healthz, /readyz,
// /metrics; /metrics gone from the public port). Waits poll with deadlines; nothing sleeps to sync.
import Foundation
import Testing
import TrackstarTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A well-formed click ID whose tag no key made: every postback with it is refused `forged_id`.
private let forgedID = "0123456789ABCDEFGHJKMNPQRS"

private func config(log: String = "", admin: Bool = false) -> String {
    var text = LiveServer.defaultConfig
    if !log.isEmpty { text += "\n\n[log]\n" + log + "\n" }
    if admin { text += "\n\n[admin]\nlisten = \"127.0.0.1:0\"\n" }
    return text
}

/// `key=value` pairs of a logfmt tail (values bare or in double quotes with backslash escapes).
func logfmtPairs(_ text: Substring) -> [String: String]? {
    var pairs: [String: String] = [:]
    var rest = text[...]
    while !rest.isEmpty {
        rest = rest.drop { $0 == " " }
        guard let equals = rest.firstIndex(of: "=") else { return rest.isEmpty ? pairs : nil }
        let key = String(rest[..<equals])
        guard !key.isEmpty, !key.contains(" ") else { return nil }
        rest = rest[rest.index(after: equals)...]
        var value = ""
        if rest.first == "\"" {
            rest = rest.dropFirst()
            var closed = false
            while let c = rest.first {
                rest = rest.dropFirst()
                if c == "\\", let next = rest.first { value.append(next == "n" ? "\n" : next); rest = rest.dropFirst() }
                else if c == "\"" { closed = true; break }
                else { value.append(c) }
            }
            guard closed else { return nil }
        } else {
            value = String(rest.prefix { $0 != " " })
            rest = rest.dropFirst(value.count)
        }
        pairs[key] = value
    }
    return pairs
}

extension LiveServer {
    /// The log lines on standard error so far.
    var logLines: [String] { stderrText.split(separator: "\n").map(String.init) }
}

@Suite("logging and admin", .serialized)
struct LoggingAdminTests {
    @Test func textLogLinesParse() throws {
        let server = try LiveServer(config: config(log: "summary_interval = \"1s\""))
        #expect(try server.connect().get("/postback?click_id=\(forgedID)").status == 404)
        let pattern = #"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (trace|debug|info|notice|warning|error|critical) trackstar: "#
        #expect(eventually(within: 15) { server.logLines.contains { $0.contains("postbacks refused") } }, "\(server.stderrText)")
        for line in server.logLines {
            #expect(line.range(of: pattern, options: .regularExpression) != nil, "not a log line: \(line)")
        }
        let summary = try #require(server.logLines.first { $0.contains("postbacks refused") })
        #expect(summary.contains(" warning trackstar: postbacks refused "), "\(summary)")
        let pairs = try #require(logfmtPairs(summary[summary.range(of: "postbacks refused ")!.upperBound...]), "\(summary)")
        #expect(pairs == ["count": "1", "interval_s": "1", "reason": "forged_id"], "\(summary)")
        let serving = try #require(server.logLines.first { $0.contains("trackstar: serving ") })
        #expect(logfmtPairs(serving[serving.range(of: "serving ")!.upperBound...])?["address"] == "127.0.0.1:\(server.port)")
    }

    @Test func jsonLogLinesParse() throws {
        let server = try LiveServer(config: config(log: "format = \"json\"\nsummary_interval = \"1s\""))
        #expect(try server.connect().get("/postback?click_id=\(forgedID)").status == 404)
        #expect(eventually(within: 15) { server.logLines.contains { $0.contains("postbacks refused") } }, "\(server.stderrText)")
        var objects: [[String: Any]] = []
        for line in server.logLines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let parsed = try #require(object, "not a JSON object: \(line)")
            #expect((parsed["ts"] as? String)?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil)
            #expect(["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(parsed["level"] as? String ?? ""))
            #expect(parsed["msg"] is String)
            objects.append(parsed)
        }
        let summary = try #require(objects.first { $0["msg"] as? String == "postbacks refused" })
        #expect(summary["level"] as? String == "warning")
        #expect(summary["reason"] as? String == "forged_id")
        #expect(summary["count"] as? Int == 1)
        #expect(summary["interval_s"] as? Int == 1)
    }

    @Test func levelAboveWarningHidesTheSummaries() throws {
        let server = try LiveServer(config: config(log: "level = \"error\"\nsummary_interval = \"1s\""))
        #expect(try server.connect().get("/postback?click_id=\(forgedID)").status == 404)
        // An error is still written: a reload of a broken file. By then a summary would have been due.
        try "[server]\nloops = 0\n".write(toFile: server.configPath, atomically: true, encoding: .utf8)
        let started = Date()
        kill(server.process.processIdentifier, SIGHUP)
        #expect(eventually(within: 15) { server.stderrText.contains("reload refused") && Date().timeIntervalSince(started) > 2 })
        #expect(!server.stderrText.contains("postbacks refused"), "\(server.stderrText)")
        #expect(!server.stderrText.contains(" info "), "\(server.stderrText)")
    }

    /// 400 forged postbacks pipelined on one connection, plus a refused click and an unparseable
    /// request: the log holds a few summary lines whose counts add up exactly, not 400 lines.
    @Test func floodOfForgedPostbacksIsSummarisedNotLoggedPerRequest() throws {
        let server = try LiveServer(config: config(log: "summary_interval = \"1s\""))
        let flood = 400
        let c = try server.connect()
        c.send(String(repeating: "GET /postback?click_id=\(forgedID) HTTP/1.1\r\nHost: t\r\n\r\n", count: flood))
        for _ in 0..<flood { #expect(try c.read().status == 404) }
        #expect(try server.connect().get("/click?offer_id=999&aff_id=7").status == 404)
        let bad = try server.connect()
        bad.send("GET /click HTTP/1.1\r\nHost t\r\n\r\n")
        #expect(try bad.read().status == 400)

        func counts(_ message: String) -> [Int] {
            server.logLines.filter { $0.contains(" trackstar: \(message) ") }.compactMap { line in
                logfmtPairs(line[line.range(of: "\(message) ")!.upperBound...])?["count"].flatMap { Int($0) }
            }
        }
        let complete = eventually(within: 20) {
            counts("postbacks refused").reduce(0, +) == flood && counts("clicks refused") == [1] && counts("bad requests") == [1]
        }
        #expect(complete, "\(server.stderrText)")
        let summaries = server.logLines.filter { $0.contains("postbacks refused") }
        #expect(summaries.allSatisfy { $0.contains("reason=forged_id") && $0.contains("interval_s=1") }, "\(summaries)")
        #expect(summaries.count < 20, "\(summaries.count) summary lines for \(flood) postbacks")
        #expect(server.logLines.count < 40, "\(server.stderrText)")
    }

    @Test func checkConfigReportsBadLogAndAdminValuesWithTheirLines() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ops-\(UUID().uuidString).toml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "[log]\nlevel = \"loud\"\nformat = \"yaml\"\n\n[admin]\nlisten = \"admin.local:9091\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try LiveServer.run(["check-config", path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(path):2: log.level"), "\(result.stderr)")
        #expect(result.stderr.contains("\(path):3: log.format"), "\(result.stderr)")
        #expect(result.stderr.contains("\(path):6: admin.listen"), "\(result.stderr)")
        #expect(result.stderr.contains("3 problems found"), "\(result.stderr)")
    }
}

extension LoggingAdminTests {
    @Test func adminServesHealthReadinessAndMetricsAndThePublicPortNoLongerServesMetrics() throws {
        let server = try LiveServer(config: config(admin: true))
        let admin = try server.admin()
        #expect(try server.connect().get("/click?offer_id=1&aff_id=7").status == 302)

        let health = try admin.get("/healthz")
        #expect(health.status == 200 && health.body == "ok\n")
        #expect(try eventually(within: 10) { try admin.get("/readyz").status == 200 })
        #expect(try admin.get("/readyz").body == "ready\n")
        let metrics = try admin.get("/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.header("Content-Type") == "text/plain; version=0.0.4")
        #expect(metrics.body.contains("trackstar_clicks_total{outcome=\"recorded\"} 1\n"), "\(metrics.body)")
        #expect(metrics.body.contains("trackstar_connections "), "\(metrics.body)")

        let public_ = try server.connect()
        let hidden = try public_.get("/metrics")
        #expect(hidden.status == 404)
        #expect(!hidden.body.contains("trackstar_"))
        #expect(try public_.get("/healthz").status == 200)

        #expect(try admin.get("/nothing").status == 404)
        let post = try admin.request("POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        #expect(post.status == 405)
        #expect(post.header("Allow") == "GET, HEAD")
        admin.send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try admin.read(head: true)
        #expect(head.status == 200 && head.body.isEmpty && head.header("Content-Length") == "3")
    }

    /// `listen = "off"`: no admin listener, and the public port still keeps /metrics to itself.
    @Test func withTheAdminListenerOffTheLogSaysNothingOfItAndMetricsStayHidden() throws {
        let server = try LiveServer(extraArguments: ["--admin-listen", "off"])
        #expect(!server.startupOutput.contains("admin"))
        #expect(try server.connect().get("/metrics").status == 404)
    }

    /// `public_metrics = true` is the operator's explicit opt-in to /metrics on the public port.
    @Test func publicMetricsServesMetricsOnThePublicPortToo() throws {
        let server = try LiveServer(config: LiveServer.defaultConfig + "\n\n[admin]\npublic_metrics = true\n")
        #expect(try server.connect().get("/metrics").status == 200)
        #expect(try server.admin().get("/metrics").status == 200)
    }

    /// Under a file-size limit new segments fail like a full disk: /readyz says so until a write succeeds again.
    @Test func readyzIs503WhileStorageCannotBeWritten() throws {
        let server = try LiveServer(config: config(admin: true), loops: 1)
        let admin = try server.admin()
        let c = try server.connect()
        #expect(try eventually(within: 10) { try admin.get("/readyz").status == 200 })
        let pid = server.process.processIdentifier
        #expect(try LiveServer.runTool("/usr/bin/prlimit", ["--pid", "\(pid)", "--fsize=1048576:unlimited"]) == 0)
        #expect(try c.get("/click?offer_id=1&aff_id=7").status == 503)
        let unready = try admin.get("/readyz")
        #expect(unready.status == 503)
        #expect(unready.body.contains("storage_unavailable"), "\(unready.body)")
        #expect(try admin.get("/healthz").status == 200)  // alive, just not ready
        let logged = server.logLines.first { $0.contains(" error trackstar: cannot append a record;") }
        #expect(logged?.contains(" shard=0") == true && logged?.contains(" log=clicks") == true, "\(server.stderrText)")
        #expect(try LiveServer.runTool("/usr/bin/prlimit", ["--pid", "\(pid)", "--fsize=unlimited:unlimited"]) == 0)
        #expect(try c.get("/click?offer_id=1&aff_id=7").status == 302)
        #expect(try eventually(within: 20) { try admin.get("/readyz").status == 200 })
    }

    /// SIGTERM with a client that never reads: its answers keep the public loops draining (up to 5 s),
    /// and meanwhile the admin listener answers /readyz with 503 "stopping". The exit is still clean.
    @Test func readyzIs503WhileShuttingDown() throws {
        let server = try LiveServer(config: config(admin: true), loops: 1)
        let adminPort = try server.adminPort()
        #expect(try eventually(within: 10) { try server.admin().get("/readyz").status == 200 })
        var requests: [UInt8] = []
        while requests.count < 1 << 20 { requests += Array("GET /click?offer_id=1&aff_id=7 HTTP/1.1\r\nHost: t\r\n\r\n".utf8) }
        let flood = try RawClient(port: server.port, receiveBuffer: 16 * 1024)
        _ = flood.sendAllInBackground(requests)
        // A write of the server's answers is pending: they sit unsent in its send queue and nothing
        // moves for half a second. (Whether input is also left unread in its receive queue depends on
        // the receive path: io_uring may already hold the last of it when the connection pauses.)
        var last = (-1, -1), stable = 0
        #expect(eventually(within: 30, every: 0.1) {
            guard let s = KernelSocket.find(localPort: server.port, remotePort: flood.localPort) else { return false }
            let now = (s.sendQueue, s.receiveQueue)
            stable = now == last && s.sendQueue > 0 ? stable + 1 : 0
            last = now
            return stable >= 5
        })
        kill(server.process.processIdentifier, SIGTERM)
        var seen: [String] = []
        let stopping = eventually(within: 10, every: 0.02) {
            guard let r = try? TestConnection(port: adminPort).get("/readyz") else { return false }
            seen.append("\(r.status) \(r.body)")
            return r.status == 503 && r.body.contains("stopping")
        }
        #expect(stopping, "\(seen.suffix(5))")
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)
    }
}

extension LoggingAdminTests {
    @Test func adminListensOnIPv6Loopback() throws {
        let server = try LiveServer(config: LiveServer.defaultConfig + "\n\n[admin]\nlisten = \"[::1]:0\"\n")
        let range = try #require(server.startupOutput.range(of: #"admin listening on \[::1\]:(\d+)"#, options: .regularExpression),
                                 "\(server.startupOutput)")
        let port = try #require(UInt16(server.startupOutput[range].split(separator: ":").last!))
        let health = try TestConnection(port: port, host: "::1").get("/healthz")
        #expect(health.status == 200 && health.body == "ok\n")
    }

    /// `--listen` can put the public listener on the admin port after the loader checked the file:
    /// start-up refuses it before binding anything (both listeners use SO_REUSEPORT).
    @Test func adminPortEqualToThePublicOneIsRefusedAtStartup() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ops-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try (LiveServer.defaultConfig.replacingOccurrences(of: "listen = \"127.0.0.1:0\"\n", with: "")
             + "\n\n[admin]\nlisten = \"127.0.0.1:65000\"\n").write(toFile: dir + "/t.toml", atomically: true, encoding: .utf8)
        let result = try LiveServer.run(["serve", "--config", dir + "/t.toml", "--listen", "127.0.0.1:65000", "--data-dir", dir + "/data"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("critical trackstar: cannot start: admin.listen: port 65000 is also the public listener's"),
                "\(result.stderr)")
    }
}

extension LoggingAdminTests {
    /// The interval in progress at SIGTERM is summarised too, with its real length.
    @Test func theLastPartialIntervalIsSummarisedAtStop() throws {
        let server = try LiveServer(config: config(log: "summary_interval = \"1h\""))
        #expect(try server.connect().get("/postback?click_id=\(forgedID)").status == 404)
        server.stop()
        #expect(server.process.terminationStatus == 0)
        let summary = try #require(server.logLines.first { $0.contains("postbacks refused") }, "\(server.stderrText)")
        let pairs = try #require(logfmtPairs(summary[summary.range(of: "postbacks refused ")!.upperBound...]))
        #expect(pairs["count"] == "1" && pairs["reason"] == "forged_id", "\(summary)")
        #expect(Double(pairs["interval_s"] ?? "") ?? 3600 < 3600, "\(summary)")
    }
}
