// What the server does when a log file cannot be synced. After a failed fsync the kernel may have
// dropped the pages it could not write and reports the error once (PostgreSQL's "fsyncgate"), so a
// later successful sync proves nothing: the server stops accepting writes until an operator restarts it.
import TrackstarCore
import TrackstarIO
import TrackstarStore

/// Where a log file's sync failed (a label of `trackstar_fsync_failures_total`).
enum SyncSite: Int, CaseIterable {
    /// The group commit of `fsync = "always"` (a loop's durability barrier).
    case commit
    /// The snapshot thread's periodic sync of `fsync = "interval"`.
    case interval
    /// The sync before a snapshot manifest.
    case snapshot

    var name: String {
        switch self {
        case .commit: "commit"
        case .interval: "interval"
        case .snapshot: "snapshot"
        }
    }
}

extension Engine {
    /// Any thread: a sync of a log file failed at `site`. Counts it, stops every append of every
    /// shard (clicks and postbacks are answered 503 `storage_sync_failed` from now on, /readyz turns
    /// unready, no further manifest is written) and logs at error — loudly the first time.
    func syncFailed(_ site: SyncSite, reason: String) {
        syncFailures[site.rawValue].wrappingIncrement(ordering: .relaxed)  // a counter: no ordering
        for table in clicks + conversions + refusals { table.stopWrites() }
        let first = writesStoppedMillis.compareExchange(expected: 0, desired: WallClock.nowMillis(), ordering: .relaxed).exchanged
        Log.error(first
            ? "a log file could not be synced; the kernel may have dropped its pages, so writes are stopped: clicks and postbacks get 503 until the server is restarted. Check the disk (dmesg), then restart: recovery verifies every record"
            : "a log file could not be synced (writes are already stopped)",
            ["site": "\(site.name)", "reason": "\(reason)"])
    }

    /// True once a failed sync stopped writes (relaxed: a fact of its own).
    var writesStopped: Bool { writesStoppedMillis.load(ordering: .relaxed) != 0 }
}

extension RequestHandler {
    /// The loop's durability barrier finished. A failed sync stops writes and fails every held
    /// answer. Once writes are stopped, a barrier that covers records appended before the stop
    /// fails too, even if its own sync succeeded: the error is reported only once (perhaps to the
    /// snapshot thread), so that success proves nothing. Answers that appended nothing (reads,
    /// refusals, the 503s themselves) are sent.
    func durabilityBarrierFinished(syncError: Int32) -> Bool {
        if syncError != 0 {
            engine.syncFailed(.commit, reason: "fdatasync: \(String(cString: strerror(syncError)))")
            return false
        }
        return !(engine.writesStopped && state.pointee.barrierCoversAppends)
    }

    /// 503 for a request whose record could not be made durable: nothing was acknowledged.
    func syncFailureResponse(output: inout ByteWriter, close: Bool) {
        metrics.count(.syncFailedAnswers)
        responses.retryAfter = true
        responses.refusal(.unavailable, reason: "storage_sync_failed",
                          message: "the record could not be made durable; nothing was acknowledged, retry later",
                          keepAlive: !close, headOnly: false, nowMillis: WallClock.nowMillis(), to: &output)
        responses.retryAfter = false
    }
}

#if canImport(Glibc)
import Glibc
#endif
