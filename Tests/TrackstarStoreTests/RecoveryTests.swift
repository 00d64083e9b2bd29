// Start-up recovery without a server: real segment files in a temporary data dir, written through
// RecordTable, damaged by hand, then reopened and recovered as the server does at start (and as
// `trackstar inspect` does, changing nothing).
import Foundation
import Testing
@testable import TrackstarStore

/// A one-shard data dir with `clicks` sealed click records (each with 8 variable bytes).
private final class DataDir {
    let path = "/tmp/trackstar-recovery-\(UInt64.random(in: 0...UInt64.max))"
    var shardDir: String { ShardLayout.directory(dataDir: path, shard: 0) }

    init(clicks: Int) throws {
        try SegmentDirectory.create(shardDir)
        let table = ShardLayout.clickTable(dataDir: path, shard: 0)
        for i in 0..<clicks {
            let (sequence, record) = try #require(table.reserveRecord())
            let (offset, bytes) = try #require(table.reserveBytes(8))
            bytes.storeBytes(of: UInt64(1000 + i), as: UInt64.self)
            ClickSlot.write(record, mintMillis: 1_700_000_000_000 + Int64(i), offerID: 1, affID: 2, varOffset: offset, varLength: 8,
                            peerHigh: 0, peerLow: UInt64(i))
            ClickSlot.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: 8))
            table.publish(count: sequence + 1)
        }
        // Touch the other logs so every table has its files, as a running server leaves them.
        _ = ShardLayout.conversionTable(dataDir: path, shard: 0)
        _ = ShardLayout.refusalTable(dataDir: path, shard: 0)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The click segment file's path (segment 0).
    var clickSegment: String { ShardLayout.clickTable(dataDir: path, shard: 0).path(segment: 0, bytes: false) }

    /// Overwrites `bytes` at `offset` of a file.
    func patch(_ file: String, at offset: Int, _ bytes: [UInt8]) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: file))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
    }

    /// Flips one byte of click `sequence`'s fixed part (its mint time), so its checksum no longer matches.
    func damageClick(_ sequence: Int) throws {
        let data = try #require(FileManager.default.contents(atPath: clickSegment))
        let at = sequence * ClickSlot.stride
        try patch(clickSegment, at: at, [data[at] ^ 0x5A])
    }

    /// Fresh tables over the files and one recovery run over them.
    func recover(_ options: RecoveryOptions = RecoveryOptions()) -> (Recovery, Result<[String], RecoveryError>, RecordTable) {
        let clicks = ShardLayout.clickTable(dataDir: path, shard: 0)
        var recovery = Recovery(dataDir: path, clicks: [clicks], conversions: [ShardLayout.conversionTable(dataDir: path, shard: 0)],
                                refusals: [ShardLayout.refusalTable(dataDir: path, shard: 0)], options: options)
        let result: Result<[String], RecoveryError>
        do { result = .success(try recovery.run()) } catch { result = .failure(error) }
        return (recovery, result, clicks)
    }
}

