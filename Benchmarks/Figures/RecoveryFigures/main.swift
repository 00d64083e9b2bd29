// Recovery figures: mints N clicks into a fresh data dir through the real request handler, then
// reopens the data dir (full recovery: map, verify every checksum, replay conversions) and reports
// the time, the bytes per click on disk and the RSS per click.
// Usage: swift run -c release RecoveryFigures [clicks, default 10000000]
import TrackstarCore
import TrackstarServer
import FigureSupport
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

func diskBytes(_ path: String) -> Int {
    // Allocated blocks, not apparent size: segments are preallocated whole.
    let pipe = popen("du -sb --apparent-size \(path)/shard-* | awk '{s+=$1} END {print s}'; du -sB1 \(path)/shard-* | awk '{s+=$1} END {print s}'", "r")!
    defer { pclose(pipe) }
    var line = [CChar](repeating: 0, count: 64)
    fgets(&line, 64, pipe)
    fgets(&line, 64, pipe)
    return Int(String(cString: line).trimmingCharacters()) ?? 0
}

extension String {
    func trimmingCharacters() -> String { String(filter { !$0.isWhitespace }) }
}

let clicks = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 10_000_000
let dataDir = "/tmp/trackstar-recovery-\(getpid())"
var config = TrackstarConfig()
config.storage.dataDir = dataDir
config.storage.fsync = .none
config.offers = [OfferConfig(id: 1, url: "https://shop.example/l?cid={click_id}&s1={sub1}")]
config.affiliates = [AffiliateConfig(id: 7)]

let request = Array("GET /click?offer_id=1&aff_id=7&sub1=campaign-42&sub2=banner HTTP/1.1\r\nHost: t\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n\r\n".utf8)
do {
    let endpoint = try LocalEndpoint(config: config)
    let start = nowSeconds()
    request.withUnsafeBytes { raw in
        for i in 0..<clicks { _ = endpoint.handle(raw, nowMillis: 1_790_000_000_000 + Int64(i / 1000)) }
    }
    print("minted \(clicks) clicks in \(fixed(nowSeconds() - start, 2)) s")
}
let rssBefore = rssBytes()
let start = nowSeconds()
let reopened = try LocalEndpoint(config: config)
let elapsed = nowSeconds() - start
let rssAfter = rssBytes()
print("recovery of \(clicks) clicks: \(fixed(elapsed, 3)) s")
for note in reopened.recoveryNotes { print("  \(note)") }
let disk = diskBytes(dataDir)
print("disk: \(disk) bytes allocated = \(fixed(Double(disk) / Double(clicks), 1)) bytes/click (64-byte slot + variable bytes + segment preallocation)")
print("RSS growth on recovery: \(rssAfter - rssBefore) bytes = \(fixed(Double(rssAfter - rssBefore) / Double(clicks), 1)) bytes/click (mapped pages read by the checksum scan)")
_ = system("rm -rf \(dataDir)")
