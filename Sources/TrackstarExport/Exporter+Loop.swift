// An exporter thread's loop: connect (reading the committed positions of its shards), plan a batch
// when enough rows or old enough rows are waiting, write it, and on failure back off, reconnect and
// re-read the positions — the sink, not this process, is the record of what was exported.
import TrackstarCore
import TrackstarStore
import CTrackstarIOShims
#if canImport(Glibc)
import Glibc
#endif

extension Exporter {
    /// The loop's own state (exporter thread only).
    struct LoopState {
        let lane: ExportLane
        var connected = false
        var backoffMillis: Int64
        /// When the oldest waiting row was first seen.
        var pendingSince: Int64?
        var rotation = 0
        /// Set when stop was asked: the last moment to keep retrying a failing sink.
        var giveUpAt: Int64?
        /// While the lag is past `lagWarningMillis`: when it was first seen there, and the records written since start then.
        var behindSince: (millis: Int64, exported: UInt64)?
        var lastLagCheck: Int64 = 0
        /// The idle-class watchdog: SCHED_IDLE while the lag is small, nice 10 past `idleRaiseAfterMillis`.
        var governor: IdleGovernor
        var lastPriorityCheck: Int64 = 0
    }

    func run(_ lane: ExportLane) {
        // Below the loops: on a shared core the scheduler runs a click loop as soon as it is runnable
        // (best effort: a failure only costs priority).
        _ = ts_io_set_thread_nice(Exporter.niceness)
        // While it keeps up, the idle class: a waking loop preempts it at once (at nice 10 the loop
        // waits out the rest of its slice, milliseconds at HZ=250), see BackgroundPriority.swift.
        let idle = useIdlePriority && BackgroundPriority.enterIdle()
        if idle { locked { idleLanes += 1 } }
        var loop = LoopState(lane: lane, backoffMillis: minBackoffMillis,
                             governor: IdleGovernor(raiseAfterMillis: idleRaiseAfterMillis, idle: idle))
        while step(&loop) {
            if lane.index == 0 { watchLag(&loop) }  // the lag is the whole exporter's: one thread watches it
            if idle { watchPriority(&loop) }
        }
        if loop.governor.idle { locked { idleLanes -= 1 } }
        lane.sink.close()
    }

    /// The starvation guard: in SCHED_IDLE the thread runs only on otherwise idle CPU time, so when
    /// the lag passes `idleRaiseAfterMillis` it leaves the idle class (nice 10: a share of a busy core)
    /// until the lag is under half of that again. Checked at most every 100 ms.
    func watchPriority(_ loop: inout LoopState) {
        let now = WallClock.nowMillis()
        guard now - loop.lastPriorityCheck >= 100 else { return }
        loop.lastPriorityCheck = now
        let lag = lagAge(now: now).millis
        switch loop.governor.apply(lagMillis: lag) {
        case .raise?:
            locked { idleLanes -= 1 }
            log("exporter thread \(loop.lane.index) is \(lag) ms behind at idle priority: running at nice \(Exporter.niceness) "
                + "until it has caught up (lag under \(idleRaiseAfterMillis / 2) ms)")
        case .lower?:
            locked { idleLanes += 1 }
        case nil:
            break
        }
    }

    /// Logs once when the lag passes `lagWarningMillis`, and once when the exporter has caught up
    /// (lag under half the threshold), with how long that took; checked at most every second.
    func watchLag(_ loop: inout LoopState) {
        let now = WallClock.nowMillis()
        guard now - loop.lastLagCheck >= 1000 else { return }
        loop.lastLagCheck = now
        let lag = lagAge(now: now)
        let exported = status.exportedRecords
        if let since = loop.behindSince {
            guard lag.millis < lagWarningMillis / 2 else { return }
            log("caught up: the lag is \(lag.millis) ms after \((now - since.millis) / 1000) s behind; "
                + "\(exported - since.exported) records exported meanwhile")
            loop.behindSince = nil
        } else if lag.millis > lagWarningMillis {
            log("warning: the reporting store is \(lag.millis / 1000) s behind (\(lag.records) records not yet exported, "
                + "lag_warning = \(lagWarningMillis / 1000) s); reports miss them until it catches up. Is \(sink.label) slow or down, "
                + "or the node busier than \(lanes.count) exporter thread(s) can follow ([export] exporters)?")
            loop.behindSince = (now, exported)
        }
    }

