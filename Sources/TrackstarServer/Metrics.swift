// Per-loop counters and a latency histogram, written by their loop only (relaxed load + store, no
// lock prefix) and read by whichever loop answers GET /metrics in the Prometheus text format.
import Atomics
import TrackstarCore
import TrackstarIO
import TrackstarStore

/// What a loop counts. Invariant: only the owning loop writes; any loop may read (relaxed).
final class LoopMetrics: @unchecked Sendable {
    enum Counter: Int, CaseIterable {
        case clicks, clicksFallback, clicksRefused, clicksHead, postbacksRecorded, postbacksDuplicate
        case badRequests, requests
        /// Requests answered 503 because their durability barrier failed (SyncFailure.swift).
        case syncFailedAnswers
        /// Postbacks that changed a recorded conversion's status (ConversionUpdate.swift).
        case postbacksUpdated
        /// Optional postback fields that arrived as unfilled templates and were read as absent (issue 17).
        case postbackFieldsUnfilled
        /// Clicks with a bot reason, by what `bot_action` did (EnrichClick.swift); unique clicks;
        /// clicks counted unique because the unique index was full.
        case botsFlagged, botsFallback, botsRefused, uniqueClicks, uniqueIndexFull
    }
    /// Upper bounds of the request-handling latency buckets, in microseconds.
    static let bucketBounds: [Int64] = [1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 5000]

    let counters: UnsafeMutablePointer<UInt64.AtomicRepresentation>
    let refusals: UnsafeMutablePointer<UInt64.AtomicRepresentation>
    let buckets: UnsafeMutablePointer<UInt64.AtomicRepresentation>
    let latencySumMicros: UnsafeMutablePointer<UInt64.AtomicRepresentation>
    /// Click issues by offer, affiliate and reason (ClickIssues.swift).
    let clickIssues = ClickIssueTable()
    /// Clicks sent to trafficback, by reason (Trafficback.swift).
    let trafficback = TrafficbackCounters()

    init() {
        counters = .allocate(capacity: Counter.allCases.count)
        counters.initialize(repeating: .init(0), count: Counter.allCases.count)
        refusals = .allocate(capacity: RefusalReason.allCases.count + 1)
        refusals.initialize(repeating: .init(0), count: RefusalReason.allCases.count + 1)
        buckets = .allocate(capacity: LoopMetrics.bucketBounds.count + 1)
        buckets.initialize(repeating: .init(0), count: LoopMetrics.bucketBounds.count + 1)
        latencySumMicros = .allocate(capacity: 1)
        latencySumMicros.initialize(to: .init(0))
    }

    deinit {
        counters.deallocate(); refusals.deallocate(); buckets.deallocate(); latencySumMicros.deallocate()
    }

