// Live tests of the conversion index without a lifetime cap: from a 1,024-entry start it records 20
// times that many conversions while 16 connections race identical postbacks through the growth
// steps; keys past their window are forgotten; kill -9 while it grows keeps every acknowledged
// conversion a duplicate of itself.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("conversion index growth", .serialized)
struct IndexGrowthTests {
    static let smallIndex = LiveServer.defaultConfig + """

    [storage]
    index_initial_capacity = 1024
    """

    /// One metric's value from `/metrics` (nil if absent).
    static func metric(_ server: LiveServer, _ name: String) throws -> Int? {
        let body = try server.admin().get("/metrics").body
        for line in body.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Int(line.split(separator: " ").last!)
        }
        return nil
    }

    /// Clicks and converts (each with its own order id) on `clients` connections until `total`
    /// conversions are recorded; counts every answer that is not 200.
    func convert(_ server: LiveServer, clients: Int, total: Int, tag: String, failures: Counter) {
        let done = DispatchSemaphore(value: 0)
        let next = Counter()
        for client in 0..<clients {
            Thread.detachNewThread {
                defer { done.signal() }
                guard let c = try? server.connect() else { failures.add("client \(client) cannot connect"); return }
                var n = next.increment()
                while n <= total {
                    guard let r = try? c.get("/click?offer_id=1&aff_id=7"), let id = clickID(r) else {
                        failures.add("click failed"); return
                    }
                    guard let p = try? c.get("/postback?click_id=\(id)&txid=\(tag)-\(n)") else {
                        failures.add("postback failed"); return
                    }
                    if p.status != 200 { failures.add("postback \(p.status) \(p.body)") }
                    n = next.increment()
                }
            }
        }
        for _ in 0..<clients { done.wait() }
    }

    /// 16 connections send one identical postback, released at once; returns a problem or nil.
    func race(_ server: LiveServer, round: Int) throws -> String? {
        let id = try #require(clickID(try server.connect().get("/click?offer_id=1&aff_id=7")))
        let connections = try (0..<16).map { _ in try server.connect() }
        let request = "GET /postback?click_id=\(id)&txid=race-\(round) HTTP/1.1\r\nHost: t\r\n\r\n"
        let results = RaceResults()
        let start = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        for c in connections {
            Thread.detachNewThread {
                start.wait()  // every sender is released at once below
                c.send(request)
                let r = try? c.read()
                results.append((r?.status ?? 0, r?.json["conversion_id"] as? Int ?? -1, r?.json["duplicate"] as? Bool ?? false))
                done.signal()
            }
        }
        for _ in connections { start.signal() }
        for _ in connections { done.wait() }
        let all = results.values
        guard all.count == 16, all.allSatisfy({ $0.0 == 200 }), Set(all.map(\.1)).count == 1, all.filter({ !$0.2 }).count == 1 else {
            return "race \(round): \(all)"
        }
        return nil
    }

    @Test func twentyTimesTheStartingCapacityWhileIdenticalPostbacksRace() throws {
        let server = try LiveServer(config: IndexGrowthTests.smallIndex)
        let failures = Counter()
        let total = 20 * 1024
        let loadDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            convert(server, clients: 4, total: total, tag: "load", failures: failures)
            loadDone.signal()
        }
        var rounds = 0
        var problems: [String] = []
        // Races run back to back for as long as the load grows the index.
        while loadDone.wait(timeout: .now()) == .timedOut {
            if let problem = try race(server, round: rounds) { problems.append(problem) }
            rounds += 1
        }
        #expect(problems.isEmpty, "\(problems.prefix(3))")
        #expect(failures.problems.isEmpty, "\(failures.problems.prefix(3))")
        #expect(rounds >= 10)
        let generations = try #require(try IndexGrowthTests.metric(server, "trackstar_conversion_index_generations"))
        let capacity = try #require(try IndexGrowthTests.metric(server, "trackstar_conversion_index_capacity"))
        let keys = try #require(try IndexGrowthTests.metric(server, "trackstar_conversion_index_entries"))
        #expect(generations > 1)
        #expect(keys == 2 * (total + rounds))  // an order id and a click+event pair per conversion
        #expect(capacity > 20 * 1024)
        #expect(server.stderrText.contains("conversion index: started a generation"))
    }

    @Test func keysPastTheirWindowAreForgotten() throws {
        let config = LiveServer.defaultConfig + """

        [[offers]]
        id = 9
        url = "https://short.example/?cid={click_id}"
        click_lifetime = "2s"

        [storage]
        txid_window = "2s"
        index_initial_capacity = 1024
        """
        let server = try LiveServer(config: config)
        let c = try server.connect()
        var converted: [(id: String, conversion: Int)] = []
        for i in 0..<200 {
            let id = try #require(clickID(try c.get("/click?offer_id=9&aff_id=7")))
            let r = try c.get("/postback?click_id=\(id)&txid=short-\(i)")
            #expect(r.status == 200)
            converted.append((id, r.json["conversion_id"] as? Int ?? -1))
        }
        // A repeat within the window is a duplicate of the first.
        let repeated = try c.get("/postback?click_id=\(converted[0].id)&txid=short-0")
        #expect(repeated.json["duplicate"] as? Bool == true)
        #expect(try IndexGrowthTests.metric(server, "trackstar_conversion_index_entries") ?? 0 >= 400)
        // Expiry (2 s, rounded up to 1,024 ms) plus a rotation (500 ms) and the keeper's turns.
        let deadline = Date().addingTimeInterval(20)
        var keys = -1
        while Date() < deadline {
            keys = try IndexGrowthTests.metric(server, "trackstar_conversion_index_entries") ?? -1
            if keys == 0 { break }
            usleep(100_000)  // polling interval; the deadline bounds the wait
        }
        #expect(keys == 0, "keys still held after their window")
        #expect(try IndexGrowthTests.metric(server, "trackstar_conversion_index_generations") == 1)
        // The click is past its lifetime: still `expired`, whatever the index forgot.
        let late = try c.get("/postback?click_id=\(converted[0].id)&txid=short-0")
        #expect(late.status == 410)
        #expect(late.json["reason"] as? String == "expired")
        // The order id is past its window: on a fresh click it is a new order (documented).
        let fresh = try #require(clickID(try c.get("/click?offer_id=9&aff_id=7")))
        let reused = try c.get("/postback?click_id=\(fresh)&txid=short-0")
        #expect(reused.status == 200)
        #expect(reused.json["duplicate"] == nil)
        #expect(reused.json["conversion_id"] as? Int != converted[0].conversion)
    }

    @Test func killNineWhileGrowingKeepsEveryAcknowledgedConversion() throws {
        var generator = SystemRandomNumberGenerator()
        let first = try LiveServer(config: IndexGrowthTests.smallIndex)
        first.ownsDataDir = false
        // 1,024 entries grow at about 384, 1,150, 2,700 and 5,800 conversions: a random moment in
        // that span falls before, during or just after a growth step.
        let acknowledged = Acknowledged(triggerAt: Int.random(in: 300...6000, using: &generator)) { first.kill9() }
        let done = DispatchSemaphore(value: 0)
        for client in 0..<4 {
            Thread.detachNewThread {
                defer { done.signal() }
                guard let c = try? first.connect() else { return }
                var i = 0
                while true {
                    i += 1
                    guard let r = try? c.get("/click?offer_id=1&aff_id=7"), let id = clickID(r) else { return }
                    let txid = "k\(client)-\(i)"
                    guard let p = try? c.get("/postback?click_id=\(id)&txid=\(txid)") else { return }
                    if p.status == 200, let conversion = p.json["conversion_id"] as? Int { acknowledged.conversion(id, txid, conversion) }
                }
            }
        }
        for _ in 0..<4 { done.wait() }
        let (_, conversions) = acknowledged.snapshot
        #expect(conversions.count >= 300)
        let restarted = try LiveServer(config: IndexGrowthTests.smallIndex, dataDir: first.dataDir)
        let c = try restarted.connect()
        for (id, txid, conversion) in conversions {
            let r = try c.get("/postback?click_id=\(id)&txid=\(txid)")
            #expect(r.status == 200 && r.json["duplicate"] as? Bool == true && r.json["conversion_id"] as? Int == conversion,
                    "conversion \(conversion) of \(id) after restart: \(r.status) \(r.body)")
        }
        #expect(try IndexGrowthTests.metric(restarted, "trackstar_conversion_index_entries") ?? 0 >= 2 * conversions.count)
    }
}

/// A shared count and a list of problems, from many client threads.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private(set) var problemList: [String] = []
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; count += 1; return count }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
    func add(_ problem: String) { lock.lock(); problemList.append(problem); lock.unlock() }
    var problems: [String] { lock.lock(); defer { lock.unlock() }; return problemList }
}
