// Conversion index figures (issue 15). Part 1 records N conversions (an order-id key and a
// click+event key each, as a postback claims them) straight into the real `ConcurrentIndex`, from a
// 1 Mi-entry start, on W worker threads with the server's maintainer turn every 10 ms on another
// thread, and reports memory per live key and claim-pair latency percentiles inside growth steps
// (from the first claim that sees a new generation until the maintainer has sealed the old one and
// prepared the next) against outside them. Part 2 records M conversions through the real request
// handler (half of them 100 days old), with postback latency percentiles within 1,000 postbacks of a
// growth or rotation step against the rest, reopens the data dir and reports the recovery time and
// how many keys the rebuilt index holds (only the live window's).
// Usage: swift build -c release --product IndexFigures && .build/release/IndexFigures [N] [W] [M]
import Atomics
import TrackstarCore
import TrackstarServer
import TrackstarStore
import FigureSupport
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

func wallMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Latencies in 10 ns buckets up to 1 ms, one histogram per thread and phase (no sharing).
final class Histogram: @unchecked Sendable {
    static let buckets = 100_000
    let counts = UnsafeMutablePointer<Int>.allocate(capacity: Histogram.buckets + 1)
    init() { counts.initialize(repeating: 0, count: Histogram.buckets + 1) }
    @inline(__always) func add(_ nanos: UInt64) { counts[min(Int(nanos / 10), Histogram.buckets)] += 1 }
    var total: Int { (0...Histogram.buckets).reduce(0) { $0 + counts[$1] } }
    func merge(_ other: Histogram) { for i in 0...Histogram.buckets { counts[i] += other.counts[i] } }
    func percentile(_ p: Double) -> String {
        let target = Int(Double(total) * p)
        var seen = 0
        for i in 0...Histogram.buckets {
            seen += counts[i]
            if seen > target { return i == Histogram.buckets ? "> 1 ms" : "\(fixed(Double(i * 10 + 10) / 1000, 2)) µs" }
        }
        return "-"
    }
}

/// Part 1: the index alone.
func indexPart(conversions: Int, workers: Int) {
    let rssBefore = rssBytes()
    let start = wallMillis()
    // The server's defaults (1 Mi entries to start, rotation every txid_window / 4), with the memory
    // guard raised to 2^29 entries (8 GiB) so that 50 million conversions fit.
    let defaults = StorageConfig()
    let policy = IndexPolicy(initialCapacity: defaults.indexInitialCapacity, maxEntries: 1 << 29,
                             rotationMillis: defaults.txidWindowMillis / 4)
    let index = ConcurrentIndex(policy: policy, participants: workers, nowMillis: start)!
    let turns = ManagedAtomic<Int>(0)
    let maintainer = StoppableThread()
    maintainer.start {
        while !maintainer.sleep(until: wallMillis() + 10) {
            _ = index.maintain(nowMillis: wallMillis())
            turns.wrappingIncrement(ordering: .releasing)
        }
    }
    let inside = (0..<workers).map { _ in Histogram() }, outside = (0..<workers).map { _ in Histogram() }
    let next = ManagedAtomic<Int>(0)
    let fulls = ManagedAtomic<Int>(0)
    let began = nowNanos()
    let done = ManagedAtomic<Int>(0)
    for w in 0..<workers {
        let thread = StoppableThread()
        thread.start {
            var seenGeneration = index.newestGeneration
            var growthEndsAtTurn = Int.max
            while true {
                let base = next.loadThenWrappingIncrement(by: 4096, ordering: .relaxed)
                if base >= conversions { break }
                for i in base..<min(base + 4096, conversions) {
                    let expires = wallMillis() + 90 * 86_400_000
                    let t0 = nowNanos()
                    index.enter(w)
                    // An order-id key (a keyed fingerprint, bit 63) and a click + event key (bit 62).
                    let txid = UInt64(i) &* 0x9e37_79b9_7f4a_7c15 | 1 << 63
                    let event = 1 << 62 | UInt64(i) << 8
                    @inline(__always) func record(_ key: UInt64) {
                        while true {
                            let claim = index.claim(key, expiresMillis: expires)
                            if case .claimed(let entry) = claim { index.publish(entry: entry, value: UInt64(i) + 1); return }
                            if case .existing = claim { return }
                            fulls.wrappingIncrement(ordering: .relaxed)  // .full: maintainer behind
                            index.leave(w); sched_yield(); index.enter(w)
                        }
                    }
                    record(txid)
                    record(event)
                    index.leave(w)
                    let elapsed = nowNanos() - t0
                    let generation = index.newestGeneration
                    if generation != seenGeneration {
                        seenGeneration = generation
                        growthEndsAtTurn = turns.load(ordering: .acquiring) + 2
                    }
                    if growthEndsAtTurn != Int.max && turns.load(ordering: .acquiring) >= growthEndsAtTurn { growthEndsAtTurn = Int.max }
                    (growthEndsAtTurn == Int.max ? outside[w] : inside[w]).add(elapsed)
                }
            }
            done.wrappingIncrement(ordering: .releasing)
        }
    }
    while done.load(ordering: .acquiring) < workers { usleep(10_000) }
    let seconds = Double(nowNanos() - began) / 1e9
    maintainer.stop()
    let stats = index.stats()
    let rss = rssBytes() - rssBefore
    for w in 1..<workers { inside[0].merge(inside[w]); outside[0].merge(outside[w]) }
    print("index: \(conversions) conversions (\(stats.liveKeys) keys) on \(workers) threads in \(fixed(seconds, 1)) s "
        + "(\(fixed(Double(conversions) / seconds / 1e6, 2)) M conversions/s), \(index.newestGeneration) growth steps, "
        + "\(stats.generations) live generations, \(fulls.load(ordering: .relaxed)) claims retried after .full")
    print("index: capacity \(stats.capacity) entries (\(stats.capacity >> 16) MiB mapped) = \(fixed(Double(stats.capacity * 16) / Double(stats.liveKeys), 1)) B per live key; "
        + "RSS grew \(rss >> 20) MiB = \(fixed(Double(rss) / Double(stats.liveKeys), 1)) B per live key")
    print("index: claim pair (enter, two claims and publishes, leave) outside growth steps: \(outside[0].total) samples, "
        + "p50 \(outside[0].percentile(0.5)), p99 \(outside[0].percentile(0.99)), p99.9 \(outside[0].percentile(0.999))")
    print("index: claim pair inside growth steps: \(inside[0].total) samples, "
        + "p50 \(inside[0].percentile(0.5)), p99 \(inside[0].percentile(0.99)), p99.9 \(inside[0].percentile(0.999))")
}