    /// One turn of the loop; false when the thread should end.
    func step(_ loop: inout LoopState) -> Bool {
        let now = WallClock.nowMillis()
        let lane = loop.lane
        if lane.thread.isStopping && loop.giveUpAt == nil { loop.giveUpAt = now + stopDeadlineMillis }
        if !loop.connected {
            loop.connected = connect(lane)
            if !loop.connected { return retryLater(&loop, now: now) }
        }
        let committed = committedPositions()
        let published = publishedCounts(for: lane, committed: committed)
        let pending = BatchPlanner.pending(committed: committed, published: published)
        if pending == 0 {
            loop.pendingSince = nil
            if loop.giveUpAt != nil { return false }
            _ = pause(lane, pollMillis)  // a stop request is seen on the next turn, which writes what is left
            return true
        }
        let since = loop.pendingSince ?? now
        loop.pendingSince = since
        let due = loop.giveUpAt != nil || pending >= UInt64(batchRows) || now - since >= batchAgeMillis
        guard due else { _ = pause(lane, min(pollMillis, batchAgeMillis - (now - since))); return true }
        if write(lane, committed: committed, published: published, rotation: loop.rotation) {
            loop.rotation += 1
            loop.backoffMillis = minBackoffMillis
            loop.pendingSince = pending > UInt64(batchRows) ? WallClock.nowMillis() : nil
            // Catching up goes in slices of at most batch_rows, giving the core back between them.
            if pending > UInt64(batchRows) { sched_yield() }
            return true
        }
        loop.connected = false
        return retryLater(&loop, now: now)
    }

    /// Sleeps up to `millis` or until the lane is asked to stop; returns whether stopping.
    func pause(_ lane: ExportLane, _ millis: Int64) -> Bool { lane.thread.sleep(until: WallClock.nowMillis() + millis) }

    /// How often published counts are looked at while rows wait for their batch to age.
    var pollMillis: Int64 { max(5, min(100, batchAgeMillis / 4)) }

    /// Sleeps the backoff (doubling it); false once a stopping exporter has tried long enough.
    func retryLater(_ loop: inout LoopState, now: Int64) -> Bool {
        if let giveUpAt = loop.giveUpAt {
            guard now < giveUpAt else {
                let committed = committedPositions()
                let waiting = BatchPlanner.pending(committed: committed, published: publishedCounts(for: loop.lane, committed: committed))
                log("stopping with \(waiting) records not exported; they stay in the logs and are exported at the next start")
                return false
            }
            var ts = timespec(tv_sec: 0, tv_nsec: Int(min(loop.backoffMillis, giveUpAt - now)) * 1_000_000)
            nanosleep(&ts, nil)
        } else {
            _ = pause(loop.lane, loop.backoffMillis)
        }
        loop.backoffMillis = min(loop.backoffMillis * 2, maxBackoffMillis)
        return true
    }

