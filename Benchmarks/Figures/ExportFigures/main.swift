// Export figures: fills in-memory shard logs with N records (clicks with subs and a user agent, 8%
// conversions, 2% refusals), then exports them with the real exporter and reports rows per second to
// SQLite and, when a URL is given, to ClickHouse, with the process's CPU time per row while exporting.
// Usage: swift run -c release ExportFigures [records, default 1000000] [clickhouse-url]
// ClickHouse is measured with one exporter thread at batch_rows 10000 and 100000, then with two
// threads (one per shard): CPU is the whole process's, i.e. the exporter threads' (the server's own
// CPU is not in it); the kernel's share of it is printed after it ("system": page-cache writes and
// syncs, which on a virtual machine include its disk's exits). EXPORT_FIGURES_CLICKHOUSE_ONLY=1 skips SQLite.
// EXPORT_FIGURES_DIR=<dir> puts the SQLite store there (default /tmp; /dev/shm shows what the disk costs);
// EXPORT_FIGURES_KEEP=1 leaves it there and stops after the SQLite figure.
// EXPORT_FIGURES_BATCH_ROWS=N sets SQLite's batch_rows (by default the server's, `ExportConfig().batchRows`,
// 50000; the figures before the sixteenth session used 10000, which costs more a row: see docs/performance.md).
// EXPORT_FIGURES_SKIP_SQLITE=1 skips SQLite; EXPORT_FIGURES_NORMAL_SYNC=1 also measures SQLite with
// synchronous = NORMAL (the WAL synced only at checkpoints) to show what durable commits cost.
// EXPORT_FIGURES_REPORTS=1 then times reports that read raw click rows from the store just written
// (CPU of the querying thread, best of 3), the cost the click blocks move from export to reading;
// then turns the store into the earlier layout (a row per click, `time_ms` index) and times them again.
import TrackstarCore
import TrackstarExport
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration
import FigureSupport

let codec = ClickIDCodec(currentKey: SipHashKey(k0: 0x0123_4567_89ab_cdef, k1: 0xfedc_ba98_7654_3210))

/// Two shards of clicks, conversions and refusals in anonymous memory.
final class Logs: @unchecked Sendable {
    let shards = 2
    let clicks: [RecordTable], conversions: [RecordTable], refusals: [RecordTable]

    init(records: Int) {
        clicks = (0..<shards).map { _ in RecordTable(stride: ClickSlot.stride, recordsPerSegment: 1 << 18, byteSegmentSize: 16 << 20) }
        conversions = (0..<shards).map { _ in RecordTable(stride: ConversionRecord.stride, recordsPerSegment: 1 << 16, byteSegmentSize: 4 << 20) }
        refusals = (0..<shards).map { _ in RecordTable(stride: RefusalRecord.stride, recordsPerSegment: 1 << 16, byteSegmentSize: 8 << 20) }
        let base: Int64 = 1_767_225_600_000
        for i in 0..<records {
            let shard = i % shards, time = base + Int64(i) * 10
            switch i % 50 {
            case 0..<4: conversion(shard, clickRef: UInt64(shard) << 40, time: time, txid: "order-\(i)")
            case 4: refusal(shard, time: time)
            default: click(shard, time: time, offer: UInt32(i % 7 + 1), sub1: "sub-\(i % 100)")
            }
        }
    }

    func put(_ table: RecordTable, _ variable: [UInt8]) -> (UnsafeMutableRawPointer, UInt64, UnsafeMutableRawPointer, UInt64) {
        let (sequence, record) = table.reserveRecord()!
        let (offset, bytes) = table.reserveBytes(variable.count)!
        bytes.copyMemory(from: variable, byteCount: variable.count)
        return (record, offset, bytes, sequence)
    }