@Suite("recovery of a data dir")
struct RecoveryTests {
    /// The last record half written (its checksum does not match, nothing valid after it): cut, and
    /// the log continues right before it; inspect mode only reports it and leaves the bytes.
    @Test func aTornTailIsCutWhereItStarts() throws {
        let dir = try DataDir(clicks: 5)
        try dir.damageClick(4)
        let inspected = dir.recover(RecoveryOptions(inspectOnly: true))
        #expect(try inspected.1.get().contains { $0.hasPrefix("found a torn tail of 1 record (\(ClickSlot.stride) bytes)") })
        #expect(inspected.0.damage.isEmpty)
        #expect(ClickSlot.storedChecksum(try #require(inspected.2.slot(4))) != 0)  // not erased
        let (_, result, clicks) = dir.recover()
        let notes = try result.get()
        #expect(notes.contains { $0.hasPrefix("cut a torn tail of 1 record") && $0.contains("\(dir.clickSegment) offset \(4 * ClickSlot.stride) (record 4)") },
                "\(notes)")
        #expect(notes.contains("shard 0: 4 clicks, 0 conversions recovered"), "\(notes)")
        #expect(clicks.reservedCount == 4)
        // Cut for good: the next run finds nothing to cut.
        let again = try dir.recover().1.get()
        #expect(!again.contains { $0.contains("torn tail") } && again.contains("shard 0: 4 clicks, 0 conversions recovered"), "\(again)")
    }

    /// A bad record with intact ones after it is damage, not a tail: recovery stops naming the place
    /// and what to do (inspect records it instead), and nothing is cut.
    @Test func damageBeforeTheTailStopsRecovery() throws {
        let dir = try DataDir(clicks: 10)
        try dir.damageClick(3)
        let (_, result, _) = dir.recover()
        guard case .failure(let error) = result else { Issue.record("recovery went on past a corrupt record"); return }
        #expect(error.description.contains("corrupt record at \(dir.clickSegment) offset \(3 * ClickSlot.stride) (record 3), followed by 6 intact records"),
                "\(error)")
        #expect(error.description.contains("--quarantine-damaged"))
        let inspected = dir.recover(RecoveryOptions(inspectOnly: true))
        #expect(inspected.0.damage == ["corrupt record at \(dir.clickSegment) offset \(3 * ClickSlot.stride) (record 3), followed by 6 intact records"])
        #expect(ClickSlot.storedChecksum(try #require(inspected.2.slot(9))) != 0)
    }

    /// With `quarantineDamaged` the damaged segment is renamed aside, its records become unavailable,
    /// and appends continue in the next segment.
    @Test func quarantineSetsTheDamagedSegmentAside() throws {
        let dir = try DataDir(clicks: 10)
        try dir.damageClick(3)
        let (_, result, clicks) = dir.recover(RecoveryOptions(quarantineDamaged: true))
        let notes = try result.get()
        #expect(notes.contains { $0.hasPrefix("quarantined \(dir.clickSegment) as \(dir.clickSegment).quarantined") }, "\(notes)")
        #expect(FileManager.default.fileExists(atPath: dir.clickSegment + ".quarantined"))
        #expect(!FileManager.default.fileExists(atPath: dir.clickSegment))
        #expect(clicks.reservedCount == UInt64(clicks.recordsPerSegment))
        #expect(clicks.record(5) == nil)
    }

    /// A damaged `manifest` falls back to `manifest.prev`; with both damaged recovery stops (unless
    /// told to go on, then it scans everything); a manifest promising more records than are intact
    /// is damage even at the end of the log.
    @Test func aDamagedManifestFallsBackToThePreviousOne() throws {
        let dir = try DataDir(clicks: 6)
        let older = Manifest(sequence: 1, createdMillis: 10, shards: [ShardPosition(clicks: 4)])
        let newer = Manifest(sequence: 2, createdMillis: 20, shards: [ShardPosition(clicks: 6)])
        try older.write(to: dir.path)
        try newer.write(to: dir.path)  // `manifest` is the newer, `manifest.prev` the older
        var (recovery, result, _) = dir.recover()
        _ = try result.get()
        #expect(recovery.manifest == newer)

        try dir.patch(dir.path + "/" + Manifest.fileName, at: 20, [0xFF, 0xFF])
        (recovery, result, _) = dir.recover()
        let notes = try result.get()
        #expect(recovery.manifest == older)
        #expect(notes.contains { $0.hasPrefix("manifest \(dir.path)/manifest is damaged") && $0.hasSuffix("using the other copy or a full scan") },
                "\(notes)")

        try dir.patch(dir.path + "/" + Manifest.previousName, at: 0, [0, 0, 0, 0])
        guard case .failure(let error) = dir.recover().1 else { Issue.record("recovery started with every manifest damaged"); return }
        #expect(error.description.contains("every manifest in \(dir.path) is damaged"), "\(error)")
        let scanned = dir.recover(RecoveryOptions(quarantineDamaged: true))
        #expect(scanned.0.manifest == nil && scanned.2.reservedCount == 6)
        #expect(try scanned.1.get().contains("no manifest in \(dir.path): every record was verified by a full scan"))

        // A valid manifest that trusts 6 clicks, over a log whose sixth is bad.
        try FileManager.default.removeItem(atPath: dir.path + "/" + Manifest.fileName)
        try FileManager.default.removeItem(atPath: dir.path + "/" + Manifest.previousName)
        try newer.write(to: dir.path)
        try dir.damageClick(5)
        guard case .failure(let below) = dir.recover().1 else { Issue.record("a record below the durable count was cut as a tail"); return }
        #expect(below.description.contains("(record 5), below the snapshot's durable count 6"), "\(below)")
    }
}
