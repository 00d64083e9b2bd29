// Golden fixtures of the delivery log (a record of every kind) and the dispatcher's positions file,
// read by the current code. A layout change fails here and must come with a version bump and
// regenerated fixtures (Tests/Fixtures/golden/README.md).
import Foundation
import Testing
import TrackstarCore
@testable import TrackstarDelivery
import TrackstarStore
import TrackstarTestSupport

/// What the delivery fixtures hold; the generator writes these and the reader expects them.
enum GoldenDeliveries {
    struct Entry {
        var record: DeliveryRecord
        var endpoint: String
        var detail: String
    }

    static func record(_ kind: DeliveryRecordKind, _ conversionID: UInt64, _ time: Int64, next: Int64 = 0, aff: UInt32 = 0,
                       latency: UInt32 = 0, status: UInt16 = 0, curl: UInt16 = 0, outcome: AttemptOutcome? = nil,
                       attempt: UInt8 = 0) -> DeliveryRecord {
        var r = DeliveryRecord(kind: kind, conversionID: conversionID, timeMillis: time)
        r.nextMillis = next; r.affID = aff; r.latencyMicros = latency; r.httpStatus = status; r.curlCode = curl
        r.outcome = outcome; r.attempt = attempt
        return r
    }

    static let endpoint = "https://partner.example:443"
    static let entries: [Entry] = [
        Entry(record: record(.queued, 1, 1_790_000_000_000, next: 1_790_000_000_000, aff: 7), endpoint: endpoint,
              detail: "https://partner.example/pb?c=ac-1&p=2.50"),
        Entry(record: record(.attempt, 1, 1_790_000_000_120, aff: 7, latency: 120_000, status: 200, outcome: .delivered, attempt: 1),
              endpoint: endpoint, detail: "OK"),
        Entry(record: record(.queued, 2, 1_790_000_001_000, next: 1_790_000_061_000, aff: 8), endpoint: endpoint,
              detail: "https://partner.example/pb?c=&p=0.00"),
        Entry(record: record(.attempt, 2, 1_790_000_061_500, next: 1_790_000_062_500, aff: 8, latency: 500_000, status: 503,
                             outcome: .retry, attempt: 1), endpoint: endpoint, detail: "Service Unavailable"),
        Entry(record: record(.attempt, 2, 1_790_000_063_000, aff: 8, latency: 10_000_000, curl: 28, outcome: .gaveUp, attempt: 2),
              endpoint: endpoint, detail: "Operation timed out after 10000 milliseconds"),
        Entry(record: record(.pause, 0, 1_790_000_063_001, aff: 8), endpoint: endpoint, detail: "paused after 2 failures in a row"),
        Entry(record: record(.resume, 0, 1_790_000_070_000), endpoint: endpoint, detail: "resumed by an operator"),
        Entry(record: record(.queued, 1 << 40 | 1, 1_790_000_080_000, next: 1_790_000_080_000, aff: 9),
              endpoint: "http://other.example", detail: "http://other.example/?id=1099511627777"),
        Entry(record: record(.attempt, 1 << 40 | 1, 1_790_000_080_050, aff: 9, latency: 50_000, status: 404, outcome: .failed,
                             attempt: 1), endpoint: "http://other.example", detail: "not found"),
        Entry(record: record(.requeued, 1 << 40 | 1, 1_790_000_090_000, next: 1_790_000_090_000, aff: 9),
              endpoint: "http://other.example", detail: "http://other.example/?id=1099511627777"),
        Entry(record: record(.retryRequest, 0, 1_790_000_090_001), endpoint: "",
              detail: "request r-1: requeued 1; endpoint=http://other.example"),
        Entry(record: record(.skipped, 3, 1_790_000_095_000, aff: 12), endpoint: "",
              detail: "affiliate 12 is not in the configuration"),
    ]

    static let positions: [UInt64] = [4, 0, 1 << 40 - 1]

