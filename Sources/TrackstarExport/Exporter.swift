// The exporter: threads off the click loops (one, or one per group of shards where the store takes
// several writers) that tail the shards' logs from the sink's committed positions, close batches by
// size or age, write them, and retry with backoff while the sink is down. Loops are never signalled
// or locked: the exporter polls their published counts.
import CTrackstarShims
import TrackstarCore
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

/// What the exporter is doing, for `inspect`, logs and tests.
public struct ExporterStatus: Sendable, Equatable {
    /// True once the sink was opened and its positions read.
    public var connected = false
    /// The last failure, until a write succeeds again.
    public var lastError: String?
    /// Failed attempts since the last success.
    public var consecutiveFailures = 0
    /// Rows and batches written since start.
    public var exportedRecords: UInt64 = 0
    public var batches: UInt64 = 0
}

/// One exporter thread: its own sink (connection) and the shards it writes, `shard % lanes == index`.
final class ExportLane: @unchecked Sendable {  // the sink is used by this lane's thread only
    let index: Int
    let sink: ExportSink
    let shards: [Int]
    let thread = StoppableThread()
    init(index: Int, sink: ExportSink, shards: [Int]) { self.index = index; self.sink = sink; self.shards = shards }
}

/// Runs the reporting feed on its own threads. Create it, `start()` it after recovery, `stop()` it
/// after the loops have stopped (it writes what is left, then returns).
public final class Exporter: @unchecked Sendable {  // shared state is behind `mutex`
    /// The first exporter thread's sink (each thread has its own).
    public var sink: ExportSink { lanes[0].sink }
    public let source: ExportSource
    public let batchRows: Int
    public let batchAgeMillis: Int64
    /// The lag (age of the oldest record not yet exported) past which a warning is logged.
    public let lagWarningMillis: Int64
    /// The exporter threads' nice value: they yield the core to the click loops whenever they are runnable.
    public static let niceness: Int32 = 10
    let log: @Sendable (String) -> Void
    /// Whether the threads run in SCHED_IDLE while they keep up (where they can leave it again).
    var useIdlePriority = true
    /// The lag past which a thread leaves SCHED_IDLE for nice 10 (back under half of it): five batch
    /// ages, at least 2 s, at most half of `lag_warning`.
    var idleRaiseAfterMillis: Int64
    /// Backoff bounds after a failure (doubling between them).
    var minBackoffMillis: Int64 = 100
    var maxBackoffMillis: Int64 = 5000
    /// How long `stop()` keeps trying to write what is left when the sink fails.
    var stopDeadlineMillis: Int64 = 5000

    var mutex = pthread_mutex_t()
    /// The threads, each over its own shards.
    let lanes: [ExportLane]
    /// Guarded by `mutex`: what the sink holds (every shard; each lane writes only its own), the
    /// status, and each lane's connection and failures.
    var committed: [ExportPosition]
    var state = ExporterStatus()
    var laneConnected: [Bool]
    var laneFailures: [Int]
    /// Guarded by `mutex`: threads now in SCHED_IDLE.
    var idleLanes = 0

    /// An exporter over `source` writing to `sink` from one thread.
    public convenience init(sink: ExportSink, source: ExportSource, batchRows: Int = 10_000, batchAgeMillis: Int64 = 1000,
                            lagWarningMillis: Int64 = 30_000, log: @escaping @Sendable (String) -> Void = Exporter.standardError) {
        self.init(sinks: [sink], source: source, batchRows: batchRows, batchAgeMillis: batchAgeMillis,
                  lagWarningMillis: lagWarningMillis, log: log)
    }

    /// An exporter over `source` with one thread per sink (at most one per shard), thread i writing
    /// the shards s with s % threads == i through `sinks[i]`. Only a store that takes several
    /// writers at once (ClickHouse) should get more than one sink.
    public init(sinks: [ExportSink], source: ExportSource, batchRows: Int = 10_000, batchAgeMillis: Int64 = 1000,
                lagWarningMillis: Int64 = 30_000, log: @escaping @Sendable (String) -> Void = Exporter.standardError) {
        precondition(!sinks.isEmpty && batchRows > 0 && batchAgeMillis > 0 && lagWarningMillis > 0)
        let count = max(1, min(sinks.count, source.shardCount))
        lanes = (0..<count).map { index in
            ExportLane(index: index, sink: sinks[index], shards: Array(stride(from: index, to: source.shardCount, by: count)))
        }
        self.source = source
        self.batchRows = batchRows
        self.batchAgeMillis = batchAgeMillis
        self.lagWarningMillis = lagWarningMillis
        idleRaiseAfterMillis = min(lagWarningMillis / 2, max(2_000, 5 * batchAgeMillis))
        self.log = log
        committed = (0..<source.shardCount).map { ExportPosition(shard: $0) }
        laneConnected = Array(repeating: false, count: count)
        laneFailures = Array(repeating: 0, count: count)
        pthread_mutex_init(&mutex, nil)
    }

