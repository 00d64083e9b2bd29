// Compaction of the delivery log (issue 21): the live state survives a switch to a new generation
// exactly, the finished history moves to the archive and stays readable there, and a crash after any
// step loses and duplicates nothing: pending jobs come back once each, with their URLs, and the
// history counts every postback once.
import Foundation
import Testing
import TrackstarCore
@testable import TrackstarDelivery
import TrackstarStore

@Suite("delivery log compaction")
struct DeliveryCompactionTests {
    static let a = "http://a.example:80", b = "http://b.example:80"

    /// A log with every kind of history: 40 postbacks delivered, 6 failed for good (one of them
    /// queued again by a retry request and pending), 10 pending after a 503, 4 never tried, a
    /// paused endpoint, a skipped conversion. Returns the pending jobs' URLs.
    static func fill(_ log: DeliveryLog) -> [UInt64: String] {
        var urls: [UInt64: String] = [:]
        func add(_ record: DeliveryRecord, _ endpoint: String, _ detail: String) { #expect(log.append(record, endpoint: endpoint, detail: detail)) }
        for id in UInt64(1)...60 {
            let endpoint = id % 3 == 0 ? b : a
            var queued = DeliveryLogTests.queued(id, due: 1000 + Int64(id))
            queued.affID = UInt32(7 + id % 2)
            add(queued, endpoint, "\(endpoint)/pb?c=\(id)")
            var attempt: DeliveryRecord
            switch id {
            case 1...40: attempt = DeliveryLogTests.attempt(id, 1, .delivered, status: 200)
            case 41...46: attempt = DeliveryLogTests.attempt(id, 1, .failed, status: 404)
            case 47...56: attempt = DeliveryLogTests.attempt(id, 1, .retry, status: 503, next: 90_000 + Int64(id))
            default: urls[id] = "\(endpoint)/pb?c=\(id)"; continue
            }
            attempt.affID = queued.affID
            add(attempt, endpoint, "answer \(id)")
            if id >= 47 { urls[id] = "\(endpoint)/pb?c=\(id)" }
        }
        var requeued = DeliveryRecord(kind: .requeued, conversionID: 41, timeMillis: 5000)
        requeued.affID = 8
        requeued.nextMillis = 6000
        add(requeued, a, "\(a)/pb?c=41&again")
        urls[41] = "\(a)/pb?c=41&again"
        add(DeliveryRecord(kind: .retryRequest, conversionID: 0, timeMillis: 5001), "", "r1 1 conversion=41")
        add(DeliveryRecord(kind: .pause, conversionID: 0, timeMillis: 5002), b, "paused after 5 failures in a row")
        var skipped = DeliveryRecord(kind: .skipped, conversionID: 61, timeMillis: 5003)
        skipped.affID = 99
        add(skipped, "", "affiliate 99 is not in the configuration")
        #expect(log.sync() == nil)
        return urls
    }

    /// What must hold after compaction, or after a crash at any step and a reopen: the live state
    /// and the whole history, each as before; every pending job once, with its URL.
    static func expectSame(_ dir: String, live expectedLive: DeliverySnapshot, history expectedHistory: DeliveryLedger,
                           urls: [UInt64: String], _ label: String) throws {
        let log = try DeliveryLog(dataDir: dir, writer: false)
        let live = DeliveryLedger.replay(log, pauseAfter: 99)
        #expect(live.snapshot() == expectedLive, "\(label): live state")
        #expect(Dictionary(uniqueKeysWithValues: live.pending.map { ($0.key, log.detail(at: $0.value.queuedAt)) }) == urls, "\(label): pending URLs")
        var queuedRecords: [UInt64: Int] = [:]
        log.forEach { if $0.record.kind == .queued || $0.record.kind == .requeued { queuedRecords[$0.record.conversionID, default: 0] += 1 } }
        #expect(urls.keys.allSatisfy { queuedRecords[$0] == 1 } || log.generation == 0, "\(label): one carried record per pending job")
        let history = try DeliveryHistory.ledger(live: log, pauseAfter: 99)
        #expect(history.snapshot() == expectedHistory.snapshot(), "\(label): history")
        #expect(history.failedJobs == expectedHistory.failedJobs, "\(label): failed jobs and their URLs")
        #expect(history.retryRequests == expectedHistory.retryRequests, "\(label): retry requests")
        // A retry request selects from the live log and the archive's failed index: the same postbacks.
        let all = try DeliveryRetry.select(RetrySelection(requestID: "all").with { $0.fromMillis = 0 }, ledger: live, live: log)
        #expect(Dictionary(uniqueKeysWithValues: all.map { ($0.conversionID, $0) }) == expectedHistory.failedJobs,
                "\(label): failed postbacks a retry selects")
    }

