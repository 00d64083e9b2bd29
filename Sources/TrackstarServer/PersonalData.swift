// `[privacy] personal_data_retention`: after each snapshot, clicks older than the retention period
// have their client address, user agent and uniqueness fingerprint wiped in place (ClickEnrichment's
// `wipePersonalData`); counts, country, network, device, OS, browser, bot reason and the unique flag
// stay. Runs on the snapshot thread, never on a loop.
import TrackstarCore
import TrackstarStore

extension Engine {
    /// Wipes every published click minted before `nowMillis - retention`, from each shard's cursor
    /// (records below it are done; the cursors start at 0 each run, and wiped records are skipped
    /// cheaply). Returns a note per shard that had clicks wiped.
    func wipePersonalData(nowMillis: Int64, cursors: inout [UInt64]) -> [String] {
        guard let retention = config.privacy.personalDataRetentionMillis else { return [] }
        let cutoff = nowMillis - retention
        if cursors.count < clicks.count { cursors += [UInt64](repeating: 0, count: clicks.count - cursors.count) }
        var notes: [String] = []
        for (shard, table) in clicks.enumerated() {
            var sequence = max(cursors[shard], table.retiredCount)
            var wiped = 0
            while sequence < table.publishedCount {
                guard let slot = table.record(sequence) else { sequence += 1; continue }  // quarantined
                if ClickSlot.mintMillis(slot) >= cutoff { break }
                if !ClickSlot.isWiped(slot) {
                    let bytes = table.bytes(at: ClickSlot.varOffset(slot), count: ClickSlot.varLength(slot))
                    ClickSlot.wipePersonalData(slot, variable: UnsafeMutableRawBufferPointer(mutating: bytes))
                    wiped += 1
                }
                sequence += 1
            }
            cursors[shard] = sequence
            if wiped > 0 { notes.append("privacy: wiped the address and user agent of \(wiped) clicks older than the retention in shard \(shard)") }
        }
        return notes
    }
}