    /// The exporter `[export]` asks for over a data dir's tables, or nil when `sink = "none"`.
    /// - Parameters:
    ///   - clickIDText: the click ID text of (shard, sequence, mint time in ms).
    ///   - eventName: the name of an offer's event id (0 is "conversion").
    ///   - offerCurrency: an offer's configured currency, for records older than their payout currency.
    public convenience init?(config: ExportConfig, dataDir: String, clicks: [RecordTable], conversions: [RecordTable],
                             refusals: [RecordTable],
                             clickIDText: @escaping @Sendable (_ shard: Int, _ sequence: UInt64, _ mintMillis: Int64) -> String,
                             eventName: @escaping @Sendable (_ offerID: UInt32, _ eventIndex: Int) -> String,
                             offerCurrency: @escaping @Sendable (_ offerID: UInt32) -> UInt32 = { _ in 0 },
                             clickIDWriter: (@Sendable (Int, UInt64, Int64, UnsafeMutablePointer<UInt8>) -> Void)? = nil,
                             log: @escaping @Sendable (String) -> Void = Exporter.standardError) throws(ExportError) {
        let source = ExportSource(clicks: clicks, conversions: conversions, refusals: refusals,
                                  clickIDText: clickIDText, eventName: eventName, offerCurrency: offerCurrency,
                                  clickIDWriter: clickIDWriter)
        var sinks: [ExportSink] = []
        for _ in 0..<config.exporterCount(shards: source.shardCount) {
            guard let sink = try Exporter.makeSink(config: config, dataDir: dataDir) else { return nil }
            sinks.append(sink)
        }
        self.init(sinks: sinks, source: source, batchRows: config.batchRows, batchAgeMillis: config.batchAgeMillis,
                  lagWarningMillis: config.lagWarningMillis, log: log)
    }

    /// The sink `[export]` names (nil for "none").
    public static func makeSink(config: ExportConfig, dataDir: String) throws(ExportError) -> ExportSink? {
        switch config.sink {
        case .none: return nil
        case .sqlite: return SQLiteSink(path: SQLiteSink.path(dataDir: dataDir))
        case .clickhouse: return try ClickHouseSink(config: config)
        }
    }

    deinit {
        pthread_mutex_destroy(&mutex)
    }

    /// Writes a line to standard error, prefixed "trackstar export:".
    public static func standardError(_ message: String) {
        let line = "trackstar export: \(message)\n"
        _ = line.utf8CString.withUnsafeBufferPointer { Glibc.write(2, $0.baseAddress, $0.count - 1) }
    }

    // MARK: Observers (any thread)

    /// The positions the sink has committed, per shard; zero until the sink was first opened.
    /// Retention must keep every segment holding a record at or past these.
    public func committedPositions() -> [ExportPosition] { locked { committed } }

    /// Records published but not yet exported, per shard and log.
    public func lag() -> [ExportLag] {
        let positions = committedPositions()
        return positions.map { position in
            var lag = ExportLag(shard: position.shard)
            func behind(_ kind: LogKind) -> UInt64 {
                let published = source.published(kind, shard: position.shard)
                return published > position[kind].records ? published - position[kind].records : 0
            }
            lag.clicks = behind(.clicks)
            lag.conversions = behind(.conversions)
            lag.refusals = behind(.refusals)
            return lag
        }
    }

    /// How long the oldest record not yet exported has waited, in ms (0 when nothing waits), and
    /// how many records wait in all.
    public func lagAge(now: Int64 = WallClock.nowMillis()) -> (millis: Int64, records: UInt64) {
        var oldest: Int64?, records: UInt64 = 0
        for position in committedPositions() {
            for kind in LogKind.allCases {
                let from = position[kind].records, published = source.published(kind, shard: position.shard)
                guard published > from else { continue }
                records += published - from
                if let time = source.timeMillis(kind, shard: position.shard, sequence: from) { oldest = min(oldest ?? time, time) }
            }
        }
        return (oldest.map { max(0, now - $0) } ?? 0, records)
    }

    /// Connection state (connected: every thread is), last error and totals.
    public var status: ExporterStatus {
        locked {
            var status = state
            status.connected = laneConnected.allSatisfy { $0 }
            status.consecutiveFailures = laneFailures.max() ?? 0
            return status
        }
    }

