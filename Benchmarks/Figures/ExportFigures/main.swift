// Export figures: fills in-memory shard logs with N records (clicks with subs and a user agent, 8%
// conversions, 2% refusals), then exports them with the real exporter and reports rows per second to
// SQLite and, when a URL is given, to ClickHouse, with the process's CPU time per row while exporting.
// Usage: swift run -c release ExportFigures [records, default 1000000] [clickhouse-url]
// ClickHouse is measured with one exporter thread at batch_rows 10000 and 100000, then with two
// threads (one per shard): CPU is the whole process's, i.e. the exporter threads' (the server's own
// CPU is not in it). EXPORT_FIGURES_CLICKHOUSE_ONLY=1 skips SQLite.
// EXPORT_FIGURES_SKIP_SQLITE=1 skips SQLite; EXPORT_FIGURES_NORMAL_SYNC=1 also measures SQLite with
// synchronous = NORMAL (the WAL synced only at checkpoints) to show what durable commits cost.
import TrackstarCore
import TrackstarExport
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

func nowSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

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

/// User plus system CPU seconds of the whole process.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Exports everything to `sink`; returns (seconds, batches, CPU seconds). The main thread polls
/// every 10 ms meanwhile (its CPU is in the figure, and negligible).
func measure(_ sink: ExportSink, _ logs: Logs, batchRows: Int, more: [ExportSink] = []) -> (Double, UInt64, Double) {
    let exporter = Exporter(sinks: [sink] + more, source: logs.source, batchRows: batchRows, batchAgeMillis: 1000, log: { print("  \($0)") })
    let started = nowSeconds(), cpuStarted = cpuSeconds()
    exporter.start()
    var ts = timespec(tv_sec: 0, tv_nsec: 10_000_000)
    while !(exporter.status.connected && exporter.lag().allSatisfy { $0.total == 0 }) { nanosleep(&ts, nil) }
    let seconds = nowSeconds() - started, cpu = cpuSeconds() - cpuStarted
    exporter.stop()
    return (seconds, exporter.status.batches, cpu)
}

func report(_ name: String, _ records: Int, _ result: (Double, UInt64, Double)) {
    let rate = Int(Double(records) / result.0)
    let cpuRate = Int(Double(records) / result.2)
    print("\(name): \(records) rows in \(Int(result.0 * 1000)) ms = \(rate) rows/s (\(result.1) batches); "
        + "CPU \(Int(result.2 * 1000)) ms = \(String(Int(result.2 * 1e9 / Double(records)))) ns/row = \(cpuRate) rows/s of CPU")
}

let records = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 1_000_000
let clickhouseURL = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : nil
let started = nowSeconds()
let logs = Logs(records: records)
print("filled \(records) records (90% clicks, 8% conversions, 2% refusals) in \(Int((nowSeconds() - started) * 1000)) ms")

if getenv("EXPORT_FIGURES_SKIP_SQLITE") == nil && getenv("EXPORT_FIGURES_CLICKHOUSE_ONLY") == nil {
    let directory = "/tmp/trackstar-export-figures-\(getpid())"
    mkdir(directory, 0o755)
    func clean() { for name in ["report.sqlite", "report.sqlite-wal", "report.sqlite-shm"] { unlink(directory + "/" + name) } }
    report("SQLite (WAL, synchronous=FULL, batch_rows 10000)", records, measure(SQLiteSink(path: directory + "/report.sqlite"), logs, batchRows: 10_000))
    clean()
    if getenv("EXPORT_FIGURES_NORMAL_SYNC") != nil {
        report("SQLite (WAL, synchronous=NORMAL, batch_rows 10000)", records,
               measure(SQLiteSink(path: directory + "/report.sqlite", durableCommits: false), logs, batchRows: 10_000))
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
