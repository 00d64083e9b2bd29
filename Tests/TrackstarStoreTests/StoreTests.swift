// Record tables and manifests: publication, segment growth, torn and damaged manifests. The
// concurrent index has its own file (ConcurrentIndexTests.swift).
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import TrackstarStore
import TrackstarTestSupport

@Suite struct RecordTableTests {
    @Test func publishesAcrossSegments() {
        let table = RecordTable(stride: 64, recordsPerSegment: 4, byteSegmentSize: 64)
        for i in 0..<10 {
            let (sequence, record) = table.reserveRecord()!
            #expect(sequence == UInt64(i))
            #expect(table.record(sequence) == nil)  // not visible before publish
            record.storeBytes(of: UInt64(i * 7), as: UInt64.self)
            let (offset, bytes) = table.reserveBytes(20)!
            bytes.storeBytes(of: UInt8(i), as: UInt8.self)
            record.storeBytes(of: offset, toByteOffset: 8, as: UInt64.self)
            table.publish(count: sequence + 1)
        }
        for i in 0..<10 {
            let record = table.record(UInt64(i))!
            #expect(record.load(as: UInt64.self) == UInt64(i * 7))
            let offset = record.load(fromByteOffset: 8, as: UInt64.self)
            #expect(offset % 64 + 20 <= 64)  // never straddles a byte segment
            #expect(table.bytes(at: offset, count: 20)[0] == UInt8(i))
        }
        #expect(table.record(10) == nil)
    }
}

/// Per-thread counters; each thread writes only its own element, read after the group is done.
final class Tally: @unchecked Sendable {
    let wins: UnsafeMutablePointer<Int>
    let mismatches: UnsafeMutablePointer<Int>
    init(threads: Int) {
        wins = .allocate(capacity: threads); wins.initialize(repeating: 0, count: threads)
        mismatches = .allocate(capacity: threads); mismatches.initialize(repeating: 0, count: threads)
    }
    deinit { wins.deallocate(); mismatches.deallocate() }
}

@Suite struct ManifestTests {
    let manifest = Manifest(sequence: 7, createdMillis: 1_790_000_000_123, shards: [
        ShardPosition(clicks: 10, clickBytes: 400, conversions: 2, conversionBytes: 12),
        ShardPosition(clicks: 1 << 40, clickBytes: 1 << 50, conversions: 0, conversionBytes: 0),
    ])

    @Test func roundTrips() {
        #expect(Manifest.decode(manifest.encoded()) == .success(manifest))
    }

    @Test func everyFlippedByteIsDetected() {
        let bytes = manifest.encoded()
        for i in 0..<bytes.count {
            var damaged = bytes
            damaged[i] ^= 0x01
            guard case .failure = Manifest.decode(damaged) else { Issue.record("byte \(i) flip accepted"); continue }
        }
    }

    @Test func truncatedIsRefusedWithItsLength() {
        let bytes = Array(manifest.encoded().prefix(30))
        guard case .failure(let error) = Manifest.decode(bytes) else { Issue.record("accepted"); return }
        #expect(error.description.contains("length 30"))
    }

    @Test func writeKeepsThePreviousAndLoadPicksTheNewest() throws {
        let dir = "/tmp/trackstar-manifest-\(UInt64.random(in: 0...UInt64.max))"
        try SegmentDirectory.create(dir)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        try manifest.write(to: dir)
        var newer = manifest
        newer.sequence = 8
        try newer.write(to: dir)
        let found = Manifest.load(from: dir)
        #expect(found.manifest == newer)
        #expect(found.damaged.isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir + "/manifest.prev"))
    }
}

extension Result: @retroactive Equatable where Success: Equatable, Failure == StoreError {
    public static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case (.success(let x), .success(let y)): x == y
        case (.failure(let x), .failure(let y)): x.description == y.description
        default: false
        }
    }
}

