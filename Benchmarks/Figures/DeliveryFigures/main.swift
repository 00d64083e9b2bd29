// Delivery-log figures (issue 21): (1) the dispatcher's start with a long history, before and after
// compaction moved it to the archive; (2) resident memory per pending postback with many pending.
// Each builds a delivery log through DeliveryLog.append in a fresh data dir, then times
// `Dispatcher.init` (open the live generation, verify every checksum, replay it, fill the due heap).
// (3) `during-compaction`: deliveries go on while the first compaction of a long history runs in
// slices (a running dispatcher sending to Tests/Support/partner_receiver.py on loopback).
// Usage: swift run -c release DeliveryFigures [finished, default 10000000] [pending, default 1000000]
//        swift run -c release DeliveryFigures during-compaction [records, default 10000000] [pending, default 50000]
import TrackstarConfiguration
import TrackstarCore
import TrackstarDelivery
import TrackstarStore
import FigureSupport
#if canImport(Glibc)
import Glibc
#endif

let duringCompaction = CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "during-compaction"
let numbers = CommandLine.arguments.dropFirst(duringCompaction ? 2 : 1).map { Int($0)! }
let finished = numbers.count > 0 ? numbers[0] / (duringCompaction ? 2 : 1) : (duringCompaction ? 5_000_000 : 10_000_000)
let pendingCount = numbers.count > 1 ? numbers[1] : (duringCompaction ? 50_000 : 1_000_000)
let endpoints = ["https://partner-one.example:443", "https://partner-two.example:443", "http://network-three.example:80"]
let start: Int64 = 1_790_000_000_000

func url(_ id: UInt64, _ endpoint: String) -> String {
    endpoint + "/postback?click_id=01JD5Q2X8M\(id)ZK4W7&payout=2.50&currency=USD&status=approved&txid=order-\(id)&sub1=campaign-42&sub2=banner-7"
}

func queued(_ log: DeliveryLog, _ id: UInt64) {
    var record = DeliveryRecord(kind: .queued, conversionID: id, timeMillis: start + Int64(id / 1000))
    record.affID = UInt32(7 + id % 5)
    record.nextMillis = record.timeMillis + 86_400_000
    let endpoint = endpoints[Int(id % 3)]
    precondition(log.append(record, endpoint: endpoint, detail: url(id, endpoint)), "disk full?")
}

/// A postback queued and delivered at its first attempt (200 at `attemptMillis`).
func deliveredAtOnce(_ log: DeliveryLog, _ id: UInt64, attemptMillis: Int64, latencyMicros: UInt32 = 0) {
    queued(log, id)
    var attempt = DeliveryRecord(kind: .attempt, conversionID: id, timeMillis: attemptMillis)
    attempt.affID = UInt32(7 + id % 5); attempt.attempt = 1; attempt.outcome = .delivered; attempt.httpStatus = 200
    attempt.latencyMicros = latencyMicros
    precondition(log.append(attempt, endpoint: endpoints[Int(id % 3)], detail: "OK"), "disk full?")
}

func config(_ dataDir: String) -> TrackstarConfig {
    var config = TrackstarConfig()
    config.storage.dataDir = dataDir
    return config
}

let source = ExportSource(clicks: [], conversions: [], refusals: [], clickIDText: { _, _, _ in "" }, eventName: { _, _ in "conversion" })

/// Times the dispatcher's start on `dataDir`.
func timeStart(_ dataDir: String, _ label: String) throws {
    let began = nowSeconds()
    let dispatcher = try Dispatcher(config: config(dataDir), source: source, message: { _ in })
    let elapsed = nowSeconds() - began
    print("\(label): dispatcher start \(fixed(elapsed, 3)) s, \(dispatcher.snapshot.pending) pending")
}

