// Unit tests of the exporter's batching and committed positions, against an in-memory sink: every
// record arrives once, batches close by size or by age, failures back off and resume, and a restart
// continues from the sink's positions.
import Testing
import TrackstarCore
import TrackstarStore
@testable import TrackstarExport
import TrackstarTestSupport

@Suite struct BatchPlannerTests {
    func positions(_ shards: Int) -> [ExportPosition] { (0..<shards).map { ExportPosition(shard: $0) } }

    @Test func takesEverythingUnderTheLimitInShardAndLogOrder() {
        let spans = BatchPlanner.spans(committed: positions(2), published: [[3, 1, 0], [0, 0, 2]], limit: 100)
        #expect(spans == [LogSpan(shard: 0, kind: .clicks, range: 0..<3), LogSpan(shard: 0, kind: .conversions, range: 0..<1),
                          LogSpan(shard: 1, kind: .refusals, range: 0..<2)])
    }

    @Test func capsAtTheLimitAndRotatesSoNoLogStarves() {
        var committed = positions(2)
        committed[0].clicks.records = 10
        let published: [[UInt64]] = [[100, 0, 0], [50, 0, 0]]
        let first = BatchPlanner.spans(committed: committed, published: published, limit: 20, rotation: 0)
        #expect(first == [LogSpan(shard: 0, kind: .clicks, range: 10..<30)])
        let rotated = BatchPlanner.spans(committed: committed, published: published, limit: 20, rotation: 3)
        #expect(rotated == [LogSpan(shard: 1, kind: .clicks, range: 0..<20)])
        #expect(BatchPlanner.pending(committed: committed, published: published) == 140)
    }

    @Test func positionsCarryTheByteEndOfTheLastAvailableRecord() {
        let spans = [LogSpan(shard: 1, kind: .clicks, range: 4..<8)]
        let after = BatchPlanner.positions(after: spans, from: positions(2)) { _, _, sequence in
            sequence == 7 ? nil : (sequence + 1) * 100  // record 7 is unavailable (quarantined)
        }
        #expect(after.count == 1)
        #expect(after[0].shard == 1)
        #expect(after[0].clicks == LogPosition(records: 8, bytes: 700))
    }
}

@Suite struct ExporterTests {
    /// Two shards with clicks, conversions and refusals.
    func filledLogs(clicks: Int = 25) -> TestLogs {
        let logs = TestLogs(shards: 2)
        for i in 0..<clicks {
            let ref = logs.click(shard: i % 2)
            if i % 3 == 0 { logs.conversion(shard: (i + 1) % 2, clickRef: ref) }
            if i % 5 == 0 { logs.refusal(shard: i % 2) }
        }
        return logs
    }

