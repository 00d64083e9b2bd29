// Golden fixture of a compacted delivery log (issue 21): the `generation` file, the archive, the
// carried generation with its tallies and the failed index, as the compaction of GoldenDeliveries'
// log wrote them. Later versions must read them: the archive holds the original records, the live
// generation replays to the same state, and the index answers a retry.
import Foundation
import Testing
import TrackstarCore
@testable import TrackstarDelivery
import TrackstarStore
import TrackstarTestSupport

@Suite("golden compacted delivery fixtures", .serialized)
struct GoldenCompactedDeliveryTests {
    /// When the fixture's compaction ran.
    static let compactedAt: Int64 = 1_790_000_100_000

    @Test func theCompactedLogReadsBack() throws {
        let data = try Golden.copyToTemporary("compacted")
        defer { Golden.remove(data) }
        let live = try DeliveryLog(dataDir: data, writer: false)
        #expect(live.generation == 1 && live.archiveExtent.archiveCount == UInt64(GoldenDeliveries.entries.count))

        // The archive: the original records, every field.
        var archived: [DeliveryEntry] = []
        try DeliveryLog.archive(of: live, writer: false).forEach { archived.append($0) }
        GoldenDeliveries.expectSameEntries(archived, "archive")

        // The live generation: carried records only, in the order compaction writes them.
        var kinds: [DeliveryRecordKind] = []
        var totals = ""
        live.forEach { entry in
            #expect(entry.record.carried)
            kinds.append(entry.record.kind)
            if entry.record.kind == .tally && entry.record.attempt == DeliveryLedger.TallySubject.totals.rawValue { totals = entry.detail }
        }
        // Two recent failures, the pending job, then tallies: two endpoints with their three
        // endpoint–affiliate pairs, three affiliates, the totals.
        #expect(kinds == [.attempt, .attempt, .queued] + Array(repeating: .tally, count: 9), "\(kinds)")
        #expect(totals == "skipped=1 requeued=1 archived_failed=1 queued_through=0:3,1:1")

        // What a restart rebuilds from it equals what the uncompacted log replays to.
        let uncompacted = try Golden.copyToTemporary("data")
        defer { Golden.remove(uncompacted) }
        let expected = DeliveryLedger.replay(try DeliveryLog(dataDir: uncompacted, writer: false), pauseAfter: 5)
        let ledger = DeliveryLedger.replay(live, pauseAfter: 5)
        #expect(ledger.snapshot() == expected.snapshot())
        let pending = try #require(ledger.pending[1 << 40 | 1])
        #expect(live.detail(at: pending.queuedAt) == "http://other.example/?id=1099511627777")
        #expect(try DeliveryHistory.ledger(live: live, pauseAfter: 5).snapshot() == expected.snapshot())

        // The failed index: the postback that gave up, with its URL.
        var index = try #require(try FailedIndex.open(of: live))
        #expect(index.count == 1)
        let found = index.job(2)
        let job = try #require(found)
        #expect(job == FailedJob(conversionID: 2, affID: 8, endpoint: GoldenDeliveries.endpoint, url: "https://partner.example/pb?c=&p=0.00",
                                 failedAtMillis: 1_790_000_063_000, outcome: .gaveUp))
    }

    /// The generator: TRACKSTAR_WRITE_GOLDEN=1 swift test --filter GoldenCompactedDeliveryTests/writeFixtures
    /// (skipped otherwise). Writes GoldenDeliveries' records through DeliveryLog.append and compacts
    /// them with DeliveryCompaction.run.
    @Test(.enabled(if: Golden.shouldWrite, "set TRACKSTAR_WRITE_GOLDEN=1 to regenerate the fixtures"))
    func writeFixtures() throws {
        let scratch = try Golden.scratchDirectory()
        defer { Golden.remove(scratch) }
        let log = try GoldenDeliveries.writtenLog(in: scratch)
        var ledger = DeliveryLedger.replay(log, pauseAfter: 5)
        let next = try #require(try DeliveryCompaction.run(log, ledger: &ledger, nowMillis: Self.compactedAt))
        let directory = log.directory
        /// The used part of a file: up to its last byte that is not zero (segment files are zero-filled).
        func used(_ path: String) throws -> Int {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            return (bytes.lastIndex { $0 != 0 } ?? -1) + 1
        }
        for file in ["generation", "archive/deliveries-000000.rec", "archive/deliveries-000000.bytes",
                     "gen-1/deliveries-000000.rec", "gen-1/deliveries-000000.bytes",
                     "gen-1/failed-000000.rec", "gen-1/failed-000000.bytes", "gen-1/failed.count"] {
            let path = directory + "/" + file
            try Golden.copyPrefix(of: path, count: try used(path), to: "compacted/deliveries/" + file)
        }
        #expect(next.generation == 1)
    }
}
