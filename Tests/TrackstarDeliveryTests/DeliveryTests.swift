// Unit tests of partner postbacks' parts: templates and their encoding, routing rules, the
// delivery log (round trip, torn tail, read-only readers) and the ledger it replays into.
import Foundation
import Testing
import TrackstarCore
@testable import TrackstarDelivery
import TrackstarStore
import TrackstarConfiguration

@Suite("partner templates")
struct PartnerTemplateTests {
    @Test func encodesValuesAndKeepsRawOnesPrintable() throws {
        let template = try #require(PartnerTemplate("https://Aff.Example/pb?c={aff_click_id}&r={raw:aff_click_id}&e={event}"))
        let url = template.render { macro in
            switch macro {
            case .affClickID: Array("a b&c/é\r\n~".utf8)
            case .event: Array("sale".utf8)
            default: []
            }
        }
        #expect(url == "https://Aff.Example/pb?c=a%20b%26c%2F%C3%A9%0D%0A~&r=a%20b%26c/%C3%A9%0D%0A~&e=sale")
        #expect(template.endpoint == "https://aff.example:443")
    }

    /// Issue 20 item 11: a shopper's sub2 of `x&payout=999&status=approved` must not become partner
    /// parameters through `{raw:sub2}`; an id the partner gave already encoded still passes unchanged.
    @Test func rawValuesCannotChangeTheURLsStructure() throws {
        let template = try #require(PartnerTemplate("https://p.example/pb?s2={raw:sub2}&id={raw:aff_click_id}&pay={payout}"))
        let url = template.render { macro in
            switch macro {
            case .sub2: Array("x&payout=999&status=approved#frag?q=1+2 3\u{1}\u{7F}".utf8)
            case .affClickID: Array("AbC%2Fd-9.z~_:/;@!$'()*,%25".utf8)
            case .payout: Array("2.50".utf8)
            default: []
            }
        }
        #expect(url == "https://p.example/pb?s2=x%26payout%3D999%26status%3Dapproved%23frag%3Fq%3D1%2B2%203%01%7F"
            + "&id=AbC%2Fd-9.z~_:/;@!$'()*,%25&pay=2.50")
        let query = try #require(url.split(separator: "?", maxSplits: 1).last)
        #expect(query.split(separator: "&").map { $0.prefix { $0 != "=" } } == ["s2", "id", "pay"])
        #expect(!url.contains("#"))
    }

    @Test func endpointsNameSchemeHostAndPort() {
        #expect(PartnerTemplate.endpoint(of: "http://127.0.0.1:8080/x?y") == "http://127.0.0.1:8080")
        #expect(PartnerTemplate.endpoint(of: "http://partner.example") == "http://partner.example:80")
        #expect(PartnerTemplate.endpoint(of: "https://[::1]/p") == "https://[::1]:443")
        #expect(PartnerTemplate.endpoint(of: "https://[::1]:8443/p") == "https://[::1]:8443")
        #expect(PartnerTemplate.endpoint(of: "ftp://x/") == nil)
        #expect(PartnerTemplate.endpoint(of: "http:///nohost") == nil)
    }

    @Test func reportTimesAreUTCAndStringsAreJSON() {
        #expect(DeliveryReport.timestamp(1_796_000_513_248) == "2026-11-30 01:01:53")
        #expect(DeliveryReport.timestamp(0) == "1970-01-01 00:00:00")
        #expect(DeliveryReport.quote("a\"b\\c\n") == "\"a\\\"b\\\\c\\u000A\"")
    }

    @Test func moneyHasAtLeastTwoPlaces() {
        #expect(PartnerTemplate.money(2_500_000) == "2.50")
        #expect(PartnerTemplate.money(0) == "0.00")
        #expect(PartnerTemplate.money(1_234_567) == "1.234567")
        #expect(PartnerTemplate.money(10_100_000) == "10.10")
        #expect(PartnerTemplate.money(-1_500_000) == "-1.50")
    }
}

