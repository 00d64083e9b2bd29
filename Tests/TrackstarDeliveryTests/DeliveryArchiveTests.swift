// The archive side of compaction (issue 21): a compaction copied in slices while the dispatcher keeps
// appending archives every record once; archive retention prunes old segments and keeps what users
// query (the counts, recent failures, retryable postbacks); and a retry request finds a failed
// postback in the failed index with logarithmically many reads, never reading the archive.
import Foundation
import Testing
import TrackstarCore
@testable import TrackstarDelivery
import TrackstarConfiguration
import TrackstarStore

@Suite("delivery archive")
struct DeliveryArchiveTests {
    static let a = DeliveryCompactionTests.a, b = DeliveryCompactionTests.b

    /// Appends `count` postbacks from `first` at `time`: every `failEvery`-th fails for good with a
    /// 404 at `b`, the others are delivered at `a`.
    static func history(_ log: DeliveryLog, from first: UInt64, count: UInt64, time: Int64, failEvery: UInt64) {
        for id in first..<(first + count) {
            let fails = id % failEvery == 0
            let endpoint = fails ? b : a
            var queued = DeliveryRecord(kind: .queued, conversionID: id, timeMillis: time)
            queued.affID = 7
            queued.nextMillis = time
            #expect(log.append(queued, endpoint: endpoint, detail: "\(endpoint)/pb?c=\(id)"))
            var attempt = DeliveryRecord(kind: .attempt, conversionID: id, timeMillis: time)
            attempt.affID = 7
            attempt.attempt = 1
            attempt.outcome = fails ? .failed : .delivered
            attempt.httpStatus = fails ? 404 : 200
            #expect(log.append(attempt, endpoint: endpoint, detail: fails ? "not found" : "ok"))
        }
        #expect(log.sync() == nil)
    }

    /// The dispatcher's way: a slice of the copy, then some work of its own (new postbacks queued,
    /// pending ones delivered, one failed), again and again until the copy catches up. Every record
    /// lands in the archive once, and the live state and history are those of the log it compacted.
    @Test func aCompactionInSlicesArchivesWhatIsAppendedMeanwhileOnce() throws {
        let dir = try DeliveryLogTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try DeliveryLog(dataDir: dir)
        var urls = DeliveryCompactionTests.fill(log)
        var ledger = DeliveryLedger.replay(log, pauseAfter: 99)
        func add(_ record: DeliveryRecord, _ endpoint: String, _ detail: String) {
            #expect(log.append(record, endpoint: endpoint, detail: detail))
            ledger.apply(DeliveryEntry(record: record, endpoint: endpoint, detail: detail, sequence: log.count - 1))
        }
        let compaction = try Compaction(of: log)
        var slices = 0, next: UInt64 = 100
        while try !compaction.copy(from: log, limit: 7) {
            slices += 1
            var queued = DeliveryLogTests.queued(next, due: 8000)
            queued.affID = 8
            add(queued, Self.a, "\(Self.a)/pb?c=\(next)")
            urls[next] = "\(Self.a)/pb?c=\(next)"
            if let (id, job) = ledger.pending.min(by: { $0.key < $1.key }), id < 100 {
                var done = DeliveryLogTests.attempt(id, job.attempts + 1, slices % 5 == 0 ? .failed : .delivered,
                                                    status: slices % 5 == 0 ? 404 : 200)
                done.affID = try #require(log.entry(at: job.queuedAt)).record.affID
                add(done, ledger.endpointName(job.endpoint), "answer")
                urls[id] = nil
            }
            next += 1
        }
        #expect(slices >= 10, "the copy took \(slices) slices")
        #expect(log.sync() == nil)
        let expectedLive = ledger.snapshot()
        let expectedHistory = try DeliveryHistory.ledger(live: log, pauseAfter: 99)
        #expect(expectedHistory.failedJobs.count > 5, "some failed between slices")
        let compacted = try #require(try compaction.finish(log, ledger: &ledger, nowMillis: 9000))
        #expect(compacted.archiveExtent.archiveCount == log.count, "each record of generation 0 archived once")
        #expect(ledger.snapshot() == expectedLive)
        try DeliveryCompactionTests.expectSame(dir, live: expectedLive, history: expectedHistory, urls: urls, "after a sliced compaction")
    }

