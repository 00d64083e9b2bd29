// `trackstar inspect DATA_DIR`: what is on disk — shards, segments, record counts, the newest
// snapshot and its age — and a full integrity check that changes nothing.
import TrackstarCore
import TrackstarExport
import TrackstarIO
import TrackstarStore
import TrackstarConfiguration

/// A read-only report on a data directory.
public enum Inspection {
    /// The report's lines, and whether damage was found (corruption before a tail, a bad manifest).
    public static func run(dataDir: String) -> (lines: [String], damaged: Bool) {
        var lines = ["data dir: \(dataDir)"] + identityLines(dataDir: dataDir)
        let opened: ReadOnlyDataDir
        switch ReadOnlyDataDir.open(dataDir) {
        case .success(let dir): opened = dir
        case .failure(let error): return (lines + ["DAMAGED: \(error)"], true)
        }
        let shards = opened.shards, clicks = opened.clicks, conversions = opened.conversions, refusals = opened.refusals
        let recovery = opened.recovery
        lines.append(snapshotLine(recovery.manifest))
        for shard in 0..<shards {
            lines.append("shard \(shard): \(clicks[shard].reservedCount) clicks, \(conversions[shard].reservedCount) conversions, "
                + "\(refusals[shard].reservedCount) refused postbacks")
            let directory = ShardLayout.directory(dataDir: dataDir, shard: shard)
            for entry in SegmentDirectory.entries(directory) {
                lines.append("  \(entry)  \(SegmentDirectory.size(directory + "/" + entry)) bytes")
            }
        }
        lines += indexLines(conversions)
        lines += ExportInspection.lines(dataDir: dataDir, clicks: clicks, conversions: conversions, refusals: refusals)
        lines += recovery.notes.map { "note: \($0)" }
        lines += recovery.damage.map { "DAMAGED: \($0)" }
        lines.append(recovery.damage.isEmpty ? "integrity: ok (every record's checksum verified)" : "integrity: DAMAGED")
        return (lines, !recovery.damage.isEmpty)
    }

    /// The node id the data dir records and the fingerprints (never the bytes) of its keys.
    static func identityLines(dataDir: String) -> [String] {
        let (recorded, problems) = NodeIdentity.inspect(dataDir: dataDir)
        var lines = [recorded.nodeID.map { "node id: \($0) (\(NodeIdentity.fileName))" }
                     ?? "node id: not recorded (a new data dir, or one from before node ids were recorded: the next start records its node_id)"]
        if let codec = recorded.codec {
            var key = "click key: \(KeyFile.name), key\(codec.currentKeyID) current, fingerprint \(KeyFile.fingerprint(codec.currentKey))"
            if let previous = codec.previousKey {
                key += "; key\(1 - codec.currentKeyID) previous, fingerprint \(KeyFile.fingerprint(previous))"
            }
            key += codec.acceptsLegacy ? "; version-0 (readable) IDs still accepted (legacy_ids = accept)" : "; opaque IDs only"
            lines.append(key)
        } else if problems.isEmpty {
            lines.append("click key: none (\(KeyFile.name) is missing; restore it from your backup before starting a node on this data dir)")
        }
        return lines + problems.map { "problem: \($0)" }
    }

    /// The conversion index a restart would rebuild: the keys of conversions inside the default
    /// order-id window (offers with their own `txid_window` or a longer `click_lifetime` keep
    /// theirs longer), and the generations they would fill. A running server's live figures are
    /// on /metrics (`trackstar_conversion_index_*`).
    static func indexLines(_ conversions: [RecordTable], nowMillis: Int64 = WallClock.nowMillis()) -> [String] {
        let defaults = StorageConfig()
        let cutoff = nowMillis - defaults.txidWindowMillis
        var live = 0, total = 0
        for table in conversions {
            var sequence = UInt64(table.firstMappedRecordSegment * table.recordsPerSegment)
            while sequence < table.reservedCount {
                defer { sequence += 1 }
                guard let record = table.record(sequence), ConversionRecord.kind(record) == .conversion else { continue }
                total += 1
                if ConversionRecord.timeMillis(record) >= cutoff { live += ConversionRecord.txidHash(record) != 0 ? 2 : 1 }
            }
        }
        var capacity = IndexPolicy.roundedCapacity(defaults.indexInitialCapacity), entries = capacity, generations = 1
        while live > capacity - capacity / 4 && generations < 32 { capacity *= 2; entries += capacity; generations += 1 }
        return ["conversion index: \(live) live keys at restart (conversions of the last \(defaults.txidWindowMillis / 86_400_000) days, "
                + "the default txid_window; \(total) conversions on disk)",
                "conversion index: a restart with default settings maps \(generations) generation\(generations == 1 ? "" : "s") of \(entries) entries "
                + "(\(entries >> 16) MiB); the next growth step comes at \(capacity - capacity / 4) keys in the newest (\(capacity) entries)"]
    }

    static func snapshotLine(_ manifest: Manifest?) -> String {
        guard let manifest else { return "newest snapshot: none" }
        let age = Double(WallClock.nowMillis() - manifest.createdMillis) / 1000
        let totals = manifest.shards.reduce((0, 0)) { ($0.0 + $1.clicks, $0.1 + $1.conversions) }
        return "newest snapshot: #\(manifest.sequence), \(age) s old, \(totals.0) clicks and \(totals.1) conversions durable"
    }
}
