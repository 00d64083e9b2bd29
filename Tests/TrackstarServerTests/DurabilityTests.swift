// Crash and corruption tests against the real binary: kill -9 under load loses nothing that was
// acknowledged; a torn tail is cut and said; corruption before the tail stops start-up with the file
// and offset; missing and damaged manifests have their documented outcomes.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What concurrent clients saw acknowledged before the crash.
final class Acknowledged: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var clicks: [String] = []
    private(set) var conversions: [(id: String, txid: String, conversion: Int)] = []
    /// Runs once, on the client thread whose acknowledgement makes the total reach `at`.
    private var trigger: (at: Int, action: () -> Void)?

    init(triggerAt: Int, _ action: @escaping () -> Void) { trigger = (triggerAt, action) }

    func click(_ id: String) { record { clicks.append(id) } }
    func conversion(_ id: String, _ txid: String, _ conversion: Int) { record { conversions.append((id, txid, conversion)) } }

    private func record(_ append: () -> Void) {
        lock.lock()
        append()
        var action: (() -> Void)?
        if let t = trigger, clicks.count + conversions.count >= t.at { action = t.action; trigger = nil }
        lock.unlock()
        action?()
    }

    var snapshot: ([String], [(id: String, txid: String, conversion: Int)]) { lock.lock(); defer { lock.unlock() }; return (clicks, conversions) }
}

func clickID(_ response: TestResponse) -> String? {
    guard response.status == 302, let location = response.header("Location") else { return nil }
    return URLComponents(string: location)?.queryItems?.first { $0.name == "cid" }?.value
}

@Suite("durability", .serialized)
struct DurabilityTests {
    /// Clients click and convert until the server dies; returns when every client has stopped.
    func load(_ server: LiveServer, clients: Int, acknowledged: Acknowledged, round: Int) {
        let done = DispatchSemaphore(value: 0)
        for client in 0..<clients {
            Thread.detachNewThread {
                defer { done.signal() }
                guard let c = try? server.connect() else { return }
                var i = 0
                while true {
                    i += 1
                    guard let r = try? c.get("/click?offer_id=1&aff_id=7&sub1=r\(round)c\(client)n\(i)"), let id = clickID(r) else { return }
                    acknowledged.click(id)
                    guard i % 3 == 0 else { continue }
                    let txid = "r\(round)-c\(client)-\(i)"
                    guard let p = try? c.get("/postback?click_id=\(id)&txid=\(txid)") else { return }
                    if p.status == 200, let conversion = p.json["conversion_id"] as? Int { acknowledged.conversion(id, txid, conversion) }
                }
            }
        }
        for _ in 0..<clients { done.wait() }
    }