@Suite("delivery plan")
struct DeliveryPlanTests {
    static func config() throws -> TrackstarConfig {
        let text = """
        [[offers]]
        id = 1
        url = "https://shop.example/?c={click_id}"
          [offers.events.upsell]
          payout = 1
        [[offers]]
        id = 2
        url = "https://shop.example/?c={click_id}"
        [[affiliates]]
        id = 7
        postback_url = "https://a.example/default?c={aff_click_id}"
        postback_delay = "5m"
        [[affiliates]]
        id = 8
        postback_statuses = ["pending", "rejected"]
        postback_url = "https://b.example/x"
        [[affiliates]]
        id = 9
        [[postbacks]]
        aff_id = 7
        offer_id = 1
        url = "https://a.example/offer1"
        [[postbacks]]
        aff_id = 7
        offer_id = 1
        event = "upsell"
        url = "https://a.example/offer1-upsell"
        [[postbacks]]
        aff_id = 7
        event = "upsell"
        url = "https://a.example/any-upsell"
        [[postbacks]]
        aff_id = 7
        offer_id = 2
        event = "conversion"
        url = ""
        """
        return try ConfigLoader.load(text: text).get()
    }

    @Test func theMostSpecificRuleWinsAndAnEmptyURLSendsNothing() throws {
        let plan = DeliveryPlan(try Self.config())
        func url(_ aff: UInt32, _ offer: UInt32, _ event: String, _ status: ConversionStatus = .approved) -> String? {
            plan.route(affID: aff, offerID: offer, event: event, status: status)?.0.source
        }
        #expect(url(7, 1, "upsell") == "https://a.example/offer1-upsell")
        #expect(url(7, 1, "conversion") == "https://a.example/offer1")
        #expect(url(7, 2, "upsell") == "https://a.example/any-upsell")
        #expect(url(7, 2, "conversion") == nil)
        #expect(url(7, 3, "conversion") == "https://a.example/default?c={aff_click_id}")
        #expect(plan.route(affID: 7, offerID: 3, event: "conversion", status: .approved)?.delayMillis == 300_000)
        #expect(url(7, 1, "conversion", .pending) == nil)  // approved only, by default
        #expect(url(8, 1, "conversion", .approved) == nil)
        #expect(url(8, 1, "conversion", .rejected) == "https://b.example/x")
        #expect(url(9, 1, "conversion") == nil)
        #expect(url(42, 1, "conversion") == nil)
        #expect(!plan.isEmpty)
    }

    @Test func configProblemsAreReportedWithTheirLines() {
        let text = """
        [delivery]
        max_attempts = 0
        retry_base = "10m"
        retry_max_delay = "1m"
        bogus = 1
        [[offers]]
        id = 1
        url = "https://shop.example/"
        [[affiliates]]
        id = 7
        postback_statuses = ["approved", "paid"]
        postback_url = "https://a.example/?x={raw:sub9}"
        [[postbacks]]
        aff_id = 8
        offer_id = 2
        url = "https://a.example/"
        [[postbacks]]
        aff_id = 7
        url = "https://a.example/"
        [[postbacks]]
        aff_id = 7
        offer_id = 1
        event = "refund"
        url = "https://a.example/"
        """
        guard case .failure(let problems) = ConfigLoader.load(text: text) else { Issue.record("accepted"); return }
        let lines = problems.problems.map(\.description)
        #expect(lines.contains { $0.hasPrefix("line 2:") && $0.contains("delivery.max_attempts") })
        #expect(lines.contains { $0.hasPrefix("line 4:") && $0.contains("retry_max_delay") })
        #expect(lines.contains { $0.hasPrefix("line 5:") && $0.contains("bogus") })
        #expect(lines.contains { $0.hasPrefix("line 11:") && $0.contains("paid") })
        #expect(lines.contains { $0.hasPrefix("line 12:") && $0.contains("raw:sub9") })
        #expect(lines.contains { $0.contains("no affiliate has id 8") })
        #expect(lines.contains { $0.contains("no offer has id 2") })
        #expect(lines.contains { $0.contains("give offer_id, event or both") })
        #expect(lines.contains { $0.contains("has no event \"refund\"") })
    }
}

@Suite("delivery log")
struct DeliveryLogTests {
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-deliveries-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func queued(_ id: UInt64, due: Int64) -> DeliveryRecord {
        var record = DeliveryRecord(kind: .queued, conversionID: id, timeMillis: 1000)
        record.affID = 7
        record.nextMillis = due
        return record
    }

