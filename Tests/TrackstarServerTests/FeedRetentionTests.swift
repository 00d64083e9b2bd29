// Retention respects every log feed: a segment is retired only below the lowest floor of all
// registered feeds, so a lagging feed (partner deliveries with the report feed off) holds what it
// has not passed. Real tables with small segments, in process.
import Foundation
import Testing
import TrackstarCore
import TrackstarStore
@testable import TrackstarServer

/// A feed with fixed floors.
final class FixedFeed: LogFeed, @unchecked Sendable {
    let floors: RetentionFloors
    init(_ floors: RetentionFloors) { self.floors = floors }
    var feedName: String { "fixed" }
    func retentionFloors(shards: Int) -> RetentionFloors { floors }
    func metricsText() -> String { "" }
    func start() throws {}
    func stop() {}
}

@Suite("retention and feeds")
struct FeedRetentionTests {
    static let perSegment = 1024

    /// 3,000 old conversions (three segments, the last not full) in a fresh table.
    static func oldConversions(_ dir: String) throws -> RecordTable {
        let table = RecordTable(stride: ConversionRecord.stride, recordsPerSegment: perSegment, byteSegmentSize: 4096,
                                directory: dir, name: "conversions")
        for i in 0..<3000 {
            let (sequence, record) = try #require(table.reserveRecord())
            ConversionRecord.write(record, ConversionRecord.Fields(
                clickRef: UInt64(i), timeMillis: 1_000 + Int64(i), txidHash: 0, amount: ConversionRecord.noAmount, payout: 0, revenue: 0,
                offerID: 1, affID: 7, event: 0, status: .approved, currency: 0, varOffset: 0, varLength: 0))
            table.publish(count: sequence + 1)
        }
        return table
    }

    static func retire(_ table: RecordTable, _ feeds: [any LogFeed]) -> [String] {
        let floors = feeds.retentionFloors(shards: 1)
        return Engine.retire(table, before: Int64.max, floor: floors[.conversions, 0], time: ConversionRecord.timeMillis) {
            ConversionRecord.varOffset($0)
        }
    }

    @Test func theLowestFloorOfAllFeedsHolds() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-feeds-\(UUID().uuidString)").path
        try SegmentDirectory.create(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let table = try Self.oldConversions(dir)
        var passed = RetentionFloors(shards: 1)
        passed.conversions = [3000]
        var lagging = RetentionFloors(shards: 1)
        lagging.conversions = [1500]  // inside segment 1
        // The exporter passed everything; the dispatcher is at 1,500: only segment 0 may go.
        #expect(Self.retire(table, [FixedFeed(passed), FixedFeed(lagging)]).count == 1)
        #expect(table.retiredCount == 1024)
        #expect(table.record(1023) == nil && table.record(1024) != nil)
        // Once the lagging feed passes segment 1 it goes too; segment 2 is not full and stays.
        lagging.conversions = [2900]
        #expect(Self.retire(table, [FixedFeed(lagging), FixedFeed(passed)]).count == 1)
        #expect(table.retiredCount == 2048)
    }

    @Test func aFeedThatHasReadNothingHoldsEverything() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-feeds-\(UUID().uuidString)").path
        try SegmentDirectory.create(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let table = try Self.oldConversions(dir)
        #expect(Self.retire(table, [FixedFeed(RetentionFloors(shards: 1, value: 0))]).isEmpty)
        #expect(table.retiredCount == 0)
        // No feed at all (export off, no dispatcher): age alone decides.
        #expect(Self.retire(table, []).count == 2)
    }

    @Test func floorsCombineLogByLogAndShardByShard() {
        var a = RetentionFloors(shards: 2)
        a.clicks = [10, 500]
        a.refusals = [7, .max]
        var b = RetentionFloors(shards: 2)
        b.clicks = [20, 30]
        b.conversions = [5, .max]
        let both = [FixedFeed(a), FixedFeed(b)].map { $0 as any LogFeed }.retentionFloors(shards: 2)
        #expect(both.clicks == [10, 30])
        #expect(both.conversions == [5, .max])
        #expect(both.refusals == [7, .max])
    }
}