    @Test func killNineLosesNothingAcknowledged() throws {
        var generator = SystemRandomNumberGenerator()
        let first = try LiveServer()
        first.ownsDataDir = false
        var server = first
        var allClicks = Set<String>()
        for round in 0..<4 {
            let victim = server
            // A random moment under load: after a random number of acknowledged requests.
            let acknowledged = Acknowledged(triggerAt: Int.random(in: 50...1500, using: &generator)) { victim.kill9() }
            load(server, clients: 4, acknowledged: acknowledged, round: round)
            let (clicks, conversions) = acknowledged.snapshot
            #expect(clicks.count > 0)
            let restarted = try LiveServer(dataDir: first.dataDir)
            restarted.ownsDataDir = round == 3
            let c = try restarted.connect()
            for (id, txid, conversion) in conversions {
                let r = try c.get("/postback?click_id=\(id)&txid=\(txid)")
                #expect(r.status == 200 && r.json["duplicate"] as? Bool == true && r.json["conversion_id"] as? Int == conversion,
                        "round \(round): conversion \(conversion) of \(id) after restart: \(r.status) \(r.body)")
            }
            let converted = Set(conversions.map(\.id))
            for id in clicks where !converted.contains(id) {
                let r = try c.get("/postback?click_id=\(id)&event=upsell")
                #expect(r.status == 200, "round \(round): click \(id) after restart: \(r.status) \(r.body)")
            }
            allClicks.formUnion(clicks)
            let fresh = try #require(clickID(try c.get("/click?offer_id=1&aff_id=7")))
            #expect(!allClicks.contains(fresh), "a new ID collided with one minted before the crash")
            server = restarted
        }
    }

    /// Mints `count` clicks on a one-loop server, then crashes it; returns the data dir and IDs.
    func crashedDataDir(clicks count: Int) throws -> (LiveServer, [String]) {
        let server = try LiveServer(loops: 1)
        server.ownsDataDir = false
        let c = try server.connect()
        let ids = try (0..<count).map { _ in try #require(clickID(try c.get("/click?offer_id=1&aff_id=7&sub1=x"))) }
        server.kill9()
        return (server, ids)
    }

    func segment(_ server: LiveServer) -> String { server.dataPath + "/shard-0/clicks-000000.rec" }

    func flipByte(_ path: String, at offset: Int) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64(offset))
        let byte = try #require(try handle.read(upToCount: 1)?.first)
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data([byte ^ 0x5a]))
        try handle.close()
    }

    func serveArguments(_ server: LiveServer, _ extra: [String] = []) -> [String] {
        ["serve", "--config", server.configPath, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--loops", "1", "--data-dir", server.dataPath] + extra
    }

    @Test func tornLastRecordIsCutAndReported() throws {
        let (crashed, ids) = try crashedDataDir(clicks: 10)
        try flipByte(segment(crashed), at: 9 * 64 + 20)  // the last record, as if half written
        let restarted = try LiveServer(loops: 1, dataDir: crashed.dataDir)
        #expect(restarted.startupOutput.contains("cut a torn tail of 1 record (64 bytes) at \(segment(crashed)) offset 576 (record 9)"),
                "\(restarted.startupOutput)")
        let c = try restarted.connect()
        #expect(try c.get("/postback?click_id=\(ids[8])").status == 200)
        #expect(try c.get("/postback?click_id=\(ids[9])").json["reason"] as? String == "unknown_click")
    }

    @Test func truncatedSegmentFileIsExtendedAndItsTailCut() throws {
        let (crashed, ids) = try crashedDataDir(clicks: 10)
        #expect(truncate(segment(crashed), 9 * 64 + 32) == 0)  // the file ends inside the last record
        let restarted = try LiveServer(loops: 1, dataDir: crashed.dataDir)
        #expect(restarted.startupOutput.contains("\(segment(crashed)) was \(9 * 64 + 32) bytes, shorter than a segment"),
                "\(restarted.startupOutput)")
        let c = try restarted.connect()
        #expect(try c.get("/postback?click_id=\(ids[8])").status == 200)
        #expect(try c.get("/postback?click_id=\(ids[9])").json["reason"] as? String == "unknown_click")
    }

    @Test func corruptRecordMidSegmentStopsStartupNamingFileAndOffset() throws {
        let (crashed, ids) = try crashedDataDir(clicks: 10)
        defer { try? FileManager.default.removeItem(atPath: crashed.dataDir) }
        try flipByte(segment(crashed), at: 2 * 64 + 9)
        let refused = try LiveServer.run(serveArguments(crashed))
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("corrupt record at \(segment(crashed)) offset 128 (record 2), followed by 7 intact records"),
                "\(refused.stderr)")
        #expect(refused.stderr.contains("--quarantine-damaged"))
        let inspected = try LiveServer.run(["inspect", crashed.dataPath])
        #expect(inspected.status == 1)
        #expect(inspected.stdout.contains("DAMAGED: corrupt record at \(segment(crashed)) offset 128"), "\(inspected.stdout)")

        let quarantined = try LiveServer(loops: 1, dataDir: crashed.dataDir, extraArguments: ["--quarantine-damaged"])
        quarantined.ownsDataDir = false
        #expect(quarantined.startupOutput.contains("quarantined \(segment(crashed))"), "\(quarantined.startupOutput)")
        #expect(FileManager.default.fileExists(atPath: segment(crashed) + ".quarantined"))
        let c = try quarantined.connect()
        #expect(try c.get("/postback?click_id=\(ids[0])").json["reason"] as? String == "unknown_click")
        let fresh = try #require(clickID(try c.get("/click?offer_id=1&aff_id=7")))
        #expect(!ids.contains(fresh))
        #expect(try c.get("/postback?click_id=\(fresh)").status == 200)
    }

    @Test func missingManifestMeansAFullScan() throws {
        let server = try LiveServer(loops: 1)
        server.ownsDataDir = false
        let c = try server.connect()
        let ids = try (0..<5).map { _ in try #require(clickID(try c.get("/click?offer_id=1&aff_id=7"))) }
        server.stop()  // a clean stop writes a manifest
        #expect(FileManager.default.fileExists(atPath: server.dataPath + "/manifest"))
        try FileManager.default.removeItem(atPath: server.dataPath + "/manifest")
        try? FileManager.default.removeItem(atPath: server.dataPath + "/manifest.prev")
        let restarted = try LiveServer(loops: 1, dataDir: server.dataDir)
        #expect(restarted.startupOutput.contains("no manifest in \(server.dataPath): every record was verified by a full scan"))
        for id in ids { #expect(try restarted.connect().get("/postback?click_id=\(id)").status == 200) }
    }

    @Test func damagedManifestFallsBackOrStops() throws {
        let server = try LiveServer(loops: 1)
        server.ownsDataDir = false
        defer { try? FileManager.default.removeItem(atPath: server.dataDir) }
        let id = try #require(clickID(try server.connect().get("/click?offer_id=1&aff_id=7")))
        server.stop()
        let manifest = server.dataPath + "/manifest"
        // Restart and stop once more so that manifest.prev exists too.
        try LiveServer(loops: 1, dataDir: server.dataDir).ownsDataDir = false
        #expect(FileManager.default.fileExists(atPath: manifest + ".prev"))
        try flipByte(manifest, at: 20)
        let fallback = try LiveServer(loops: 1, dataDir: server.dataDir)
        fallback.ownsDataDir = false
        #expect(fallback.startupOutput.contains("manifest \(manifest) is damaged (checksum mismatch at offset"), "\(fallback.startupOutput)")
        #expect(try fallback.connect().get("/postback?click_id=\(id)").status == 200)
        fallback.stop()

        try Data("not a manifest".utf8).write(to: URL(fileURLWithPath: manifest))
        try Data("not a manifest either".utf8).write(to: URL(fileURLWithPath: manifest + ".prev"))
        let refused = try LiveServer.run(serveArguments(server))
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("every manifest in \(server.dataPath) is damaged"), "\(refused.stderr)")
        #expect(refused.stderr.contains("move the manifest files aside"))
    }
}