    /// Single-writer increment: a relaxed load and store, enough because no other thread writes.
    @inline(__always)
    static func bump(_ word: UnsafeMutablePointer<UInt64.AtomicRepresentation>, by n: UInt64 = 1) {
        let atomic = UnsafeAtomic<UInt64>(at: word)
        atomic.store(atomic.load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }

    static func read(_ word: UnsafeMutablePointer<UInt64.AtomicRepresentation>) -> UInt64 {
        UnsafeAtomic<UInt64>(at: word).load(ordering: .relaxed)
    }

    @inline(__always) func count(_ counter: Counter, by n: UInt64 = 1) { LoopMetrics.bump(counters + counter.rawValue, by: n) }
    @inline(__always) func refused(_ reason: RefusalReason) { LoopMetrics.bump(refusals + Int(reason.rawValue)) }

    /// Records how long handling one request took.
    @inline(__always)
    func observe(micros: Int64) {
        var i = 0
        while i < LoopMetrics.bucketBounds.count && micros > LoopMetrics.bucketBounds[i] { i += 1 }
        LoopMetrics.bump(buckets + i)
        LoopMetrics.bump(latencySumMicros, by: UInt64(max(0, micros)))
    }
}

extension MetricsWriter {
    /// Writes every metric in the Prometheus text exposition format (version 0.0.4).
    func writeMetrics(to w: inout ByteWriter) {
        let loops = engine.metrics
        func total(_ counter: LoopMetrics.Counter) -> UInt64 {
            loops.reduce(0) { $0 &+ LoopMetrics.read($1.counters + counter.rawValue) }
        }
        metric(&w, "trackstar_clicks_total", "counter", "Clicks by outcome.", [
            ("outcome=\"recorded\"", total(.clicks)), ("outcome=\"fallback\"", total(.clicksFallback)),
            ("outcome=\"refused\"", total(.clicksRefused)), ("outcome=\"head\"", total(.clicksHead)),
        ])
        var postbacks: [(String, UInt64)] = [
            ("result=\"recorded\",reason=\"\"", total(.postbacksRecorded)),
            ("result=\"duplicate\",reason=\"\"", total(.postbacksDuplicate)),
            ("result=\"updated\",reason=\"\"", total(.postbacksUpdated)),
        ]
        for reason in RefusalReason.allCases where !reason.isClick {
            let n = loops.reduce(0) { $0 &+ LoopMetrics.read($1.refusals + Int(reason.rawValue)) }
            postbacks.append((PrometheusText.labels(["result": "refused", "reason": "\(reason.name)"]), n))
        }
        metric(&w, "trackstar_postbacks_total", "counter", "Postbacks by result and refusal reason.", postbacks)
        metric(&w, "trackstar_postback_fields_unfilled_total", "counter",
               "Optional postback fields (txid, amount, event, status, currency, payout, revenue) that were unfilled templates, read as absent.",
               [("", total(.postbackFieldsUnfilled))])
        writeClickIssues(&w)
        metric(&w, "trackstar_bot_clicks_total", "counter", "Clicks flagged as bots, by what the offer's bot_action did.", [
            ("action=\"flag\"", total(.botsFlagged)), ("action=\"fallback\"", total(.botsFallback)),
            ("action=\"refuse\"", total(.botsRefused)),
        ])
        metric(&w, "trackstar_unique_clicks_total", "counter", "Recorded clicks that were unique within their offer's unique_window.",
               [("", total(.uniqueClicks))])
        metric(&w, "trackstar_unique_index_full_total", "counter",
               "Clicks whose uniqueness could not be recorded (unique table full: storage.unique_clicks_per_window); counted unique.",
               [("", total(.uniqueIndexFull))])
        metric(&w, "trackstar_bad_requests_total", "counter", "Requests that could not be parsed.", [("", total(.badRequests))])
        writeLatency(&w, loops)
        metric(&w, "trackstar_fsync_failures_total", "counter", "Failed syncs of log files, by where (commit: fsync = always).",
               SyncSite.allCases.map { (PrometheusText.label("site", "\($0.name)"), engine.syncFailures[$0.rawValue].load(ordering: .relaxed)) })
        metric(&w, "trackstar_sync_failed_answers_total", "counter", "Requests answered 503 because their records could not be synced.",
               [("", total(.syncFailedAnswers))])
        metric(&w, "trackstar_writes_stopped", "gauge", "1 after a failed sync stopped writes (restart to resume).",
               [("", engine.writesStopped ? 1 : 0)])
        metric(&w, "trackstar_connections", "gauge", "Open client connections.", [("", UInt64(engine.connectionGauge?() ?? 0))])
        metric(&w, "trackstar_io_uring_out_of_buffers_total", "counter",
               "io_uring receives that found no free buffer and were re-armed (0 on the epoll path).",
               [("", UInt64(ServerIO.ioURingOutOfBuffers))])
        writeStorage(&w)
        writeTraffic(&w)
        for feed in engine.feeds { w.appendText(feed.metricsText()) }
    }