    static func attempt(_ id: UInt64, _ n: UInt8, _ outcome: AttemptOutcome, status: UInt16, next: Int64 = 0) -> DeliveryRecord {
        var record = DeliveryRecord(kind: .attempt, conversionID: id, timeMillis: 2000 + Int64(n))
        record.affID = 7
        record.attempt = n
        record.outcome = outcome
        record.httpStatus = status
        record.nextMillis = next
        return record
    }

    @Test func replayRebuildsPendingJobsEndpointsAndCounts() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try DeliveryLog(dataDir: dir)
            let endpoint = "http://p.example:80"
            #expect(log.append(Self.queued(1, due: 10), endpoint: endpoint, detail: "http://p.example/1"))
            #expect(log.append(Self.queued(2, due: 20), endpoint: endpoint, detail: "http://p.example/2"))
            #expect(log.append(Self.queued(1 << 40 + 1, due: 30), endpoint: endpoint, detail: "http://p.example/3"))
            #expect(log.append(Self.attempt(1, 1, .retry, status: 503, next: 99), endpoint: endpoint, detail: "busy"))
            #expect(log.append(Self.attempt(2, 1, .delivered, status: 200), endpoint: endpoint, detail: "ok"))
            #expect(log.append(Self.attempt(1 << 40 + 1, 1, .failed, status: 404), endpoint: endpoint, detail: "gone"))
            #expect(log.append(DeliveryRecord(kind: .pause, conversionID: 0, timeMillis: 3000), endpoint: endpoint, detail: ""))
            #expect(log.sync() == nil)
        }
        let reader = try DeliveryLog(dataDir: dir, writer: false)
        let ledger = DeliveryLedger.replay(reader, pauseAfter: 5)
        #expect(ledger.records == 7)
        #expect(Array(ledger.pending.keys) == [1])
        let job = try #require(ledger.pending[1])
        #expect(job.attempts == 1 && job.dueMillis == 99 && reader.detail(at: job.queuedAt) == "http://p.example/1")
        #expect(ledger.endpointName(job.endpoint) == "http://p.example:80")
        let endpoint = try #require(ledger.endpoints["http://p.example:80"])
        #expect(endpoint.paused && endpoint.delivered == 1 && endpoint.failed == 1 && endpoint.attempts == 3)
        #expect(endpoint.lastError?.httpStatus == 404 && endpoint.lastError?.detail == "gone")
        #expect(ledger.affiliates[7]?.queued == 3 && ledger.affiliates[7]?.pending == 1)
        #expect(ledger.failures.map(\.conversionID) == [1 << 40 + 1])
        #expect(ledger.queuedThrough[0] == 2 && ledger.queuedThrough[1] == 1)
    }

    @Test func aTornTailIsCutByTheWriterAndLeftAloneByAReader() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try DeliveryLog(dataDir: dir)
            for id in 1...3 { #expect(log.append(Self.queued(UInt64(id), due: 0), endpoint: "http://p:80", detail: "u\(id)")) }
            // The third record's checksum no longer matches: a write torn by a crash.
            let p = try #require(log.table.slot(2))
            p.storeBytes(of: p.load(fromByteOffset: 0, as: UInt64.self) ^ 1, toByteOffset: 0, as: UInt64.self)
        }
        // A second writer cannot open while the first holds the lock; readers always can.
        let reader = try DeliveryLog(dataDir: dir, writer: false)
        #expect(reader.count == 2)
        let writer = try DeliveryLog(dataDir: dir)
        #expect(writer.count == 2)
        #expect(writer.notes.contains { $0.contains("cut a torn tail at record 2") })
        #expect(throws: StoreError.self) { _ = try DeliveryLog(dataDir: dir) }
        #expect(writer.append(Self.queued(9, due: 0), endpoint: "http://p:80", detail: "after"))
        var ids: [UInt64] = []
        writer.forEach { ids.append($0.record.conversionID) }
        #expect(ids == [1, 2, 9])
    }

    @Test func offlineResumeNeedsAPausedEndpoint() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try DeliveryLog(dataDir: dir)
        #expect(!DeliveryReport.resumeOffline(log, endpoint: "http://p:80", nowMillis: 1))
        #expect(log.append(DeliveryRecord(kind: .pause, conversionID: 0, timeMillis: 1), endpoint: "http://p:80", detail: ""))
        #expect(DeliveryReport.resumeOffline(log, endpoint: "http://p:80", nowMillis: 2))
        #expect(DeliveryLedger.replay(log, pauseAfter: 1).endpoints["http://p:80"]?.paused == false)
    }

    /// Issue 20 item 10: failed postbacks can be queued again by a selection, each once per request,
    /// and the log records it (a restart sees them pending, and the request as carried out).
    @Test func retryRequestsQueueFailedPostbacksAgainOncePerRequest() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = "http://a.example:80", b = "http://b.example:80"
        do {
            let log = try DeliveryLog(dataDir: dir)
            for (id, endpoint) in [(UInt64(1), a), (2, a), (3, b), (4, a)] {
                #expect(log.append(Self.queued(id, due: 0), endpoint: endpoint, detail: "\(endpoint)/old/\(id)"))
            }
            #expect(log.append(Self.attempt(1, 1, .failed, status: 404), endpoint: a, detail: "gone"))
            #expect(log.append(Self.attempt(2, 1, .failed, status: 403), endpoint: a, detail: "no"))
            #expect(log.append(Self.attempt(3, 1, .failed, status: 404), endpoint: b, detail: "gone"))
            #expect(log.append(Self.attempt(4, 1, .delivered, status: 200), endpoint: a, detail: "ok"))
            #expect(log.sync() == nil)
        }
        let log = try DeliveryLog(dataDir: dir)
        #expect(Set(DeliveryLedger.replay(log, pauseAfter: 99).failedJobs.keys) == [1, 2, 3])
        // Nothing selected: refused. A bad request id: refused.
        #expect(throws: RetryRequestError.self) { try RetrySelection.parse { $0 == "request" ? "r1" : nil } }
        #expect(throws: RetryRequestError.self) { try RetrySelection.parse { ["request": "a b", "affiliate": "7"][$0] } }

        var selection = try RetrySelection.parse { ["request": "r1", "endpoint": a + "/any/path"][$0] }
        #expect(selection.endpoint == a)
        let first = DeliveryRetry.runOffline(selection, log: log, nowMillis: 5000)
        #expect(first == RetryResult(requestID: "r1", requeued: 2))
        // The same request again does nothing more; another request finds nothing failed at `a`.
        let repeated = DeliveryRetry.runOffline(selection, log: log, nowMillis: 6000)
        #expect(repeated.repeated && repeated.requeued == 2)
        selection.requestID = "r2"
        #expect(DeliveryRetry.runOffline(selection, log: log, nowMillis: 7000).requeued == 0)
        let reader = try DeliveryLog(dataDir: dir, writer: false)
        var ledger = DeliveryLedger.replay(reader, pauseAfter: 99)
        #expect(Set(ledger.pending.keys) == [1, 2] && reader.detail(at: ledger.pending[1]!.queuedAt) == a + "/old/1")
        #expect(ledger.pending[1]?.dueMillis == 5000)
        #expect(Array(ledger.failedJobs.keys) == [3])
        #expect(ledger.retryRequests == ["r1": 2, "r2": 0] && ledger.requeued == 2)
        #expect(ledger.affiliates[7]?.pending == 2)
        // By conversion id, and by failure time (the attempts failed at 2001 ms).
        let byID = try RetrySelection.parse { ["request": "r3", "conversion": "3"][$0] }
        #expect(byID.conversionID == 3)
        var late = try RetrySelection.parse { ["request": "r4", "from": "1970-01-01 00:00:03"][$0] }
        #expect(DeliveryRetry.run(late, ledger: ledger, nowMillis: 1, render: { _ in nil }) { _, _, _ in true }.requeued == 0)
        late.fromMillis = 2000
        late.toMillis = 2002
        // Re-rendered: the new URL (and endpoint) is what is queued; a conversion with none stays failed.
        late.rerender = true
        var appended: [(DeliveryRecord, String, String)] = []
        let rendered = DeliveryRetry.run(late, ledger: ledger, nowMillis: 9, render: { job in (a, a + "/new/\(job.conversionID)") }) {
            appended.append(($0, $1, $2)); ledger.apply(DeliveryEntry(record: $0, endpoint: $1, detail: $2)); return true
        }
        #expect(rendered.requeued == 1 && appended.first?.1 == a && appended.first?.2 == a + "/new/3")
        #expect(appended.last?.0.kind == .retryRequest && ledger.pending[3].map { ledger.endpointName($0.endpoint) } == a)
        #expect(ledger.failedJobs.isEmpty)
        late.requestID = "r5"
        ledger.apply(DeliveryEntry(record: Self.attempt(3, 1, .failed, status: 404), endpoint: a, detail: "still gone"))
        let unrouted = DeliveryRetry.run(late, ledger: ledger, nowMillis: 9, render: { _ in nil }) { _, _, _ in true }
        #expect(unrouted.requeued == 0 && unrouted.notRouted == [3])
    }

    @Test func backoffDoublesWithJitterUpToTheCap() {
        var config = DeliveryConfig()
        config.retryBaseMillis = 1000
        config.retryMaxDelayMillis = 10_000
        for attempt in 1...8 {
            let ceiling = min(Int64(1000) << (attempt - 1), 10_000)
            #expect(Dispatcher.backoff(afterAttempt: attempt, config: config, random: 0) == ceiling / 2)
            #expect(Dispatcher.backoff(afterAttempt: attempt, config: config, random: UInt64(ceiling - ceiling / 2)) == ceiling)
            for random in [UInt64.max, 12_345, 1 << 63] {
                let delay = Dispatcher.backoff(afterAttempt: attempt, config: config, random: random)
                #expect(delay >= ceiling / 2 && delay <= ceiling)
            }
        }
        // Ten attempts at the defaults span about a day.
        let defaults = DeliveryConfig()
        let total = (1...9).reduce(Int64(0)) { $0 + min(defaults.retryBaseMillis << ($1 - 1), defaults.retryMaxDelayMillis) }
        #expect(total > 20 * 3_600_000 && total < 30 * 3_600_000)
    }
}

