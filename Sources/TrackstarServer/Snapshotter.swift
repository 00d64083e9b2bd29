// The background thread that makes the logs durable without stopping a loop: every fsync_interval
// it fdatasyncs what the loops have published (policy "interval"), and every snapshot_interval (and at
// shutdown) it writes a manifest of the durable positions. It runs in SCHED_IDLE while it keeps time.
import TrackstarCore
import TrackstarIO
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

extension Engine {
    /// The published positions of every shard, read with acquire loads (any thread).
    func positions() -> [ShardPosition] {
        (0..<clicks.count).map { shard in
            let clickCount = clicks[shard].publishedCount
            let conversionCount = conversions[shard].publishedCount
            var position = ShardPosition(clicks: clickCount, conversions: conversionCount)
            if clickCount > 0, let last = clicks[shard].record(clickCount - 1) {
                position.clickBytes = ClickSlot.varOffset(last) + UInt64(ClickSlot.varLength(last))
            }
            if conversionCount > 0, let last = conversions[shard].record(conversionCount - 1) {
                position.conversionBytes = ConversionRecord.varOffset(last) + UInt64(ConversionRecord.varLength(last))
            }
            return position
        }
    }

    /// fdatasyncs everything up to `positions`; returns the first failure, after which writes are
    /// stopped (`syncFailed`: the pages that failed cannot be trusted again).
    func sync(_ positions: [ShardPosition], site: SyncSite) -> StoreError? {
        let fileSync = self.fileSync
        let sync: (Int32) -> Int32 = { fileSync.sync($0) }
        for (shard, p) in positions.enumerated() {
            var failure = clicks[shard].syncPublished(count: p.clicks, byteEnd: p.clickBytes, using: sync)
            if failure == nil {
                failure = conversions[shard].syncPublished(count: p.conversions, byteEnd: p.conversionBytes, using: sync)
            }
            let refused = refusals[shard].publishedCount
            if failure == nil, refused > 0, let last = refusals[shard].record(refused - 1) {
                let end = RefusalRecord.varOffset(last) + UInt64(RefusalRecord.varLength(last))
                failure = refusals[shard].syncPublished(count: refused, byteEnd: end, using: sync)
            }
            if let failure {
                syncFailed(site, reason: failure.description)
                return failure
            }
        }
        return nil
    }
}

extension Engine {
    /// Retires whole segments that no postback can need any more and that every feed has passed:
    /// clicks and refusals older than the longest attribution window plus `retention_grace`;
    /// conversions once also past every order-id window and the index's generation span (no key can
    /// still point into them; see `conversionCutoff`).
    func retireExpired(nowMillis: Int64) -> [String] {
        let cutoff = nowMillis - maxLifetimeMillis - config.storage.retentionGraceMillis
        let conversionCutoff = self.conversionCutoff(nowMillis: nowMillis)
        let floors = feeds.retentionFloors(shards: clicks.count)
        // Nothing past what the cap tally has counted (CapTally.swift) is retired.
        let capped = capTally.locked { (capTally.clickCursors, capTally.conversionCursors) }
        var notes: [String] = []
        for shard in 0..<clicks.count {
            let clickFloor = min(floors[.clicks, shard], shard < capped.0.count ? capped.0[shard] : 0)
            notes += Engine.retire(clicks[shard], before: cutoff, floor: clickFloor, time: ClickSlot.mintMillis) { record in
                ClickSlot.varOffset(record)
            }
            notes += Engine.retire(refusals[shard], before: cutoff, floor: floors[.refusals, shard], time: RefusalRecord.timeMillis) { record in
                RefusalRecord.varOffset(record)
            }
            let conversionFloor = min(floors[.conversions, shard], shard < capped.1.count ? capped.1[shard] : 0)
            notes += Engine.retire(conversions[shard], before: conversionCutoff, floor: conversionFloor,
                            time: ConversionRecord.timeMillis) { record in ConversionRecord.varOffset(record) }
        }
        return notes
    }

    /// Conversions recorded before this can go: every key of the conversion index that could point
    /// at one has expired (a key lives at most max(order-id window, click lifetime) after its
    /// conversion) and its generation has been unlinked (a generation takes new keys for
    /// `rotationMillis`, so its last key expires at most that much after its first); plus
    /// `retention_grace`.
    func conversionCutoff(nowMillis: Int64) -> Int64 {
        let keyLife = max(catalog.maxTxidWindowMillis, maxLifetimeMillis)
        return nowMillis - keyLife - Engine.indexPolicy(config.storage).rotationMillis - config.storage.retentionGraceMillis
    }

    /// Retires full segments of `table` from the oldest while their last record is older than `cutoff`
    /// and below `floor` (the feeds' minimum).
    static func retire(_ table: RecordTable, before cutoff: Int64, floor: UInt64, time: (UnsafeRawPointer) -> Int64,
                bytesOf: (UnsafeRawPointer) -> UInt64) -> [String] {
        var notes: [String] = []
        let perSegment = UInt64(table.recordsPerSegment)
        var segment = table.retiredCount / perSegment
        while true {
            let last = (segment + 1) * perSegment - 1
            guard last + 1 < table.publishedCount, last < floor, let record = table.record(last), time(record) < cutoff,
                  let next = table.record(last + 1) else { break }
            if let note = table.retire(segment: Int(segment), keepBytesFrom: bytesOf(next)) { notes.append(note) }
            segment += 1
        }
        return notes
    }
}

