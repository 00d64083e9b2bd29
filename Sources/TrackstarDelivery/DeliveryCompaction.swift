// Compaction of the delivery log: the live generation's records move to the archive, and a new
// generation starts with only what is still live (pending jobs with their URLs, paused endpoints,
// recent failures, retry requests, tallies of the counts). Delivered and failed-for-good postbacks
// leave the live log, so a restart replays a bounded log however long the history.
//
// Crash safety, step by step (`CompactionStep`); the generation file is the only commit point:
// 1. archived: the old generation's own records are appended to the archive after its committed
//    extent and synced. A crash here leaves records after the extent, which the next archive writer
//    cuts; the old generation is still live and whole.
// 2. written: the new generation's directory is written and synced. A crash here leaves a directory
//    the generation file does not name, which the next writer removes.
// 3. switched: the generation file names the new generation and the archive's new extent. From here
//    the old generation's records are counted once, in the archive, and pending jobs once, carried.
// 4. removed: the old generation's files are deleted (else the next writer deletes them).
import TrackstarCore
import TrackstarStore

/// The steps of a compaction, in order (see the file header); a test stops after one to play a crash there.
public enum CompactionStep: Int, CaseIterable, Sendable {
    case archived = 1
    case written
    case switched
    case removed
}

/// Compacts the delivery log.
public enum DeliveryCompaction {
    /// Compacts `log` (the live generation, opened as writer) whose replayed state is `ledger`, and
    /// returns the new live log, `ledger` updated to point into it. With `stopAfter`, returns nil
    /// after that step and changes nothing in memory: the caller then drops both, as a crash would.
    public static func run(_ log: DeliveryLog, ledger: inout DeliveryLedger, nowMillis: Int64,
                           stopAfter: CompactionStep? = nil) throws(StoreError) -> DeliveryLog? {
        guard log.lock != nil else { throw StoreError("delivery log: compaction needs the writer's lock") }
        if let error = log.sync() { throw error }
        // 1. The old generation's own records, appended to the archive (carried ones are copies).
        let archive = try DeliveryLog.archive(of: log, writer: true)
        var refused = false
        log.forEach { entry in
            if !refused && !entry.record.carried { refused = !archive.append(entry.record, endpoint: entry.endpoint, detail: entry.detail) }
        }
        if refused { throw StoreError("delivery archive: cannot append (disk full?); compaction abandoned") }
        if let error = archive.sync() { throw error }
        if stopAfter == .archived { return nil }
        // 2. The next generation: what is still live, carried.
        let number = log.generation + 1
        let directory = DeliveryGeneration.tableDirectory(log.directory, number: number)
        _ = DeliveryGeneration.removeStale(log.directory, live: log.generation)  // an earlier attempt's leftovers
        let next = try DeliveryLog(directory: log.directory, tableDirectory: directory,
                                   generation: DeliveryGeneration(number: number, archiveCount: archive.count, archiveByteEnd: archive.byteEnd),
                                   lock: log.lock)
        var firstPending: UInt64?
        let carried = ledger.forEachCarried(urls: log, nowMillis: nowMillis) { entry in
            if firstPending == nil && entry.record.kind == .queued { firstPending = next.count }
            return next.append(entry.record, endpoint: entry.endpoint, detail: entry.detail)
        }
        guard carried else { throw StoreError("delivery log: cannot write generation \(number) (disk full?); compaction abandoned") }
        if let error = next.sync() { throw error }
        SegmentDirectory.sync(directory)
        SegmentDirectory.sync(log.directory)
        if stopAfter == .written { return nil }
        // 3. The switch.
        if let error = next.archiveExtent.store(log.directory) { throw error }
        if stopAfter == .switched { return nil }
        // 4. The old generation's files.
        _ = DeliveryGeneration.removeStale(log.directory, live: number)
        if stopAfter == .removed { return nil }
        ledger.compacted(firstPending: firstPending ?? 0, records: next.count, urls: next)
        return next
    }

    /// Records carried into a new generation, roughly: what a compaction would write.
    static func carriedEstimate(_ ledger: DeliveryLedger) -> UInt64 {
        UInt64(ledger.pending.count + ledger.failures.count + ledger.endpoints.count * 2 + ledger.affiliates.count
               + ledger.retryRequests.count + 1)
    }
}

/// The whole delivery history: the archive, then the live generation.
public enum DeliveryHistory {
    /// Replays the archive and then `live` into one ledger (history mode: carried records are not
    /// counted twice). Costs the whole history (seconds per ten million records).
    public static func ledger(live: DeliveryLog, pauseAfter: Int) throws(StoreError) -> DeliveryLedger {
        var ledger = DeliveryLedger(pauseAfter: pauseAfter)
        if live.archiveExtent.archiveCount > 0 {
            ledger.replay(try DeliveryLog.archive(of: live, writer: false), mode: .history)
        }
        ledger.replay(live, mode: .history)
        ledger.urls = nil  // its URLs are read; holding the live log would hold its lock
        return ledger
    }

    /// Opens a reader of the live generation that a running server's compaction did not switch away
    /// from while it was being opened (tried a few times), and replays the history.
    public static func read(dataDir: String, pauseAfter: Int) throws(StoreError) -> DeliveryLedger {
        var attempt = 0
        while true {
            let live = try DeliveryLog(dataDir: dataDir, writer: false)
            let now = try DeliveryGeneration.load(live.directory)
            if now == live.archiveExtent || attempt == 5 { return try ledger(live: live, pauseAfter: pauseAfter) }
            attempt += 1
        }
    }
}