/// The dispatcher as a log feed: before it plans anything it holds every conversion, and the clicks
/// those conversions refer to (their macros are rendered while planning), shard by shard.
@Suite("dispatcher feed floors")
struct DispatcherFeedTests {
    @Test func anUnstartedDispatcherHoldsItsUnplannedConversionsAndTheirClicks() throws {
        let dir = try DeliveryLogTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try DeliveryPlanTests.config()
        config.storage.dataDir = dir
        func table(_ shard: Int, _ name: String, stride: Int) throws -> RecordTable {
            let path = "\(dir)/shard-\(shard)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return RecordTable(stride: stride, recordsPerSegment: 1024, byteSegmentSize: 4096, directory: path, name: name)
        }
        let conversions = [try table(0, "conversions", stride: ConversionRecord.stride), try table(1, "conversions", stride: ConversionRecord.stride)]
        let clicks = [try table(0, "clicks", stride: ClickSlot.stride), try table(1, "clicks", stride: ClickSlot.stride)]
        // Shard 0's conversions refer to clicks 0:40 and 1:7; shard 1's to 0:12 and 1:90.
        for (shard, refs) in [(0, [(0, 40), (1, 7)]), (1, [(0, 12), (1, 90)])] {
            for (clickShard, sequence) in refs {
                let (s, record) = try #require(conversions[shard].reserveRecord())
                ConversionRecord.write(record, ConversionRecord.Fields(
                    clickRef: UInt64(clickShard) << 40 | UInt64(sequence), timeMillis: 1_000, txidHash: 0, amount: ConversionRecord.noAmount,
                    payout: 0, revenue: 0, offerID: 1, affID: 7, event: 0, status: .approved, currency: 0, varOffset: 0, varLength: 0))
                conversions[shard].publish(count: s + 1)
            }
        }
        let source = ExportSource(clicks: clicks, conversions: conversions, refusals: [],
                                  clickIDText: { _, _, _ in "" }, eventName: { _, _ in "conversion" })
        let dispatcher = try Dispatcher(config: config, source: source, message: { _ in })
        let floors = dispatcher.retentionFloors(shards: 2)
        #expect(floors.conversions == [0, 0])
        #expect(floors.clicks == [12, 7])
        #expect(floors.refusals == [.max, .max])
        #expect(dispatcher.feedName == "deliveries")
    }
}