    func expectAllExported(_ exporter: Exporter, _ sink: MemorySink, _ logs: TestLogs, sourceLocation: SourceLocation = #_sourceLocation) {
        let total = (0..<2).reduce(0) { $0 + Int(logs.clicks[$1].publishedCount + logs.conversions[$1].publishedCount + logs.refusals[$1].publishedCount) }
        #expect(eventually(within: 20) { sink.rowCount == total && exporter.lag().allSatisfy { $0.total == 0 } },
                "\(sink.rowCount) of \(total) rows, lag \(exporter.lag())", sourceLocation: sourceLocation)
        #expect(sink.duplicates == 0, sourceLocation: sourceLocation)
        for shard in 0..<2 {
            let committed = exporter.committedPositions()[shard]
            #expect(committed.clicks.records == logs.clicks[shard].publishedCount, sourceLocation: sourceLocation)
            #expect(committed.conversions.records == logs.conversions[shard].publishedCount, sourceLocation: sourceLocation)
            #expect(committed.refusals.records == logs.refusals[shard].publishedCount, sourceLocation: sourceLocation)
        }
    }

    @Test func exportsEveryRecordOnceInBatchesOfAtMostBatchRows() {
        let logs = filledLogs()
        let sink = MemorySink()
        let exporter = Exporter(sink: sink, source: logs.source(), batchRows: 7, batchAgeMillis: 20)
        exporter.start()
        expectAllExported(exporter, sink, logs)
        exporter.stop()
        #expect(sink.sizes.allSatisfy { $0 <= 7 && $0 > 0 }, "\(sink.sizes)")
        #expect(sink.storedPositions.sorted { $0.shard < $1.shard } == exporter.committedPositions())
        let clicks0 = exporter.committedPositions()[0].clicks
        let last = logs.clicks[0].record(clicks0.records - 1)!
        #expect(clicks0.bytes == ClickSlot.varOffset(last) + UInt64(ClickSlot.varLength(last)))
    }

    /// The batch goes when its first row is `batch_age` old, not before: the lower bound on the
    /// time cannot be flaky (a loaded machine only makes the write later), and an exporter that
    /// ignored `batch_age` would write the rows at once and fail it.
    @Test func aPartialBatchWaitsForItsAgeThenGoes() {
        let logs = TestLogs(shards: 1)
        let sink = MemorySink()
        let exporter = Exporter(sink: sink, source: logs.source(), batchRows: 1000, batchAgeMillis: 2000)
        exporter.start()
        defer { exporter.stop() }
        #expect(eventually(within: 20) { sink.opens == 1 })
        for _ in 0..<3 { logs.click(shard: 0, publish: false) }
        let published = WallClock.nowMillis()
        logs.clicks[0].publish(count: 3)  // all three become visible at once
        #expect(eventually(within: 60) { sink.rowCount == 3 })
        #expect(sink.sizes == [3], "three rows are one batch closed by age, not three: \(sink.sizes)")
        let waited = (sink.times.first ?? 0) - published
        #expect(waited >= 1900, "the batch went \(waited) ms after its rows were published, before batch_age (2000 ms)")
    }

    @Test func stopWritesWhatIsLeftAtOnce() {
        let logs = TestLogs(shards: 1)
        let sink = MemorySink()
        let exporter = Exporter(sink: sink, source: logs.source(), batchRows: 1000, batchAgeMillis: 3_600_000)
        exporter.start()
        #expect(eventually(within: 20) { sink.opens == 1 })
        for _ in 0..<5 { logs.click(shard: 0) }
        exporter.stop()
        #expect(sink.rowCount == 5)
    }

    @Test func sinkDownBacksOffAndCatchesUpWhenItReturns() {
        let logs = filledLogs()
        let sink = MemorySink()
        sink.setFailing(true)
        let exporter = Exporter(sink: sink, source: logs.source(), batchRows: 10, batchAgeMillis: 10)
        exporter.minBackoffMillis = 5
        exporter.maxBackoffMillis = 40
        exporter.start()
        #expect(eventually(within: 20) { exporter.status.consecutiveFailures >= 3 })
        #expect(exporter.status.lastError?.contains("down") == true)
        #expect(!exporter.status.connected)
        #expect(exporter.lag().reduce(0) { $0 + $1.total } > 0)
        #expect(exporter.committedPositions().allSatisfy { $0 == ExportPosition(shard: $0.shard) }, "nothing committed while down")
        for i in 0..<10 { logs.click(shard: i % 2) }  // the logs keep growing meanwhile
        sink.setFailing(false)
        expectAllExported(exporter, sink, logs)
        #expect(exporter.status.lastError == nil)
        #expect(exporter.status.connected)
        exporter.stop()
    }

    @Test func rowsStoredWithoutTheirPositionsAreNotDoubledByAnIdempotentSink() {
        let logs = filledLogs()
        let sink = MemorySink()
        sink.setFailing(true, afterRows: true)
        let exporter = Exporter(sink: sink, source: logs.source(), batchRows: 8, batchAgeMillis: 10)
        exporter.minBackoffMillis = 5
        exporter.start()
        #expect(eventually(within: 20) { exporter.status.consecutiveFailures >= 2 })
        sink.setFailing(false, afterRows: true)
        expectAllExported(exporter, sink, logs)
        exporter.stop()
    }

    @Test func metricsShowLagAndHealth() {
        let logs = filledLogs()
        let sink = MemorySink()
        sink.setFailing(true)
        let exporter = Exporter(sink: sink, source: logs.source(), batchRows: 10, batchAgeMillis: 10)
        exporter.minBackoffMillis = 5
        exporter.start()
        #expect(eventually(within: 20) { exporter.status.consecutiveFailures >= 1 })
        let text = exporter.metricsText()
        #expect(text.contains("trackstar_export_lag_records{shard=\"0\",log=\"clicks\"} 13\n"), "\(text)")
        #expect(text.contains("trackstar_export_connected 0\n"), "\(text)")
        sink.setFailing(false)
        #expect(eventually(within: 20) { exporter.metricsText().contains("trackstar_export_records_total 39\n") }, "\(exporter.metricsText())")
        exporter.stop()
    }

    /// Records waiting longer than `lagWarningMillis` (the store is down) are warned about once, the
    /// lag's age is on /metrics, and the catch-up is said when the store returns.
    @Test func aLagPastTheThresholdIsWarnedAndTheCatchUpSaid() {
        let logs = TestLogs(shards: 2)
        for i in 0..<6 { logs.click(shard: i % 2, time: WallClock.nowMillis() - 5_000) }
        let sink = MemorySink()
        sink.setFailing(true)
        let messages = Messages()
        let exporter = Exporter(sink: sink, source: logs.source(), batchRows: 10, batchAgeMillis: 10, lagWarningMillis: 2_000,
                                log: { messages.add($0) })
        exporter.minBackoffMillis = 5
        exporter.maxBackoffMillis = 40
        exporter.start()
        #expect(eventually(within: 20) { messages.all.contains { $0.hasPrefix("warning: the reporting store is") } }, "\(messages.all)")
        #expect(messages.all.contains { $0.contains("(6 records not yet exported, lag_warning = 2 s)") }, "\(messages.all)")
        let lag = exporter.lagAge()
        #expect(lag.records == 6 && lag.millis >= 5_000, "\(lag)")
        let line = exporter.metricsText().split(separator: "\n").first { $0.hasPrefix("trackstar_export_lag_seconds ") }
        #expect(line.flatMap { Double($0.dropFirst("trackstar_export_lag_seconds ".count)) }.map { $0 >= 5 } == true, "\(String(describing: line))")
        sink.setFailing(false)
        #expect(eventually(within: 20) { messages.all.contains { $0.hasPrefix("caught up:") } }, "\(messages.all)")
        #expect(messages.all.contains { $0.contains("6 records exported meanwhile") }, "\(messages.all)")
        #expect(exporter.metricsText().contains("trackstar_export_lag_seconds 0.0\n"), "\(exporter.metricsText())")
        #expect(messages.all.filter { $0.hasPrefix("warning:") }.count == 1, "warned once: \(messages.all)")
        exporter.stop()
    }

    /// The watchdog leaves the idle class past its threshold and returns under half of it, with no
    /// flapping in between.
    @Test func theIdleGovernorRaisesPastItsLagAndLowersUnderHalf() {
        var governor = IdleGovernor(raiseAfterMillis: 2_000, idle: true)
        #expect(governor.update(lagMillis: 1_500) == nil && governor.idle)
        #expect(governor.update(lagMillis: 2_001) == .raise && !governor.idle)
        #expect(governor.update(lagMillis: 1_500) == nil && !governor.idle, "stays raised until under half")
        #expect(governor.update(lagMillis: 999) == .lower && governor.idle)
        var refused = IdleGovernor(raiseAfterMillis: 2_000, idle: false)
        #expect(refused.update(lagMillis: 10_000) == nil, "a thread that never entered the idle class is never raised")
    }

    /// Where the idle class can be left again (root or CAP_SYS_NICE, as on the test machines), the
    /// exporter runs in SCHED_IDLE while it keeps up, leaves it (nice 10) once the store is down long
    /// enough for the lag to pass the threshold, and returns when it has caught up. Every record is
    /// exported once all the same.
    @Test func theExporterRunsIdleWhileItKeepsUpAndIsRaisedWhenBehind() {
        guard BackgroundPriority.idleIsReversible else { return }  // an unprivileged run: nice 10 throughout
        let logs = filledLogs(clicks: 10)
        let sink = MemorySink()
        let messages = Messages()
        let exporter = Exporter(sink: sink, source: logs.source(), batchRows: 10, batchAgeMillis: 10, log: { messages.add($0) })
        exporter.idleRaiseAfterMillis = 300
        exporter.minBackoffMillis = 5
        exporter.maxBackoffMillis = 20
        exporter.start()
        #expect(eventually(within: 20) { exporter.idleThreadCount == 1 && exporter.lagAge().records == 0 })
        #expect(exporter.metricsText().contains("trackstar_export_idle_threads 1\n"), "\(exporter.metricsText())")
        sink.setFailing(true)
        for i in 0..<6 { logs.click(shard: i % 2, time: WallClock.nowMillis() - 1_000) }
        #expect(eventually(within: 20) { exporter.idleThreadCount == 0 }, "raised once the lag passed 300 ms")
        #expect(messages.all.contains { $0.contains("behind at idle priority: running at nice 10") }, "\(messages.all)")
        sink.setFailing(false)
        #expect(eventually(within: 20) { exporter.idleThreadCount == 1 && exporter.lagAge().records == 0 }, "idle again once caught up")
        exporter.stop()
        expectAllExported(exporter, sink, logs)
    }

    @Test func aRestartResumesFromTheSinksPositions() {
        let logs = filledLogs()
        let sink = MemorySink()
        let first = Exporter(sink: sink, source: logs.source(), batchRows: 6, batchAgeMillis: 10)
        first.start()
        expectAllExported(first, sink, logs)
        first.stop()
        for i in 0..<9 { logs.click(shard: i % 2) }
        logs.refusal(shard: 1)
        let second = Exporter(sink: sink, source: logs.source(), batchRows: 6, batchAgeMillis: 10)
        second.start()
        expectAllExported(second, sink, logs)
        second.stop()
    }

    @Test func aSinkAheadOfTheLogIsClampedToTheLog() {
        let logs = TestLogs(shards: 1)
        for _ in 0..<3 { logs.click(shard: 0) }
        let sink = MemorySink()
        var ahead = ExportPosition(shard: 0)
        ahead.clicks.records = 10
        let primer = ExportBatch(spans: [], positions: [ahead])
        try? sink.write(primer, from: logs.source())
        let messages = Messages()
        let exporter = Exporter(sink: sink, source: logs.source(), batchRows: 5, batchAgeMillis: 10, log: { messages.add($0) })
        exporter.start()
        #expect(eventually(within: 20) { exporter.status.connected })
        #expect(exporter.committedPositions()[0].clicks.records == 3)
        logs.click(shard: 0)
        #expect(eventually(within: 20) { exporter.committedPositions()[0].clicks.records == 4 })
        exporter.stop()
        #expect(messages.all.contains { $0.contains("up to record 10, but the log has only 3") }, "\(messages.all)")
        #expect(sink.retractionCount == 1, "the rows past the log are retracted once, before anything is written")
    }
}