/// Runs `sync` and snapshots on its own thread until stopped.
final class Snapshotter: @unchecked Sendable {
    let engine: Engine
    let syncEveryMillis: Int64?
    let snapshotEveryMillis: Int64
    let thread = StoppableThread()
    var sequence: UInt64
    /// How far each shard's clicks are wiped of personal data (PersonalData.swift); snapshot thread only.
    var wipeCursors: [UInt64] = []
    /// Duration of the last snapshot, for operators and the benchmark.
    private(set) var lastSnapshotMillis: Int64 = 0

    init(engine: Engine) {
        self.engine = engine
        let storage = engine.config.storage
        syncEveryMillis = storage.fsync == .interval ? storage.fsyncIntervalMillis : nil
        snapshotEveryMillis = storage.snapshotIntervalMillis
        sequence = (Manifest.load(from: storage.dataDir).manifest?.sequence ?? 0) + 1
    }

    func start() { thread.start { [self] in run() } }

    /// Wakes the thread, which takes a final snapshot and exits; waits for it.
    func stop() { thread.stop() }

    func run() {
        // Below the loops, like the exporter: an fdatasync's write-back (page walking, bio building)
        // runs on the calling thread's CPU time, tens of ms for a second of clicks, and the snapshot's
        // cap tally hundreds of ms for ten seconds of them (best effort: a failure only costs priority).
        ThreadPriority.setCurrentThreadNice(BackgroundPriority.niceness)
        // And in the idle class while it keeps time: at nice 10 a loop that wakes while this thread
        // runs waits out the rest of its slice (up to a 4 ms tick, again and again through a snapshot),
        // in SCHED_IDLE the loop preempts it at once. See `keepTime` for the starvation guard.
        var governor = IdleGovernor(raiseAfterMillis: lateAfterMillis, idle: BackgroundPriority.enterIdle())
        engine.snapshotThreadIdle.store(governor.idle, ordering: .relaxed)
        var nextSync = WallClock.nowMillis() + (syncEveryMillis ?? Int64.max / 4)
        var nextSnapshot = WallClock.nowMillis() + snapshotEveryMillis
        while !thread.sleep(until: min(nextSync, nextSnapshot)) {
            let due = min(nextSync, nextSnapshot)
            let now = WallClock.nowMillis()
            if now >= nextSnapshot {
                snapshot()
                nextSnapshot = now + snapshotEveryMillis
                if let every = syncEveryMillis { nextSync = now + every }
            } else if now >= nextSync {
                _ = engine.sync(engine.positions(), site: .interval)  // a failure is logged and stops writes
                nextSync = now + (syncEveryMillis ?? Int64.max / 4)
            }
            if BackgroundPriority.idleIsReversible { keepTime(&governor, lateMillis: WallClock.nowMillis() - due) }
        }
        snapshot()
    }

    /// How late (ms) a sync or snapshot may finish, past the moment it was due, before the thread
    /// leaves the idle class: one sync interval (the loss window a machine crash may double), or
    /// with no interval sync one snapshot interval; a second at least.
    var lateAfterMillis: Int64 { max(syncEveryMillis ?? snapshotEveryMillis, 1000) }

    /// The starvation guard: in SCHED_IDLE the thread runs only on CPU time no loop wants, so on a
    /// saturated core its syncs would slip without bound. Past `lateAfterMillis` it runs at nice 10
    /// (a share of a busy core) until a turn finishes under half of that late again.
    func keepTime(_ governor: inout IdleGovernor, lateMillis: Int64) {
        switch governor.apply(lagMillis: lateMillis) {
        case .raise?:
            engine.snapshotThreadIdle.store(false, ordering: .relaxed)
            Log.warning("the snapshot thread finished a turn \(lateMillis) ms after it was due at idle priority: "
                        + "running at nice \(BackgroundPriority.niceness) until it keeps time (under \(lateAfterMillis / 2) ms late)")
        case .lower?:
            engine.snapshotThreadIdle.store(true, ordering: .relaxed)
        case nil:
            break
        }
    }

    /// fsyncs every shard up to its published position, then writes the manifest.
    func snapshot() {
        let started = WallClock.nowMillis()
        // After a failed sync a later one proves nothing: a manifest would vouch for pages that may be lost.
        guard !engine.writesStopped else { return }
        let positions = engine.positions()
        if engine.sync(positions, site: .snapshot) != nil {
            Log.error("snapshot skipped: a log file could not be synced (see the error above)")
            return
        }
        do {
            try Manifest(sequence: sequence, createdMillis: started, shards: positions).write(to: engine.config.storage.dataDir)
            sequence += 1
            engine.lastSnapshotMillis.store(started, ordering: .relaxed)
        } catch {
            Log.error("snapshot manifest: \(error)")
        }
        lastSnapshotMillis = WallClock.nowMillis() - started
        // Lifetime cap totals outlive the segments: count them durably before anything is retired.
        guard engine.snapshotCaps(positions) else { return }
        for note in engine.retireExpired(nowMillis: started) { Log.info(note) }
        for note in engine.wipePersonalData(nowMillis: started, cursors: &wipeCursors) { Log.info(note) }
    }
}