    /// Opens the lane's sink and adopts its positions for the lane's shards; false (logged) on failure.
    /// A log shorter than the committed position (recovery cut records after a machine crash), or
    /// shorter than where rows may have been written ahead of their positions, has those rows retracted.
    func connect(_ lane: ExportLane) -> Bool {
        let sink = lane.sink
        let found: [ExportPosition]
        do { found = try sink.open() } catch {
            failed(lane, "cannot open \(sink.label): \(error)")
            return false
        }
        var positions = found.normalized(shards: source.shardCount)
        let written = sink.writtenPositions().normalized(shards: source.shardCount)
        var cut: [ExportPosition] = []
        for shard in lane.shards {
            var shortened = false
            for kind in LogKind.allCases {
                let published = source.published(kind, shard: shard)
                if positions[shard][kind].records > published {
                    log("\(sink.label) holds shard \(shard) \(kind.name) up to record \(positions[shard][kind].records), "
                        + "but the log has only \(published) (it was cut after a machine crash?); removing the rows past it "
                        + "and re-exporting from \(published)")
                    positions[shard][kind] = LogPosition(records: published, bytes: min(positions[shard][kind].bytes, byteEnd(kind, shard, published)))
                    shortened = true
                } else if written[shard][kind].records > published {
                    log("\(sink.label) may hold rows of shard \(shard) \(kind.name) up to record \(written[shard][kind].records) "
                        + "(sent, their position not committed), but the log has only \(published) (it was cut after a machine crash?); "
                        + "removing the rows past the committed \(positions[shard][kind].records) and re-exporting from there")
                    shortened = true
                }
            }
            if shortened { cut.append(positions[shard]) }
        }
        if !cut.isEmpty {
            do { try sink.retract(to: cut) } catch {
                sink.close()
                failed(lane, "cannot remove the rows of records the logs no longer hold from \(sink.label): \(error)")
                return false
            }
        }
        let wasFailing = locked { () -> Bool in
            for shard in lane.shards { committed[shard] = positions[shard] }
            laneConnected[lane.index] = true
            return laneFailures[lane.index] > 0
        }
        if wasFailing { log("connected to \(sink.label) again; catching up") }
        return true
    }

    /// The arena byte end of the last available record before `records` (0 when none).
    func byteEnd(_ kind: LogKind, _ shard: Int, _ records: UInt64) -> UInt64 {
        var sequence = records
        while sequence > 0 {
            sequence -= 1
            if let end = source.byteEnd(kind, shard: shard, sequence: sequence) { return end }
        }
        return 0
    }

    /// Plans, writes and commits one batch of the lane's shards; false (logged, sink closed) on failure.
    func write(_ lane: ExportLane, committed: [ExportPosition], published: [[UInt64]], rotation: Int) -> Bool {
        let sink = lane.sink
        let spans = BatchPlanner.spans(committed: committed, published: published, limit: batchRows, rotation: rotation)
        let positions = BatchPlanner.positions(after: spans, from: committed) { kind, shard, sequence in
            source.byteEnd(kind, shard: shard, sequence: sequence)
        }
        let batch = ExportBatch(spans: spans, positions: positions)
        do { try sink.write(batch, from: source) } catch {
            sink.close()
            failed(lane, "writing \(batch.records) records to \(sink.label) failed: \(error)")
            return false
        }
        let wasFailing = locked { () -> Bool in
            for position in positions { self.committed[position.shard] = position }
            state.exportedRecords += UInt64(batch.records)
            state.batches += 1
            defer {
                laneFailures[lane.index] = 0
                if laneFailures.allSatisfy({ $0 == 0 }) { state.lastError = nil }
            }
            return laneFailures[lane.index] > 0
        }
        if wasFailing { log("export to \(sink.label) resumed") }
        return true
    }

    /// Records a lane's failure and logs it with the retry delay.
    func failed(_ lane: ExportLane, _ message: String) {
        let failures = locked { () -> Int in
            laneConnected[lane.index] = false
            state.lastError = message
            laneFailures[lane.index] += 1
            return laneFailures[lane.index]
        }
        log("\(message); retrying with backoff (failure \(failures), records wait in the logs)")
    }

    /// Published counts, [shard][kind], as `lane` sees them: the shards of other lanes look caught up
    /// (their committed records), so the planner gives the lane only spans of its own shards.
    func publishedCounts(for lane: ExportLane, committed: [ExportPosition]) -> [[UInt64]] {
        var counts = committed.map { position in LogKind.allCases.map { position[$0].records } }
        for shard in lane.shards { counts[shard] = LogKind.allCases.map { source.published($0, shard: shard) } }
        return counts
    }
}