    func click(_ shard: Int, time: Int64, offer: UInt32, sub1: String) {
        let fields = [sub1, "b7", "", "", "", "a1b2c3d4e5", "newsletter",
                      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"]
        let variable = fields.flatMap { s -> [UInt8] in let b = Array(s.utf8); return [UInt8(b.count), 0] + b }
        let (record, offset, bytes, sequence) = put(clicks[shard], variable)
        ClickSlot.write(record, mintMillis: time, offerID: offer, affID: 7, varOffset: offset, varLength: variable.count,
                        peerHigh: 0, peerLow: 0xffff_c000_0207)
        ClickSlot.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: variable.count))
        clicks[shard].publish(count: sequence + 1)
    }

    func conversion(_ shard: Int, clickRef: UInt64, time: Int64, txid: String) {
        let variable = Array(txid.utf8)
        let (record, offset, bytes, sequence) = put(conversions[shard], variable)
        ConversionRecord.write(record, .init(clickRef: clickRef, timeMillis: time, txidHash: 1, amount: 49_900_000,
                                             payout: 2_500_000, revenue: 4_000_000, offerID: 1, affID: 7, event: 0,
                                             status: .approved, currency: 0x44_5355, varOffset: offset, varLength: variable.count))
        ConversionRecord.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: variable.count))
        conversions[shard].publish(count: sequence + 1)
    }

    func refusal(_ shard: Int, time: Int64) {
        let variable = Array("click_id=000000000000YNFNCE97BZ6711&token=wrong&txid=1".utf8)
        let (record, offset, bytes, sequence) = put(refusals[shard], variable)
        RefusalRecord.write(record, timeMillis: time, reason: .badToken, httpStatus: 403, offerID: 3, affID: 7,
                            varOffset: offset, varLength: variable.count)
        RefusalRecord.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: variable.count))
        refusals[shard].publish(count: sequence + 1)
    }

    var source: ExportSource {
        ExportSource(clicks: clicks, conversions: conversions, refusals: refusals,
                     clickIDText: { shard, sequence, mintMillis in  // as the server does it
                         let id = ClickID(node: 0, shard: UInt8(shard), sequence: sequence,
                                          mintMinute: ClickID.minute(unixMillis: mintMillis), keyID: 0)
                         return String(unsafeUninitializedCapacity: 26) { codec.encode(id, into: $0.baseAddress!); return 26 }
                     },
                     eventName: { _, _ in "conversion" },
                     clickIDWriter: { shard, sequence, mintMillis, out in
                         codec.encode(ClickID(node: 0, shard: UInt8(shard), sequence: sequence,
                                              mintMinute: ClickID.minute(unixMillis: mintMillis), keyID: 0), into: out)
                     })
    }
}

/// User and system CPU seconds of the whole process.
func cpuSplit() -> (user: Double, system: Double) {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return (seconds(usage.ru_utime), seconds(usage.ru_stime))
}

/// Bytes the process has caused to be written to storage so far (`write_bytes` of /proc/self/io).
func writtenBytes() -> Int { procSelfField("io", "write_bytes") }

/// Exports everything to `sink`; returns (seconds, batches, CPU seconds, the kernel's share of them:
/// page-cache writes, syncs). The main thread polls every 10 ms meanwhile (its CPU is in the figure,
/// and negligible). Prints the bytes written to storage meanwhile.
func measure(_ sink: ExportSink, _ logs: Logs, batchRows: Int, more: [ExportSink] = []) -> (Double, UInt64, Double, Double) {
    let exporter = Exporter(sinks: [sink] + more, source: logs.source, batchRows: batchRows, batchAgeMillis: 1000, log: { print("  \($0)") })
    let written = writtenBytes()
    defer {
        let bytes = writtenBytes() - written
        print("  written to storage: \(mib(bytes))")
    }
    let started = nowSeconds(), cpuStarted = cpuSplit()
    exporter.start()
    var ts = timespec(tv_sec: 0, tv_nsec: 10_000_000)
    while !(exporter.status.connected && exporter.lag().allSatisfy { $0.total == 0 }) { nanosleep(&ts, nil) }
    let cpuEnded = cpuSplit(), seconds = nowSeconds() - started
    let cpu = cpuEnded.user + cpuEnded.system - cpuStarted.user - cpuStarted.system
    exporter.stop()
    return (seconds, exporter.status.batches, cpu, cpuEnded.system - cpuStarted.system)
}

func report(_ name: String, _ records: Int, _ result: (Double, UInt64, Double, Double)) {
    let rate = Int(Double(records) / result.0)
    let cpuRate = Int(Double(records) / result.2)
    print("\(name): \(records) rows in \(Int(result.0 * 1000)) ms = \(rate) rows/s (\(result.1) batches); "
        + "CPU \(Int(result.2 * 1000)) ms = \(String(Int(result.2 * 1e9 / Double(records)))) ns/row = \(cpuRate) rows/s of CPU"
        + " (system \(Int(result.3 * 1e9 / Double(records))) ns/row)")
}

/// CPU seconds of the calling thread.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Reports over raw click rows (roll-ups off, or a column or range they cannot answer): best CPU of 3.
func timeRawReports(dataDir: String) {
    let start: Int64 = 1_767_225_600_000, hour: Int64 = 3_600_000
    var all = ReportRequest(groupBy: [.offer])
    all.useRollups = false
    let requests: [(String, ReportRequest)] = [
        ("--group-by sub1 (raw: no roll-up has sub1)", ReportRequest(groupBy: [.sub1])),
        ("--group-by offer, roll-ups off", all),
        ("--group-by offer --from +1:30 --to +2:30 (raw: not whole hours)",
         ReportRequest(fromMillis: start + 3 * hour / 2, toMillis: start + 5 * hour / 2, groupBy: [.offer])),
    ]
    do {
        let backend = try Reporter.backend(config: ExportConfig(), dataDir: dataDir)
        for (name, request) in requests {
            var best = Double.infinity, clicks: Int64 = 0
            for _ in 0..<3 {
                let cpu = threadCPUSeconds()
                clicks = try Reporter.run(request, on: backend).totals.clicks
                best = min(best, threadCPUSeconds() - cpu)
            }
            print("  report \(name): \(clicks) clicks, CPU \(Int(best * 1000)) ms = \(Int(best * 1e9 / Double(max(clicks, 1)))) ns per click")
        }
    } catch {
        print("  reports failed: \(error)")
    }
}