@Suite struct SeveralExportersTests {
    /// Four shards of clicks, conversions (some across shards) and refusals.
    func filledLogs(_ logs: TestLogs, clicks: Int, from start: Int = 0) {
        for i in start..<(start + clicks) {
            let ref = logs.click(shard: i % 4)
            if i % 3 == 0 { logs.conversion(shard: (i + 1) % 4, clickRef: ref) }
            if i % 5 == 0 { logs.refusal(shard: i % 4) }
        }
    }

    func expectAllExportedOnce(_ exporter: Exporter, _ sink: MemorySink, _ logs: TestLogs, sourceLocation: SourceLocation = #_sourceLocation) {
        let total = (0..<4).reduce(0) { $0 + Int(logs.clicks[$1].publishedCount + logs.conversions[$1].publishedCount + logs.refusals[$1].publishedCount) }
        #expect(eventually(within: 30) { sink.rowCount == total && exporter.lag().allSatisfy { $0.total == 0 } },
                "\(sink.rowCount) of \(total) rows, lag \(exporter.lag())", sourceLocation: sourceLocation)
        #expect(sink.duplicates == 0, sourceLocation: sourceLocation)
        for shard in 0..<4 {
            let stored = sink.storedPositions.first { $0.shard == shard }
            #expect(stored?.clicks.records == logs.clicks[shard].publishedCount, sourceLocation: sourceLocation)
            #expect(stored?.conversions.records == logs.conversions[shard].publishedCount, sourceLocation: sourceLocation)
            #expect(stored?.refusals.records == logs.refusals[shard].publishedCount, sourceLocation: sourceLocation)
        }
    }

    /// Two threads over four shards (each its own two), writing to one store that counts every
    /// second write of a row: every record once, through a store outage and across a restart with three.
    @Test func everyRecordIsExportedOnceByTwoThreadsAndAfterARestart() {
        let logs = TestLogs(shards: 4)
        filledLogs(logs, clicks: 60)
        let sink = MemorySink()
        let messages = Messages()
        let first = Exporter(sinks: [sink, sink], source: logs.source(), batchRows: 7, batchAgeMillis: 10, log: { messages.add($0) })
        #expect(first.threadCount == 2)
        #expect(first.lanes.map(\.shards) == [[0, 2], [1, 3]])
        first.minBackoffMillis = 5
        sink.setFailing(true)  // down: both threads back off and retry
        first.start()
        #expect(eventually(within: 20) { first.status.consecutiveFailures >= 2 })
        sink.setFailing(false)
        filledLogs(logs, clicks: 30, from: 60)  // the logs grow meanwhile
        expectAllExportedOnce(first, sink, logs)
        #expect(first.status.connected && first.status.lastError == nil)
        first.stop()
        #expect(messages.all.contains("2 exporter threads, each writing its own shards (shard % 2)"), "\(messages.all)")

        filledLogs(logs, clicks: 40, from: 90)
        let second = Exporter(sinks: [sink, sink, sink], source: logs.source(), batchRows: 5, batchAgeMillis: 10)
        #expect(second.lanes.map(\.shards) == [[0, 3], [1], [2]])
        second.start()
        expectAllExportedOnce(second, sink, logs)
        second.stop()
    }

    /// More sinks than shards: one thread per shard, the rest unused.
    @Test func neverMoreThreadsThanShards() {
        let logs = TestLogs(shards: 2)
        let exporter = Exporter(sinks: [MemorySink(), MemorySink(), MemorySink()], source: logs.source())
        #expect(exporter.threadCount == 2)
    }

    /// Rows written ahead of their positions (a crash between the two) and then a log cut below
    /// them but above the committed position: the exporter retracts to the committed position, so
    /// those rows do not outlive their records, and exports the rest again once.
    @Test func rowsWrittenAheadOfTheirPositionsAreRetractedWhenTheLogIsCutBelowThem() throws {
        let before = TestLogs(shards: 1)
        for _ in 0..<5 { before.click(shard: 0) }
        let sink = MemorySink()
        var committed = ExportPosition(shard: 0)
        committed.clicks.records = 1
        try sink.write(ExportBatch(spans: [LogSpan(shard: 0, kind: .clicks, range: 0..<5)], positions: [committed]), from: before.source())
        var written = ExportPosition(shard: 0)
        written.clicks.records = 5
        sink.setWritten([written])
        #expect(sink.rowCount == 5)

        let recovered = TestLogs(shards: 1)  // the last two clicks never reached the disk
        for _ in 0..<3 { recovered.click(shard: 0, subs: ["new", "", "", "", "", "", "", ""]) }
        let messages = Messages()
        let exporter = Exporter(sink: sink, source: recovered.source(), batchRows: 10, batchAgeMillis: 10, log: { messages.add($0) })
        exporter.start()
        #expect(eventually(within: 20) { exporter.committedPositions()[0].clicks.records == 3 && sink.rowCount == 3 })
        exporter.stop()
        #expect(sink.retractionCount == 1)
        #expect(sink.rowCount == 3 && sink.duplicates == 0, "rows of records 3 and 4 stayed, or 1 and 2 were doubled")
        #expect(messages.all.contains { $0.contains("may hold rows of shard 0 clicks up to record 5") && $0.contains("committed 1") }, "\(messages.all)")
        // A restart over the same logs finds nothing to retract.
        let again = Exporter(sink: sink, source: recovered.source(), batchRows: 10, batchAgeMillis: 10)
        again.start()
        #expect(eventually(within: 20) { again.status.connected })
        again.stop()
        #expect(sink.retractionCount == 1 && sink.rowCount == 3)
    }
}

/// Collected log lines.
final class Messages: @unchecked Sendable {
    private var lines: [String] = []
    private let sink = MemorySink()  // borrows its mutex helper
    func add(_ line: String) { sink.locked { lines.append(line) } }
    var all: [String] { sink.locked { lines } }
}