// (3), see the header.
/// Starts Tests/Support/partner_receiver.py; returns its port and pid.
func startReceiver(_ work: String) -> (port: Int, pid: String) {
    let script = "../Tests/Support/partner_receiver.py"
    precondition(access(script, R_OK) == 0, "run from Benchmarks/: \(script) not found")
    _ = system("python3 \(script) --delay-ms 10 --log \(work)/requests.log > \(work)/receiver.out 2>&1 & echo $! > \(work)/receiver.pid")
    for _ in 0..<100 {
        if let text = readText("\(work)/receiver.out"), text.hasPrefix("listening ") {
            return (Int(text.dropFirst(10).prefix { $0.isNumber })!, readText("\(work)/receiver.pid") ?? "")
        }
        usleep(100_000)
    }
    fatalError("the receiver did not start: \(readText("\(work)/receiver.out") ?? "")")
}

func readText(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    guard fgets(&line, 256, file) != nil else { return nil }
    return String(decoding: line.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Prints a line at once (also into a file: a long run shows its progress).
func show(_ text: String) {
    print(text)
    fflush(nil)
}

func deliveriesDuringCompaction(finished: Int, pending: Int) throws {
    let work = "/tmp/trackstar-delivery-compaction-\(getpid())"
    _ = system("mkdir -p \(work)")
    defer { _ = system("rm -rf \(work)") }
    let (port, pid) = startReceiver(work)
    defer { _ = system("kill \(pid)") }
    let receiver = "http://127.0.0.1:\(port)"
    let now = WallClock.nowMillis()
    do {
        let log = try DeliveryLog(dataDir: work + "/data")
        let began = nowSeconds()
        for i in 0..<finished { deliveredAtOnce(log, UInt64(i + 1), attemptMillis: start + Int64(i / 1000) + 150) }
        for i in 0..<pending {
            let id = UInt64(finished + i + 1)
            var record = DeliveryRecord(kind: .queued, conversionID: id, timeMillis: now)
            record.affID = 7
            record.nextMillis = now
            precondition(log.append(record, endpoint: receiver, detail: "\(receiver)/pb?c=\(id)"), "disk full?")
        }
        precondition(log.sync() == nil)
        show("wrote \(finished) finished postbacks and \(pending) pending (\(log.count) records) in \(fixed(nowSeconds() - began, 1)) s")
    }
    var settings = config(work + "/data")
    settings.delivery.maxPerEndpoint = 4
    let began = nowSeconds()
    let dispatcher = try Dispatcher(config: settings, source: source, message: { text in
        if text.contains("compact") { show("  [\(fixed(nowSeconds() - began, 1)) s] \(text)") }
    })
    show("dispatcher start (replaying the uncompacted log): \(fixed(nowSeconds() - began, 1)) s")
    func delivered() -> Int { dispatcher.snapshot.endpoints.reduce(0) { $0 + $1.delivered } - finished }
    try dispatcher.start()
    let t0 = nowSeconds()
    var samples: [(t: Double, delivered: Int, compacting: Bool, pending: Int)] = []
    var doneAt: Double?
    while true {
        usleep(250_000)
        let t = nowSeconds() - t0, progress = dispatcher.compactionProgress
        samples.append((t, delivered(), progress.running, dispatcher.snapshot.pending))
        if samples.count % 20 == 0 {
            show("  t=\(fixed(t, 1)) s: \(samples.last!.delivered) delivered" + (progress.running ? ", compaction has copied \(progress.handled) records" : ""))
        }
        if doneAt == nil && samples.count > 4 && !progress.running && samples.contains(where: { $0.compacting }) { doneAt = t }
        if let doneAt, t > doneAt + 5 { break }
        if t > 1800 { show("gave up after 30 min"); break }
    }
    dispatcher.stop()
    let during = samples.filter { $0.compacting }
    guard let first = during.first, let last = during.last else { show("no compaction was seen"); return }
    var longestStall = 0.0, stallStart: Double?
    for (previous, sample) in zip(samples, samples.dropFirst()) where (sample.compacting || previous.compacting) && previous.pending > 0 {
        if sample.delivered == previous.delivered { stallStart = stallStart ?? previous.t; longestStall = max(longestStall, sample.t - stallStart!) }
        else { stallStart = nil }
    }
    let after = samples.filter { $0.t > last.t }
    let rateDuring = Double(last.delivered - first.delivered) / max(last.t - first.t, 0.001)
    let rateAfter = after.count > 1 ? Double(after.last!.delivered - after.first!.delivered) / max(after.last!.t - after.first!.t, 0.001) : 0
    show("compaction of \(finished * 2) records ran \(fixed(last.t - first.t, 1)) s in slices; meanwhile \(last.delivered - first.delivered) "
        + "postbacks delivered (\(fixed(rateDuring, 0))/s; after it \(fixed(rateAfter, 0))/s); longest time with pending postbacks "
        + "and none delivered, sampled every 0.25 s: \(fixed(longestStall, 2)) s")
}

if duringCompaction {
    try deliveriesDuringCompaction(finished: finished, pending: pendingCount)
    exit(0)
}

// 1. A long history: `finished` postbacks delivered (a queued and an attempt record each), 1,000 pending.
do {
    let dataDir = "/tmp/trackstar-delivery-figures-\(getpid())"
    do {
        let log = try DeliveryLog(dataDir: dataDir)
        let began = nowSeconds()
        for i in 0..<finished { deliveredAtOnce(log, UInt64(i + 1), attemptMillis: start + Int64(i / 1000) + 150, latencyMicros: 150_000) }
        for i in 0..<1000 { queued(log, UInt64(finished + i + 1)) }
        precondition(log.sync() == nil)
        print("wrote \(finished) finished postbacks (\(log.count) records) in \(fixed(nowSeconds() - began, 1)) s")
    }
    try timeStart(dataDir, "\(finished) finished in the live log (no compaction)")
    do {
        let log = try DeliveryLog(dataDir: dataDir)
        var ledger = DeliveryLedger.replay(log, pauseAfter: 20)
        let began = nowSeconds()
        let next = try DeliveryCompaction.run(log, ledger: &ledger, nowMillis: start + 86_400_000)!
        print("compaction: \(fixed(nowSeconds() - began, 1)) s; generation \(next.generation) carries \(next.count) records, "
            + "the archive holds \(next.archiveExtent.archiveCount)")
    }
    try timeStart(dataDir, "\(finished) finished in the archive (after compaction)")
    // The worst case between compactions: the live log at the dispatcher's threshold (200,000 records
    // more than it carries).
    do {
        let log = try DeliveryLog(dataDir: dataDir)
        for i in 0..<100_000 { deliveredAtOnce(log, UInt64(finished + 1000 + i + 1), attemptMillis: start + 86_400_000) }
        precondition(log.sync() == nil)
    }
    try timeStart(dataDir, "the same, with 200,000 more records in the live log (the compaction threshold)")
    _ = system("rm -rf \(dataDir)")
}

// 2. Many pending: `pendingCount` postbacks queued and not yet sent (a partner down for a day).
do {
    let dataDir = "/tmp/trackstar-delivery-pending-\(getpid())"
    do {
        let log = try DeliveryLog(dataDir: dataDir)
        for i in 0..<pendingCount { queued(log, UInt64(i + 1)) }
        precondition(log.sync() == nil)
    }
    let anonBefore = statusBytes("RssAnon"), rssBefore = statusBytes("VmRSS")
    let began = nowSeconds()
    let dispatcher = try Dispatcher(config: config(dataDir), source: source, message: { _ in })
    let elapsed = nowSeconds() - began
    let anon = statusBytes("RssAnon") - anonBefore, rss = statusBytes("VmRSS") - rssBefore
    withExtendedLifetime(dispatcher) {
        print("\(dispatcher.snapshot.pending) pending: dispatcher start \(fixed(elapsed, 3)) s; anonymous RSS +\(anon / 1_048_576) MiB = "
            + "\(fixed(Double(anon) / Double(pendingCount), 1)) bytes per pending delivery; all RSS +\(rss / 1_048_576) MiB "
            + "(the rest: log pages read by the replay, the kernel's page cache)")
    }
    _ = system("rm -rf \(dataDir)")
}