@Suite struct RetentionTests {
    @Test func retiredSegmentFreesItsFileAndReadsAsGone() throws {
        let dir = "/tmp/trackstar-retention-\(UInt64.random(in: 0...UInt64.max))"
        try SegmentDirectory.create(dir)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let table = RecordTable(stride: 64, recordsPerSegment: 1024, byteSegmentSize: 4096, directory: dir, name: "clicks")
        for i in 0..<3000 {
            let (sequence, record) = try #require(table.reserveRecord())
            let (offset, bytes) = try #require(table.reserveBytes(8))
            bytes.storeBytes(of: UInt64(i), as: UInt64.self)
            record.storeBytes(of: offset, toByteOffset: 16, as: UInt64.self)
            table.publish(count: sequence + 1)
        }
        let keepFrom = table.record(1024)!.load(fromByteOffset: 16, as: UInt64.self)
        let note = try #require(table.retire(segment: 0, keepBytesFrom: keepFrom))
        #expect(note.contains(table.path(segment: 0, bytes: false)))
        #expect(table.record(1023) == nil)
        #expect(table.record(1024) != nil)
        #expect(FileManager.default.fileExists(atPath: table.path(segment: 0, bytes: false) + ".retired"))
        #expect(!FileManager.default.fileExists(atPath: table.path(segment: 0, bytes: false)))
        // The punched file keeps its size but no longer holds blocks.
        var info = stat()
        #expect(stat(table.path(segment: 0, bytes: false) + ".retired", &info) == 0)
        #expect(info.st_blocks == 0)
        // A segment that is not yet full is never retired.
        #expect(table.retire(segment: 2, keepBytesFrom: 0) == nil)

        // Reopened, the retired file is removed and the log starts at segment 1.
        let reopened = RecordTable(stride: 64, recordsPerSegment: 1024, byteSegmentSize: 4096, directory: dir, name: "clicks")
        #expect(reopened.removeRetiredFiles().count >= 1)
        _ = try reopened.mapExisting()
        #expect(reopened.firstMappedRecordSegment == 1)
    }
}

@Suite("conversion record extras")
struct ConversionExtrasLayoutTests {
    /// A record with a txid and an extras block: both read back, the checksum covers both, and the
    /// flags say whether the block was cut.
    @Test(arguments: [false, true])
    func txidAndExtrasReadBack(truncated: Bool) {
        let txid = Array("order-1".utf8), extras = Array("nid=4&adv1=a%20b".utf8)
        var variable = txid + [UInt8(extras.count & 0xFF), UInt8(extras.count >> 8)] + extras
        let record = UnsafeMutableRawPointer.allocate(byteCount: ConversionRecord.stride, alignment: 8)
        defer { record.deallocate() }
        record.initializeMemory(as: UInt8.self, repeating: 0xAA, count: ConversionRecord.stride)  // garbage in 80..<88 first
        ConversionRecord.write(record, .init(clickRef: 1, timeMillis: 2, txidHash: 3, amount: 4, payout: 5, revenue: 6, offerID: 7,
                                             affID: 8, event: 0, status: .pending, currency: 0, varOffset: 0, varLength: variable.count))
        #expect(!ConversionRecord.hasExtras(record) && ConversionRecord.txidLength(record) == variable.count)
        ConversionRecord.writeExtras(record, length: extras.count, truncated: truncated)
        variable.withUnsafeBytes { ConversionRecord.seal(record, variable: $0) }
        #expect(ConversionRecord.hasExtras(record) && ConversionRecord.extrasTruncated(record) == truncated)
        #expect(ConversionRecord.txidLength(record) == txid.count && ConversionRecord.extrasLength(record) == extras.count)
        #expect(variable.withUnsafeBytes { ConversionRecord.checksum(record, variable: $0) } == ConversionRecord.storedChecksum(record))
        variable[variable.count - 1] ^= 1  // the block is covered by the checksum
        #expect(variable.withUnsafeBytes { ConversionRecord.checksum(record, variable: $0) } != ConversionRecord.storedChecksum(record))
    }
}

