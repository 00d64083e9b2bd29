// The dispatcher's group commit: after each loop iteration, one fdatasync of everything appended to
// the delivery log so far, on libuv's thread pool, then the positions file (written only once the
// queued records it counts are on disk).
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

extension Dispatcher {
    /// The shortest time between two group commits' starts.
    static let commitGapMicros: Int64 = 5_000

    /// After each loop iteration (the loop thread's hook): starts a group commit on libuv's thread pool, one at a
    /// time, covering everything appended so far: an fdatasync of the log, then the positions file
    /// (written only once the queued records it counts are on disk). The loop goes on meanwhile.
    func commit() {
        guard logDirty || positionsDirty, !syncing, !shuttingDown else { return }
        // During a delivery storm every loop turn appends: one fdatasync per few milliseconds is
        // enough (the tick's turn starts the one a quiet loop would miss); while paced on a busy core,
        // one a tick.
        let now = MonotonicClock.micros()
        let gap = pacing.busy ? max(Dispatcher.commitGapMicros, Int64(tickMillis) * 1_000) : Dispatcher.commitGapMicros
        guard now - lastCommitMicros >= gap else { return }
        lastCommitMicros = now
        syncTarget = SyncTarget(count: log.count, byteEnd: log.byteEnd, scanned: scanned)
        logDirty = false
        positionsDirty = false
        syncing = true
        do {
            try loop?.queueWork({ [self] in
                let target = syncTarget
                syncError = log.sync(count: target.count, byteEnd: target.byteEnd)
                if syncError == nil { storePositions(target.scanned) }
            }, completion: { [self] in committed() })
        } catch {
            // The thread pool refused the job: sync here instead (this iteration waits for it).
            message("deliveries: \(error.description); syncing on the dispatcher thread")
            syncError = log.sync(count: syncTarget.count, byteEnd: syncTarget.byteEnd)
            if syncError == nil { storePositions(syncTarget.scanned) }
            committed()
        }
    }

    func committed() {
        syncing = false
        if let error = syncError {
            message("deliveries: \(error.description)")
            logDirty = true  // try again after the next iteration
            positionsDirty = true
        }
        if shuttingDown { finalCommit(); return }
        if compactionWaitsForCommit && !archiveSyncing {  // a compaction's copy caught up while this commit ran
            compactionWaitsForCommit = false
            compactSlice()
        }
    }

    /// At stop, on the loop thread: whatever the last commit did not cover.
    func finalCommit() {
        if let error = log.sync(count: log.count, byteEnd: log.byteEnd) { message("deliveries: \(error.description)"); return }
        storePositions(scanned)
    }

    /// After a commit's sync: the positions file, unless it already holds `scanned` (during a storm
    /// of queued postbacks nothing new is planned, and the file's fsync and rename are skipped).
    func storePositions(_ scanned: [UInt64]) {
        if scanned != storedPositions && positions.store(scanned) { storedPositions = scanned }
        noteCommitted(scanned)
    }

    /// How far planning is durable (queued records synced, positions stored), for retention (any
    /// thread reads it through `retentionFloors`).
    func noteCommitted(_ scanned: [UInt64]) {
        pthread_mutex_lock(&mutex)
        committedScan = scanned
        pthread_mutex_unlock(&mutex)
    }
}

/// What one group commit covers.
struct SyncTarget {
    var count: UInt64
    var byteEnd: UInt64
    var scanned: [UInt64]
}