    func writeLatency(_ w: inout ByteWriter, _ loops: [LoopMetrics]) {
        header(&w, "trackstar_request_duration_seconds", "histogram", "Time to handle one request, from parse to answer.")
        var cumulative: UInt64 = 0
        for (i, bound) in LoopMetrics.bucketBounds.enumerated() {
            cumulative &+= loops.reduce(0) { $0 &+ LoopMetrics.read($1.buckets + i) }
            sample(&w, "trackstar_request_duration_seconds_bucket", PrometheusText.label("le", PrometheusText.number(Double(bound) / 1e6)), cumulative)
        }
        cumulative &+= loops.reduce(0) { $0 &+ LoopMetrics.read($1.buckets + LoopMetrics.bucketBounds.count) }
        sample(&w, "trackstar_request_duration_seconds_bucket", PrometheusText.label("le", "+Inf"), cumulative)
        let sum = loops.reduce(0) { $0 &+ LoopMetrics.read($1.latencySumMicros) }
        w.appendText(PrometheusText.sample("trackstar_request_duration_seconds_sum", Double(sum) / 1e6))
        sample(&w, "trackstar_request_duration_seconds_count", "", cumulative)
    }

    func writeStorage(_ w: inout ByteWriter) {
        var fill: [(String, UInt64)] = [], logBytes: [(String, UInt64)] = []
        for shard in 0..<engine.clicks.count {
            for (name, table) in [("clicks", engine.clicks[shard]), ("conversions", engine.conversions[shard]),
                                  ("refusals", engine.refusals[shard])] {
                let count = table.publishedCount
                let labels = PrometheusText.labels(["shard": String(shard), "log": name])
                fill.append((labels, count))
                logBytes.append((labels, count * UInt64(table.stride)))
            }
        }
        metric(&w, "trackstar_shard_records", "gauge", "Records published in each shard log.", fill)
        metric(&w, "trackstar_log_fixed_bytes", "gauge", "Bytes of fixed-size records in each shard log.", logBytes)
        let index = engine.index.stats()
        metric(&w, "trackstar_conversion_index_entries", "gauge", "Keys in the conversion index's live generations.", [("", UInt64(index.liveKeys))])
        metric(&w, "trackstar_conversion_index_capacity", "gauge", "Entries of the conversion index's live generations.", [("", UInt64(index.capacity))])
        metric(&w, "trackstar_conversion_index_generations", "gauge", "Live generations of the conversion index.", [("", UInt64(index.generations))])
        metric(&w, "trackstar_conversion_index_next_growth_keys", "gauge",
               "Keys in the newest generation at which the next growth step starts.", [("", UInt64(index.nextGrowthAt))])
        metric(&w, "trackstar_conversion_index_newest_keys", "gauge", "Keys in the newest generation.", [("", UInt64(index.newestKeys))])
        metric(&w, "trackstar_conversion_index_spare_capacity", "gauge",
               "Entries of the prepared next generation (0: none ready).", [("", UInt64(index.spareCapacity))])
        metric(&w, "trackstar_conversion_index_growth_refusals_total", "counter",
               "Growth steps refused by the memory guard (storage.max_conversions).", [("", UInt64(index.growthRefusals))])
        let age = engine.lastSnapshotMillis.load(ordering: .relaxed)
        let seconds = age == 0 ? -1 : Double(WallClock.nowMillis() - age) / 1000
        header(&w, "trackstar_snapshot_age_seconds", "gauge", "Seconds since the last snapshot manifest (-1: none yet).")
        w.appendText(PrometheusText.sample("trackstar_snapshot_age_seconds", seconds))
        metric(&w, "trackstar_snapshot_idle_thread", "gauge", "1 while the snapshot thread runs in the idle CPU class (0: at nice 10).",
               [("", engine.snapshotThreadIdle.load(ordering: .relaxed) ? 1 : 0)])
    }

    func metric(_ w: inout ByteWriter, _ name: String, _ type: String, _ help: String, _ samples: [(String, UInt64)]) {
        header(&w, name, type, help)
        for (labels, value) in samples { sample(&w, name, labels, value) }
    }

    func header(_ w: inout ByteWriter, _ name: String, _ type: String, _ help: String) {
        w.appendText(PrometheusText.header(name, type: type, help: help))
    }

    /// One sample; `labels` as `PrometheusText.labels` makes them (values escaped), or empty.
    func sample(_ w: inout ByteWriter, _ name: String, _ labels: String, _ value: UInt64) {
        w.appendText(PrometheusText.sample(name, labels: labels, value))
    }
}

extension ByteWriter {
    /// Appends a String's UTF-8 (for /metrics, which is not on the click or postback path).
    mutating func appendText(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }
}
