// When and how the dispatcher compacts its delivery log: once the live generation holds
// `compactAfter` records more than compaction would carry, in slices on its loop thread. Each slice
// copies records to the archive for at most `sliceMicros` and posts the next one, so curl's
// callbacks, ticks and operator requests run between slices and postbacks keep flowing; the records
// appended meanwhile are copied by later slices. Once the copy has caught up, the rest (the next
// generation, the switch) runs in one turn, never while a group commit runs (that commit syncs the
// log being replaced): if one is running, it runs when that commit returns.
import TrackstarCore
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

extension Dispatcher {
    /// Records copied between two looks at the clock.
    static let sliceStep: UInt64 = 1024
    /// The longest a slice copies before the loop gets its turn back.
    static let sliceMicros: Int64 = 4_000
    /// Archive records copied between two background syncs of the archive.
    static let archiveSyncEvery: UInt64 = 65_536

    /// Starts a compaction if the live log has gathered enough finished records (see the file header).
    func compactIfDue(now: Int64) {
        guard compaction == nil, !shuttingDown, now >= compactionBlockedUntil,
              log.count >= compactAfter + DeliveryCompaction.carriedEstimate(ledger) else { return }
        do {
            compaction = try Compaction(of: log)
        } catch {
            compactionFailed(error, now: now)
            return
        }
        compactionStartedMillis = WallClock.nowMillis()
        compactionSlices = 0
        archiveSyncedThrough = 0
        compactSlice()
    }

    /// Copies one slice; posts the next unless the copy has caught up, and then finishes (or waits
    /// for the running group commit: `committed` calls this again).
    func compactSlice() {
        slicePosted = false
        guard let compaction, !shuttingDown else { return }
        let began = MonotonicClock.micros()
        var caughtUp = false
        do {
            repeat { caughtUp = try compaction.copy(from: log, limit: Dispatcher.sliceStep) }
            while !caughtUp && MonotonicClock.micros() - began < Dispatcher.sliceMicros
        } catch {
            compactionFailed(error, now: WallClock.nowMillis())
            return
        }
        compactionSlices += 1
        if !archiveSyncing && compaction.archived >= archiveSyncedThrough + Dispatcher.archiveSyncEvery { syncArchive(compaction) }
        guard caughtUp else {
            slicePosted = post { $0.compactSlice() }
            return
        }
        if syncing || archiveSyncing { compactionWaitsForCommit = true; return }
        finishCompaction(compaction)
    }

    /// Starts an fdatasync of what the copy has written so far on libuv's thread pool (one at a
    /// time), so that the archive's pages are written back while the copy goes on and the last
    /// step does not wait for a whole history's worth of them.
    func syncArchive(_ compaction: Compaction) {
        let target = compaction.syncTarget, archived = compaction.archived
        archiveSyncing = true
        do {
            try loop?.queueWork({ _ = compaction.syncArchive(target) }, completion: { [self] in
                archiveSyncing = false
                archiveSyncedThrough = archived
                if compactionWaitsForCommit && !syncing {  // the copy caught up meanwhile
                    compactionWaitsForCommit = false
                    compactSlice()
                }
            })
        } catch {
            archiveSyncing = false  // the last step syncs it all
        }
    }

    /// The last turn of a compaction: the next generation, the switch, the old one's removal.
    func finishCompaction(_ compaction: Compaction) {
        let now = WallClock.nowMillis()
        let before = log.count
        do {
            guard let next = try compaction.finish(log, ledger: &ledger, nowMillis: now, retentionMillis: config.archiveRetentionMillis)
            else { return }
            self.compaction = nil
            log = next
            logDirty = false
            let pruned = compaction.pruned == 0 ? "" : "; \(compaction.pruned) archived records older than archive_retention pruned"
            message("deliveries: compacted the delivery log: \(before) records of generation \(compaction.generation) handled, "
                + "\(compaction.archived) moved to the archive in \(compactionSlices) slices, \(next.count) carried into generation "
                + "\(next.generation) (\(WallClock.nowMillis() - compactionStartedMillis) ms in all, the last step "
                + "\(WallClock.nowMillis() - now) ms)\(pruned)")
        } catch {
            compactionFailed(error, now: now)
        }
    }

    /// A compaction that failed: the old generation stays live and the next try waits a minute.
    func compactionFailed(_ error: StoreError, now: Int64) {
        compaction = nil
        compactionBlockedUntil = now + 60_000
        message("deliveries: compaction failed, the log stays as it is (next try in a minute): \(error.description)")
    }

    /// Whether a compaction is under way, and the records of the live log it has handled (for figures and tests).
    public var compactionProgress: (running: Bool, handled: UInt64) {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return publishedCompaction
    }
}