    /// Work the dispatcher does in a generation after a compaction: postback 50 delivered, 62 queued
    /// and failed for good with a 404. Returns the pending URLs after it.
    static func moreWork(_ log: DeliveryLog, _ ledger: inout DeliveryLedger, urls: [UInt64: String]) -> [UInt64: String] {
        func add(_ record: DeliveryRecord, _ endpoint: String, _ detail: String) {
            #expect(log.append(record, endpoint: endpoint, detail: detail))
            ledger.apply(DeliveryEntry(record: record, endpoint: endpoint, detail: detail, sequence: log.count - 1))
        }
        var delivered = DeliveryLogTests.attempt(50, 2, .delivered, status: 200)
        delivered.affID = 7
        add(delivered, a, "ok")
        add(DeliveryLogTests.queued(62, due: 7000), b, "\(b)/pb?c=62")
        add(DeliveryLogTests.attempt(62, 1, .failed, status: 404), b, "not found")
        #expect(log.sync() == nil)
        var urls = urls
        urls[50] = nil
        return urls
    }

    @Test func compactionCarriesTheLiveStateAndArchivesTheHistory() throws {
        let dir = try DeliveryLogTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var log = try DeliveryLog(dataDir: dir)
        let urls = Self.fill(log)
        var ledger = DeliveryLedger.replay(log, pauseAfter: 99)
        let before = ledger.snapshot()
        let history = try DeliveryHistory.ledger(live: log, pauseAfter: 99)
        #expect(before.pending == 15 && before.failedNow == 5 && history.failedJobs.count == 5)

        log = try #require(try DeliveryCompaction.run(log, ledger: &ledger, nowMillis: 9000))
        #expect(log.generation == 1 && log.count < 40, "carried \(log.count) records")
        #expect(ledger.snapshot() == before, "the dispatcher's ledger is unchanged")
        #expect(ledger.failedJobs.isEmpty && ledger.archivedFailed == 5, "failed postbacks left the live log")
        #expect(!FileManager.default.fileExists(atPath: dir + "/deliveries/deliveries-000000.rec"), "generation 0 removed")
        for (id, url) in urls { #expect(log.detail(at: ledger.pending[id]!.queuedAt) == url) }
        try Self.expectSame(dir, live: before, history: history, urls: urls, "after compaction")

        // Work goes on in generation 1: a pending job is delivered and an old failure is queued again.
        var delivered = DeliveryLogTests.attempt(50, 2, .delivered, status: 200)
        delivered.affID = 7
        #expect(log.append(delivered, endpoint: Self.a, detail: "ok"))
        ledger.apply(DeliveryEntry(record: delivered, endpoint: Self.a, detail: "ok", sequence: log.count - 1))
        let retried = DeliveryRetry.runOffline(RetrySelection(requestID: "r2").with { $0.conversionID = 42 }, log: log, nowMillis: 9500)
        #expect(retried.requeued == 1, "an archived failure can be queued again")
        ledger = DeliveryLedger.replay(log, pauseAfter: 99)
        #expect(ledger.snapshot().failedNow == 4 && ledger.pending[42] != nil && ledger.pending[50] == nil)
        let secondHistory = try DeliveryHistory.ledger(live: log, pauseAfter: 99)
        #expect(secondHistory.affiliates.values.reduce(0) { $0 + $1.delivered } == 41)
        #expect(secondHistory.retryRequests == ["r1": 1, "r2": 1])

        // A second compaction: generation 2, the same state and history again.
        let liveBefore = ledger.snapshot()
        var second = urls
        second[50] = nil
        second[42] = "\(Self.b)/pb?c=42"
        log = try #require(try DeliveryCompaction.run(log, ledger: &ledger, nowMillis: 9900))
        #expect(log.generation == 2)
        try Self.expectSame(dir, live: liveBefore, history: secondHistory, urls: second, "second compaction")
    }

    /// A crash after each step of compaction, or between two slices of its copy (the process stops
    /// there; nothing in memory survives):
    /// the reopened log has the same live state and history as before, every pending job once. A
    /// compaction run after the reopen then finishes, and delivering every pending job from there
    /// counts each once.
    @Test(arguments: CompactionStep.allCases)
    func aCrashAfterAnyStepLosesAndDuplicatesNothing(step: CompactionStep) throws {
        let dir = try DeliveryLogTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var expectedLive: DeliverySnapshot
        var expectedHistory: DeliveryLedger
        var urls: [UInt64: String]
        do {  // a first generation switch, so that the crash happens with an archive and a failed index in place,
              // then work of generation 1's own for the crashing compaction to copy
            var log = try DeliveryLog(dataDir: dir)
            urls = Self.fill(log)
            var ledger = DeliveryLedger.replay(log, pauseAfter: 99)
            log = try #require(try DeliveryCompaction.run(log, ledger: &ledger, nowMillis: 9000))
            urls = Self.moreWork(log, &ledger, urls: urls)
            expectedLive = ledger.snapshot()
            expectedHistory = try DeliveryHistory.ledger(live: log, pauseAfter: 99)
            #expect(try DeliveryCompaction.run(log, ledger: &ledger, nowMillis: 9100, stopAfter: step) == nil)
        }
        try Self.expectSame(dir, live: expectedLive, history: expectedHistory, urls: urls, "crash after \(step)")

        // The next writer finishes a compaction of its own over whatever the crash left.
        var log = try DeliveryLog(dataDir: dir)
        var ledger = DeliveryLedger.replay(log, pauseAfter: 99)
        log = try #require(try DeliveryCompaction.run(log, ledger: &ledger, nowMillis: 9200))
        try Self.expectSame(dir, live: expectedLive, history: expectedHistory, urls: urls, "compacted after the crash at \(step)")
        let entries = SegmentDirectory.entries(dir + "/deliveries").filter { $0.hasPrefix("gen-") }
        #expect(entries == ["gen-\(log.generation)"], "one generation on disk: \(entries)")

        // Each pending job delivered once: 41 + 14 deliveries in the history, nothing pending.
        for (id, job) in ledger.pending.sorted(by: { $0.key < $1.key }) {
            var done = DeliveryLogTests.attempt(id, job.attempts + 1, .delivered, status: 200)
            done.affID = try #require(log.entry(at: job.queuedAt)).record.affID
            #expect(log.append(done, endpoint: ledger.endpointName(job.endpoint), detail: "ok"))
        }
        #expect(log.sync() == nil)
        let history = try DeliveryHistory.ledger(live: log, pauseAfter: 99)
        #expect(history.pending.isEmpty)
        #expect(history.affiliates.values.reduce(0) { $0 + $1.delivered } == 55)
        #expect(history.endpoints.values.reduce(0) { $0 + $1.delivered } == 55)
        #expect(DeliveryLedger.replay(log, pauseAfter: 99).snapshot().affiliates.reduce(0) { $0 + $1.delivered } == 55)
    }
}

@Suite("pending job record")
struct PendingDeliveryTests {
    /// Issue 21: a pending postback costs 16 bytes in the ledger (the URL and affiliate stay in the
    /// log); every field reads back what was set, at its limits too.
    @Test func aPendingJobIsSixteenBytesAndKeepsEveryField() {
        #expect(MemoryLayout<PendingDelivery>.stride == 16)
        var job = PendingDelivery(dueMillis: 1_790_000_000_123, queuedAt: PendingDelivery.sequenceLimit - 1,
                                  endpoint: PendingDelivery.endpointLimit - 1, attempts: 255)
        #expect(job.dueMillis == 1_790_000_000_123 && job.queuedAt == PendingDelivery.sequenceLimit - 1)
        #expect(job.endpoint == PendingDelivery.endpointLimit - 1 && job.attempts == 255)
        job.attempts = 3
        job.dueMillis = 42
        job.queuedAt = 7
        #expect(job.dueMillis == 42 && job.attempts == 3 && job.queuedAt == 7 && job.endpoint == PendingDelivery.endpointLimit - 1)
        job.dueMillis = -5  // before 1970: clamped, never mixed into the attempts
        #expect(job.dueMillis == 0 && job.attempts == 3)
    }
}

extension RetrySelection {
    func with(_ change: (inout RetrySelection) -> Void) -> RetrySelection {
        var copy = self
        change(&copy)
        return copy
    }
}
