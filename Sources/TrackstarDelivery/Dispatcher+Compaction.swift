// When the dispatcher compacts its delivery log: on its loop thread, between ticks, once the live
// generation holds `compactAfter` records more than compaction would carry, and never while a group
// commit is running (that commit syncs the log being replaced).
import TrackstarCore
import TrackstarStore

extension Dispatcher {
    /// Compacts the live log if it has gathered enough finished records (see the file header).
    func compactIfDue(now: Int64) {
        guard !syncing, !shuttingDown, now >= compactionBlockedUntil,
              log.count >= compactAfter + DeliveryCompaction.carriedEstimate(ledger) else { return }
        compact(now: now)
    }

    /// Runs a compaction now; on failure the old generation stays live and the next try waits a minute.
    func compact(now: Int64) {
        let started = WallClock.nowMillis()
        let before = log.count
        do {
            guard let next = try DeliveryCompaction.run(log, ledger: &ledger, nowMillis: now) else { return }
            log = next
            logDirty = false
            message("deliveries: compacted the delivery log: \(before) records moved to the archive, \(next.count) carried "
                + "into generation \(next.generation) (\(WallClock.nowMillis() - started) ms)")
        } catch {
            compactionBlockedUntil = now + 60_000
            message("deliveries: compaction failed, the log stays as it is (next try in a minute): \(error.description)")
        }
    }
}