/// Part 2: whole postbacks through the handler, then recovery of the live window.
func recoveryPart(conversions: Int) throws {
    let dataDir = "/tmp/trackstar-index-\(getpid())"
    var config = TrackstarConfig()
    config.storage.dataDir = dataDir
    config.storage.fsync = .none
    config.offers = [OfferConfig(id: 1, url: "https://shop.example/l?cid={click_id}")]
    config.affiliates = [AffiliateConfig(id: 7)]
    let now = wallMillis()
    let old = now - 100 * 86_400_000  // past the 90-day order-id window and the 30-day click lifetime
    var inside = Histogram(), outside = Histogram()
    do {
        let endpoint = try LocalEndpoint(config: config)
        let click = Array("GET /click?offer_id=1&aff_id=7 HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
        var growthTurns = 0
        for i in 0..<conversions {
            let at = i < conversions / 2 ? old : now
            let answer = click.withUnsafeBytes { Array(endpoint.handle($0, nowMillis: at)) }
            let id = String(decoding: answer[answer.indices.first { i in answer[i...].starts(with: "cid=".utf8) }! + 4 ..< answer.count].prefix(26), as: UTF8.self)
            let postback = Array("GET /postback?click_id=\(id)&txid=order-\(i)&amount=19.90 HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
            let generation = endpoint.indexStats.newestGeneration
            let t0 = nowNanos()
            let status = postback.withUnsafeBytes { Array(endpoint.handle($0, nowMillis: at + 60_000).prefix(12)) }
            let elapsed = nowNanos() - t0
            precondition(status.starts(with: "HTTP/1.1 200".utf8), "postback \(i): \(String(decoding: status, as: UTF8.self))")
            (growthTurns > 0 ? inside : outside).add(elapsed)
            if growthTurns > 0 { growthTurns -= 1 }
            // The maintainer's turn, inline every 1,000 postbacks (a server runs it every 10 ms).
            if i % 1000 == 999 { _ = endpoint.maintainIndex(nowMillis: at) }
            if endpoint.indexStats.newestGeneration != generation { growthTurns = 1000 }
        }
        print("handler: \(conversions) postbacks, p50 \(outside.percentile(0.5)) p99 \(outside.percentile(0.99)) outside growth steps "
            + "(\(outside.total)); p50 \(inside.percentile(0.5)) p99 \(inside.percentile(0.99)) within 1,000 postbacks of a growth or rotation step (\(inside.total); "
            + "the jump from 100 days ago to now rotates the newest by age)")
    }
    let t0 = nowNanos()
    let reopened = try LocalEndpoint(config: config)
    let seconds = Double(nowNanos() - t0) / 1e9
    print("recovery: \(conversions) conversions on disk (half 100 days old), reopened in \(fixed(seconds, 2)) s; "
        + "the index holds \(reopened.indexStats.liveKeys) keys (the live half: \(conversions) expected)")
    _ = system("rm -rf \(dataDir)")
    inside = Histogram(); outside = Histogram()
}

let conversions = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 50_000_000
let workers = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2])! : 2
let handled = CommandLine.arguments.count > 3 ? Int(CommandLine.arguments[3])! : 2_000_000
if conversions > 0 { indexPart(conversions: conversions, workers: workers) }
if handled > 0 { try recoveryPart(conversions: handled) }