    /// `archive_retention`: whole archive segments older than it are pruned at a compaction, failed
    /// postbacks older than it leave the failed index; the counts, the recent failures and the
    /// postbacks that failed within it stay, in the live log and the index.
    @Test func retentionPrunesOldArchiveSegmentsAndKeepsWhatUsersQuery() throws {
        let dir = try DeliveryLogTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let day: Int64 = 86_400_000, now: Int64 = 1_790_000_000_000
        var log = try DeliveryLog(dataDir: dir)
        // 70,000 postbacks 100 days old (140,000 records: two whole segments of 65,536 and part of a
        // third), 7 of them failed; then 1,000 from yesterday, 10 of them failed.
        Self.history(log, from: 1, count: 70_000, time: now - 100 * day, failEvery: 10_000)
        Self.history(log, from: 70_001, count: 1_000, time: now - day, failEvery: 100)
        var ledger = DeliveryLedger.replay(log, pauseAfter: Int.max)
        let before = ledger.snapshot()
        #expect(before.failedNow == 17)
        log = try #require(try DeliveryCompaction.run(log, ledger: &ledger, nowMillis: now, retentionMillis: 90 * day))

        let files = SegmentDirectory.entries(dir + "/deliveries/archive")
        #expect(!files.contains("deliveries-000000.rec") && !files.contains("deliveries-000001.rec"), "old segments pruned: \(files)")
        #expect(files.contains("deliveries-000002.rec"))
        let reader = try DeliveryLog(dataDir: dir, writer: false)
        let archive = try DeliveryLog.archive(of: reader, writer: false)
        #expect(archive.firstRecord == 131_072 && archive.count == 142_000)
        // The counts are carried by the live log, whole; the failures to retry are the recent ones.
        let live = DeliveryLedger.replay(reader, pauseAfter: Int.max)
        #expect(live.affiliates[7]?.delivered == 70_983 && live.affiliates[7]?.failed == 17)
        #expect(live.snapshot().failedNow == 10 && live.failures.count == 17)
        let all = try DeliveryRetry.select(RetrySelection(requestID: "all").with { $0.endpoint = Self.b }, ledger: live, live: reader)
        #expect(all.map(\.conversionID).sorted() == (UInt64(70_001)...71_000).filter { $0 % 100 == 0 })
        #expect(try DeliveryRetry.select(RetrySelection(requestID: "old").with { $0.conversionID = 10_000 }, ledger: live, live: reader).isEmpty)
        // The rest of the archive reads as before, and a writer reopening it deletes the pruned files.
        var archived = 0
        archive.forEach { _ in archived += 1 }
        #expect(archived == 142_000 - 131_072)
        _ = try DeliveryLog.archive(of: log, writer: true)
        #expect(!SegmentDirectory.entries(dir + "/deliveries/archive").contains { $0.hasSuffix(".retired") })
    }

    /// A large archive (100,000 postbacks, 10,000 failed): a retry request by conversion id reads at
    /// most ⌈log₂ 10,000⌉ + 1 index records and no archive record; one by endpoint reads the index
    /// once. Both queue exactly the postbacks selected.
    @Test func aRetryByConversionReadsLogarithmicallyManyIndexRecords() throws {
        let dir = try DeliveryLogTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var log = try DeliveryLog(dataDir: dir)
        Self.history(log, from: 1, count: 100_000, time: 1_790_000_000_000, failEvery: 10)
        var ledger = DeliveryLedger.replay(log, pauseAfter: Int.max)
        log = try #require(try DeliveryCompaction.run(log, ledger: &ledger, nowMillis: 1_790_000_100_000))
        #expect(log.archiveExtent.archiveCount == 200_000)

        var index = try #require(try FailedIndex.open(of: log))
        #expect(index.count == 10_000)
        let found = index.job(77_770)
        let job = try #require(found)
        #expect(job.url == "\(Self.b)/pb?c=77770" && job.endpoint == Self.b && job.outcome == .failed)
        #expect(index.reads <= 15, "\(index.reads) index records read")
        let missing = [index.job(77_771), index.job(100_001), index.job(1)]
        #expect(missing.allSatisfy { $0 == nil })
        #expect(index.reads <= 15 * 4)

        // Offline retry requests (the CLI's path; the dispatcher's selects the same way).
        let one = DeliveryRetry.runOffline(RetrySelection(requestID: "one").with { $0.conversionID = 77_770 }, log: log, nowMillis: 5)
        #expect(one.requeued == 1)
        let again = DeliveryRetry.runOffline(RetrySelection(requestID: "two").with { $0.conversionID = 77_770 }, log: log, nowMillis: 6)
        #expect(again.requeued == 0, "queued again already: not failed any more")
        let rest = DeliveryRetry.runOffline(RetrySelection(requestID: "three").with { $0.endpoint = Self.b }, log: log, nowMillis: 7)
        #expect(rest.requeued == 9_999)
        let live = DeliveryLedger.replay(log, pauseAfter: Int.max)
        #expect(live.pending.count == 10_000 && live.snapshot().failedNow == 0)

        // The next compaction's index leaves out what was queued again.
        ledger = live
        log = try #require(try DeliveryCompaction.run(log, ledger: &ledger, nowMillis: 1_790_000_200_000))
        #expect(try #require(try FailedIndex.open(of: log)).count == 0)
    }

    /// `[delivery] archive_retention`: 90 days by default, a duration, "0" for ever; anything else is
    /// refused with the key named.
    @Test func archiveRetentionIsReadFromTheConfiguration() throws {
        let base = "[[offers]]\nid = 1\nurl = \"https://shop.example/\"\n[[affiliates]]\nid = 7\n[delivery]\n"
        func load(_ line: String) -> Result<TrackstarConfig, ConfigProblems> { ConfigLoader.load(text: base + line) }
        #expect(try load("").get().delivery.archiveRetentionMillis == 90 * 86_400_000)
        #expect(try load("archive_retention = \"30d\"").get().delivery.archiveRetentionMillis == 30 * 86_400_000)
        #expect(try load("archive_retention = \"0\"").get().delivery.archiveRetentionMillis == 0)
        guard case .failure(let problems) = load("archive_retention = 30") else { Issue.record("accepted"); return }
        #expect(problems.problems.contains { $0.description.contains("delivery.archive_retention") })
    }
}