/// Rewrites the store's clicks as the release before blocks kept them: a table of rows with the `time_ms` index.
func toRowLayout(dataDir: String) {
    let started = nowSeconds()
    do {
        let db = try SQLiteDatabase(path: SQLiteSink.path(dataDir: dataDir))
        try db.execute("""
            BEGIN;
            CREATE TABLE clicks_old (
              click_ref INTEGER PRIMARY KEY, click_id TEXT NOT NULL, time_ms INTEGER NOT NULL, offer_id INTEGER NOT NULL, aff_id INTEGER NOT NULL,
              sub1 TEXT NOT NULL, sub2 TEXT NOT NULL, sub3 TEXT NOT NULL, sub4 TEXT NOT NULL, sub5 TEXT NOT NULL,
              aff_click_id TEXT NOT NULL, source TEXT NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL,
              country TEXT NOT NULL DEFAULT '', asn INTEGER NOT NULL DEFAULT 0, device TEXT NOT NULL DEFAULT '', os TEXT NOT NULL DEFAULT '',
              browser TEXT NOT NULL DEFAULT '', bot_reason TEXT NOT NULL DEFAULT '', is_unique INTEGER NOT NULL DEFAULT 0,
              trafficback_reason TEXT NOT NULL DEFAULT '', destination TEXT NOT NULL DEFAULT '', requested_offer INTEGER NOT NULL DEFAULT 0,
              smartlink INTEGER NOT NULL DEFAULT 0, city TEXT NOT NULL DEFAULT '');
            INSERT INTO clicks_old SELECT * FROM clicks;
            DROP VIEW clicks; DROP TABLE click_blocks;
            ALTER TABLE clicks_old RENAME TO clicks;
            CREATE INDEX clicks_time ON clicks (time_ms);
            COMMIT;
            """)
        print("  (rewritten in \(Int((nowSeconds() - started) * 1000)) ms)")
    } catch {
        print("  rewriting failed: \(error)")
    }
}

let records = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 1_000_000
let clickhouseURL = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : nil
let started = nowSeconds()
let logs = Logs(records: records)
print("filled \(records) records (90% clicks, 8% conversions, 2% refusals) in \(Int((nowSeconds() - started) * 1000)) ms")

if getenv("EXPORT_FIGURES_SKIP_SQLITE") == nil && getenv("EXPORT_FIGURES_CLICKHOUSE_ONLY") == nil {
    let directory = (getenv("EXPORT_FIGURES_DIR").map { String(cString: $0) } ?? "/tmp") + "/trackstar-export-figures-\(getpid())"
    mkdir(directory, 0o755)
    func clean() { for name in ["report.sqlite", "report.sqlite-journal", "report.sqlite-wal", "report.sqlite-shm"] { unlink(directory + "/" + name) } }
    let sqliteBatchRows = getenv("EXPORT_FIGURES_BATCH_ROWS").flatMap { Int(String(cString: $0)) } ?? ExportConfig().batchRows
    report("SQLite (rollback journal, synchronous=FULL, batch_rows \(sqliteBatchRows))", records,
           measure(SQLiteSink(path: directory + "/report.sqlite"), logs, batchRows: sqliteBatchRows))
    var status = stat()
    if stat(directory + "/report.sqlite", &status) == 0 { print("  the store: \(Int(status.st_size) >> 20) MiB") }
    if getenv("EXPORT_FIGURES_KEEP") != nil { print("  kept in \(directory)"); exit(0) }
    if getenv("EXPORT_FIGURES_REPORTS") != nil {
        print("reports over click blocks:")
        timeRawReports(dataDir: directory)
        toRowLayout(dataDir: directory)
        print("the same store as a row per click (the layout before blocks):")
        timeRawReports(dataDir: directory)
    }
    clean()
    if getenv("EXPORT_FIGURES_NORMAL_SYNC") != nil {
        report("SQLite (rollback journal, synchronous=NORMAL, batch_rows \(sqliteBatchRows))", records,
               measure(SQLiteSink(path: directory + "/report.sqlite", durableCommits: false), logs, batchRows: sqliteBatchRows))
        clean()
    }
    rmdir(directory)
}

if let clickhouseURL {
    var config = ExportConfig()
    config.sink = .clickhouse
    config.url = clickhouseURL
    config.database = "trackstar_figures_\(getpid())"
    for (batchRows, threads) in [(10_000, 1), (100_000, 1), (100_000, 2)] {
        let sinks = try (0..<threads).map { _ in try ClickHouseSink(config: config) }
        report("ClickHouse (RowBinary, batch_rows \(batchRows), batch_bytes \(config.batchBytes >> 20) MiB, exporters \(threads))", records,
               measure(sinks[0], logs, batchRows: batchRows, more: Array(sinks.dropFirst())))
        _ = try? sinks[0].execute("DROP DATABASE IF EXISTS \(config.database)")
    }
}
