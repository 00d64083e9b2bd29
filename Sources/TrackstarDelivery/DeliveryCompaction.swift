// Compaction of the delivery log: the live generation's records move to the archive, and a new
// generation starts with only what is still live (pending jobs with their URLs, paused endpoints,
// recent failures, retry requests, tallies of the counts) and the archive's index of failed
// postbacks. Delivered and failed-for-good postbacks leave the live log, so a restart replays a
// bounded log however long the history.
//
// The dispatcher runs it in slices (`Compaction`): the copy to the archive goes a few thousand
// records at a time between its other work, while the live log keeps growing; the rest happens in
// one turn once the copy has caught up. Crash safety, step by step (`CompactionStep`); the
// generation file is the only commit point:
// 0. copying / 1. archived: the old generation's own records are appended to the archive after its
//    committed extent (then synced). A crash here leaves records after the extent, which the next
//    archive writer cuts; the old generation is still live and whole.
// 2. written: the new generation's directory (carried records, failed index) is written and synced.
//    A crash here leaves a directory the generation file does not name, which the next writer removes.
// 3. switched: the generation file names the new generation and the archive's new extent. From here
//    the old generation's records are counted once, in the archive, and pending jobs once, carried.
// 4. removed: the old generation's files are deleted (else the next writer deletes them).
// 5. pruned: archive segments older than `archive_retention` are retired (DeliveryLog+Archive).
import TrackstarCore
import TrackstarStore

/// The steps of a compaction, in order (see the file header); a test stops after one to play a crash there.
public enum CompactionStep: Int, CaseIterable, Sendable {
    /// Half of the archive copy done: a crash between two slices.
    case copying = 0
    case archived
    case written
    case switched
    case removed
    case pruned
}

/// A compaction under way: the archive being appended to, and how far the live log is copied.
/// Used on the writer's thread only.
public final class Compaction {
    let archive: DeliveryLog
    /// Records of the live log handled so far (copied, or skipped as carried copies).
    public private(set) var copied: UInt64 = 0
    /// Records copied into the archive so far.
    public private(set) var archived: UInt64 = 0
    /// The live generation being compacted.
    public let generation: UInt64
    /// Archive records pruned by the retention at the end.
    public private(set) var pruned: UInt64 = 0

    /// Starts compacting `log` (the live generation, opened as writer): opens the archive for
    /// appending after its committed extent (cutting what an interrupted compaction left there).
    public init(of log: DeliveryLog) throws(StoreError) {
        guard log.lock != nil else { throw StoreError("delivery log: compaction needs the writer's lock") }
        archive = try DeliveryLog.archive(of: log, writer: true)
        generation = log.generation
    }

    /// Copies up to `limit` more of `log`'s own records (carried ones are copies already in the
    /// archive) to the archive. True once every record `log` holds now is handled.
    public func copy(from log: DeliveryLog, limit: UInt64) throws(StoreError) -> Bool {
        precondition(log.generation == generation, "a compaction copies the generation it started on")
        let end = log.count - copied <= limit ? log.count : copied + limit
        var refused = false
        log.forEach(from: copied, to: end) { entry in
            guard !refused, !entry.record.carried else { return }
            refused = !archive.append(entry.record, endpoint: entry.endpoint, detail: entry.detail)
            if !refused { archived += 1 }
        }
        if refused { throw StoreError("delivery archive: cannot append (disk full?); compaction abandoned") }
        copied = end
        return copied == log.count
    }

    /// Any thread, while the writer goes on copying: fdatasyncs the archive as far as `target` (taken
    /// on the writer's thread by `syncTarget`), so that the last step's own sync has little left.
    func syncArchive(_ target: (count: UInt64, byteEnd: UInt64)) -> StoreError? {
        archive.sync(count: target.count, byteEnd: target.byteEnd)
    }

    /// The writer's thread: how far the archive is written now.
    var syncTarget: (count: UInt64, byteEnd: UInt64) { (archive.count, archive.byteEnd) }

    /// Once `copy` has caught up with `log` (and nothing was appended since): syncs the archive,
    /// writes the next generation with what `ledger` (the state `log` replays to) still needs,
    /// switches to it, deletes the old one and prunes the archive of history older than
    /// `retentionMillis` (0: keep it all). Returns the new live log, `ledger` updated to point into
    /// it. With `stopAfter`, returns nil after that step and changes nothing in memory: the caller
    /// then drops both, as a crash would.
    public func finish(_ log: DeliveryLog, ledger: inout DeliveryLedger, nowMillis: Int64, retentionMillis: Int64 = 0,
                       stopAfter: CompactionStep? = nil) throws(StoreError) -> DeliveryLog? {
        precondition(copied == log.count && log.generation == generation, "finish after the copy caught up")
        if let error = archive.sync() { throw error }
        if stopAfter == .archived { return nil }
        // 2. The next generation: what is still live, carried, and the failed index.
        let number = log.generation + 1
        let directory = DeliveryGeneration.tableDirectory(log.directory, number: number)
        _ = DeliveryGeneration.removeStale(log.directory, live: log.generation)  // an earlier attempt's leftovers
        let extent = DeliveryGeneration(number: number, archiveCount: archive.count, archiveByteEnd: archive.byteEnd)
        let next = try DeliveryLog(directory: log.directory, tableDirectory: directory, generation: extent, lock: log.lock)
        let old = try FailedIndex.open(of: log)
        var legacy: [FailedJob]?  // an archive compacted before the index existed: its failures from a replay, once
        if old == nil { legacy = Array(try DeliveryHistory.ledger(live: log, pauseAfter: Int.max).failedJobs.values) }
        let cutoff = retentionMillis > 0 ? nowMillis - retentionMillis : Int64.min
        let failed = try FailedIndex.write(directory: log.directory, generation: extent, lock: log.lock!) { emit in
            FailedIndex.merged(old: old, legacy: legacy, ledger: ledger, cutoffMillis: cutoff, emit)
        }
        var firstPending: UInt64?
        let carried = ledger.forEachCarried(urls: log, nowMillis: nowMillis, archivedFailed: Int(failed)) { entry in
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
        // 5. History older than the retention.
        if retentionMillis > 0 { pruned = archive.prune(before: cutoff) }
        if stopAfter == .pruned { return nil }
        ledger.compacted(firstPending: firstPending ?? 0, records: next.count, urls: next, archivedFailed: Int(failed))
        return next
    }
}

/// Compacts the delivery log in one go.
public enum DeliveryCompaction {
    /// Compacts `log` (the live generation, opened as writer) whose replayed state is `ledger`, and
    /// returns the new live log, `ledger` updated to point into it (see `Compaction`, which does it
    /// in slices). With `stopAfter`, returns nil after that step and changes nothing in memory: the
    /// caller then drops both, as a crash would.
    public static func run(_ log: DeliveryLog, ledger: inout DeliveryLedger, nowMillis: Int64, retentionMillis: Int64 = 0,
                           stopAfter: CompactionStep? = nil) throws(StoreError) -> DeliveryLog? {
        let compaction = try Compaction(of: log)
        if stopAfter == .copying {
            _ = try compaction.copy(from: log, limit: log.count / 2)
            return nil
        }
        _ = try compaction.copy(from: log, limit: .max)
        return try compaction.finish(log, ledger: &ledger, nowMillis: nowMillis, retentionMillis: retentionMillis, stopAfter: stopAfter)
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