    /// How many exporter threads run in SCHED_IDLE now (the others, if any, at nice 10).
    public var idleThreadCount: Int { locked { idleLanes } }

    /// How many exporter threads run (`[export] exporters`, as the store and shards allow).
    public var threadCount: Int { lanes.count }

    func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }

    // MARK: Threads

    /// The malloc trim threshold while an exporter runs: 64 MiB kept at the top of a heap before it is
    /// returned to the kernel. A batch's memory (SQLite's pages, the click blocks' text) is freed at
    /// its COMMIT and wanted again by the next batch; with glibc's default (128 KiB) each batch had its
    /// heap trimmed and then faulted in again, page by page and zeroed, on the clicks' core (about 1 %
    /// of it in a scheduler trace, in stretches of milliseconds no yield reaches). Process-wide: it
    /// bounds what any heap keeps unused, not what it uses.
    public static let mallocTrimThreshold: Int32 = 64 << 20
    /// The mmap threshold while an exporter runs: blocks under 32 MiB (glibc's most) come from the heap.
    /// Setting the trim threshold turns off glibc's dynamic mmap threshold, which stayed at 128 KiB, so
    /// the record SQLite builds for each click block's INSERT (~3 MB) was mapped and unmapped every
    /// block, and its pages faulted in and zeroed each time: 13 % of the exporter thread's samples in
    /// `clear_page_erms` (`perf record`, `ExportFigures 1000000`); −14 % export CPU without them.
    public static let mallocMmapThreshold: Int32 = 32 << 20
    /// Bytes malloc holds in blocks of their own mapping, for tests.
    static var mallocMappedBytes: Int { Int(CTrackstar_mallocMappedBytes()) }

    /// Starts the exporter threads.
    public func start() {
        _ = CTrackstar_keepMallocMemory(Exporter.mallocTrimThreshold, Exporter.mallocMmapThreshold)
        if lanes.count > 1 { log("\(lanes.count) exporter threads, each writing its own shards (shard % \(lanes.count))") }
        for lane in lanes { lane.thread.start { [self] in run(lane) } }
    }

    /// Asks each thread to write what is published (bounded by a few seconds if the sink fails) and
    /// waits for it.
    public func stop() {
        for lane in lanes { lane.thread.stop() }
    }
}

extension Exporter {
    /// The exporter's state in the Prometheus text format: lag per shard and log, records exported,
    /// consecutive failures and whether the store is connected.
    public func metricsText() -> String {
        var out = PrometheusText()
        out.metric("trackstar_export_lag_records", type: "gauge", help: "Records published but not yet in the reporting store.",
                   lag().flatMap { lag in
                       [("clicks", lag.clicks), ("conversions", lag.conversions), ("refusals", lag.refusals)].map { name, value in
                           (PrometheusText.labels(["shard": String(lag.shard), "log": name]), value)
                       }
                   })
        let state = status
        out.metric("trackstar_export_records_total", type: "counter", help: "Records written to the reporting store since start.",
                   [("", state.exportedRecords)])
        out.metric("trackstar_export_failures", type: "gauge", help: "Consecutive failed attempts to write to the reporting store (0: healthy).",
                   [("", state.consecutiveFailures)])
        out.metric("trackstar_export_connected", type: "gauge", help: "Whether the reporting store is connected (1) or not (0).",
                   [("", state.connected ? 1 : 0)])
        out.metric("trackstar_export_threads", type: "gauge", help: "Exporter threads, each over its own shards ([export] exporters).",
                   [("", lanes.count)])
        out.metric("trackstar_export_idle_threads", type: "gauge",
                   help: "Exporter threads in the idle CPU class (SCHED_IDLE); a thread that falls behind runs at nice 10 until it has caught up.",
                   [("", idleThreadCount)])
        let name = "trackstar_export_lag_seconds"
        return out.text + PrometheusText.header(name, type: "gauge", help: "Age of the oldest record not yet in the reporting store "
            + "(0: caught up); a warning is logged past [export] lag_warning.")
            + PrometheusText.sample(name, Double(lagAge().millis) / 1000)
    }
}

extension Exporter: LogFeed {
    public var feedName: String { "export" }

    /// Every log is held from its committed position: nothing the store lacks is retired.
    public func retentionFloors(shards: Int) -> RetentionFloors {
        var floors = RetentionFloors(shards: shards, value: 0)
        for position in committedPositions() where position.shard < shards {
            for log in LogKind.allCases { floors[log, position.shard] = position[log].records }
        }
        return floors
    }
}