    /// Expects `read` to be `entries`, every field and text (`carried` false), `label` naming the log.
    static func expectSameEntries(_ read: [DeliveryEntry], _ label: String) {
        #expect(read.count == entries.count, "\(label): records")
        for (i, (got, expected)) in zip(read, entries).enumerated() {
            let r = got.record, e = expected.record
            #expect(r.kind == e.kind && r.conversionID == e.conversionID && r.timeMillis == e.timeMillis
                    && r.nextMillis == e.nextMillis && r.affID == e.affID && r.latencyMicros == e.latencyMicros
                    && r.httpStatus == e.httpStatus && r.curlCode == e.curlCode && r.outcome == e.outcome
                    && r.attempt == e.attempt && !r.carried, "\(label): record \(i): \(r) against \(e)")
            #expect(got.endpoint == expected.endpoint && got.detail == expected.detail, "\(label): record \(i)'s text")
        }
    }

    /// The generators' first step: `entries` appended through DeliveryLog.append to a new log in `scratch`, synced.
    static func writtenLog(in scratch: String) throws -> DeliveryLog {
        let log = try DeliveryLog(dataDir: scratch)
        for entry in entries {
            #expect(log.append(entry.record, endpoint: entry.endpoint, detail: entry.detail))
        }
        #expect(log.sync() == nil)
        return log
    }
}

@Suite("golden delivery fixtures", .serialized)
struct GoldenDeliveryTests {
    /// The stored numbers of kinds and outcomes are part of the format.
    @Test func kindAndOutcomeNumbersAreUnchanged() {
        let kinds: [DeliveryRecordKind] = [.queued, .attempt, .pause, .resume, .requeued, .retryRequest, .skipped, .tally]
        #expect(kinds.map(\.rawValue) == [1, 2, 3, 4, 5, 6, 7, 8])
        let outcomes: [AttemptOutcome] = [.delivered, .retry, .failed, .gaveUp]
        #expect(outcomes.map(\.rawValue) == [1, 2, 3, 4])
        #expect(DeliveryRecord.stride == 64)
    }

    @Test func theDeliveryLogReadsBackEveryRecordAndField() throws {
        let data = try Golden.copyToTemporary("data")
        defer { Golden.remove(data) }
        let log = try DeliveryLog(dataDir: data, writer: false)
        #expect(log.count == UInt64(GoldenDeliveries.entries.count), "records found valid: \(log.notes)")
        var read: [DeliveryEntry] = []
        log.forEach { read.append($0) }
        GoldenDeliveries.expectSameEntries(read, "log")
        // And what a restart rebuilds from it.
        let ledger = DeliveryLedger.replay(log, pauseAfter: 5)
        #expect(ledger.pending.keys.sorted() == [1 << 40 | 1])
        #expect(ledger.endpoints[GoldenDeliveries.endpoint]?.paused == false)
    }

    @Test func thePositionsFileReadsBack() throws {
        let data = try Golden.copyToTemporary("data")
        defer { Golden.remove(data) }
        #expect(DeliveryPositions(directory: DeliveryLog.directory(dataDir: data)).load() == GoldenDeliveries.positions)
        #expect(String(decoding: Golden.bytes("data/deliveries/positions"), as: UTF8.self) == "4\n0\n1099511627775\n")
    }

    /// The generator: TRACKSTAR_WRITE_GOLDEN=1 swift test --filter GoldenDeliveryTests/writeFixtures
    /// (skipped otherwise). Writes through DeliveryLog.append and DeliveryPositions.store.
    @Test(.enabled(if: Golden.shouldWrite, "set TRACKSTAR_WRITE_GOLDEN=1 to regenerate the fixtures"))
    func writeFixtures() throws {
        let scratch = try Golden.scratchDirectory()
        defer { Golden.remove(scratch) }
        let log = try GoldenDeliveries.writtenLog(in: scratch)
        DeliveryPositions(directory: log.directory).store(GoldenDeliveries.positions)
        let directory = log.directory
        try Golden.copyPrefix(of: directory + "/deliveries-000000.rec", count: Int(log.count) * DeliveryRecord.stride,
                              to: "data/deliveries/deliveries-000000.rec")
        try Golden.copyPrefix(of: directory + "/deliveries-000000.bytes", count: Int(log.byteEnd),
                              to: "data/deliveries/deliveries-000000.bytes")
        try Golden.copyPrefix(of: directory + "/positions", count: Int.max, to: "data/deliveries/positions")
    }
}
