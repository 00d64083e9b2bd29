// Instruction counts per request: runs N clicks, N valid postbacks or N forged postbacks (the
// loadtest's request shapes) through the real request handler, with only the requests inside
// `measuredRequests`, so callgrind can count exactly them:
//   valgrind --tool=callgrind --toggle-collect='*measuredRequests*' /tmp/pf postback 20000
// `update` records N pending conversions first (outside the measurement), then measures N postbacks
// that approve them (same click and order id, `status=approved`): a status change each.
// Usage: PathFigures click|postback|forged|update [N, default 20000]
import TrackstarCore
import TrackstarServer
#if canImport(Glibc)
import Glibc
#endif

let kind = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "click"
let count = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2])! : 20_000
let dataDir = "/tmp/trackstar-paths-\(getpid())"
let tail = " HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: tsload\r\n\r\n"
let now: Int64 = 1_790_000_000_000

var config = TrackstarConfig()
config.storage.dataDir = dataDir
config.storage.fsync = .none
config.storage.maxConversions = 1 << 20
var offer = OfferConfig(id: 1, url: "https://shop.example/landing?cid={click_id}&a={aff_id}&s1={sub1}")
offer.token = "lt-s3cret"
offer.payout = 2_500_000
offer.revenue = 4_000_000
config.offers = [offer]
config.affiliates = [AffiliateConfig(id: 7)]
let endpoint = try LocalEndpoint(config: config)

/// Every request, each as its own byte array.
func requests() -> [[UInt8]] {
    let click = Array("GET /click?offer_id=1&aff_id=7&sub1=k3x9q2mz&sub2=banner7&source=newsletter\(tail)".utf8)
    if kind == "click" { return Array(repeating: click, count: count) }
    // Mint the IDs to convert (or to forge from) outside the measurement.
    var ids: [String] = []
    for _ in 0..<(kind == "forged" ? 1 : count) {
        let response = click.withUnsafeBytes { Array(endpoint.handle($0, nowMillis: now)) }
        let marker = Array("cid=".utf8)
        let start = (0...(response.count - 4)).first { Array(response[$0..<($0 + 4)]) == marker }! + 4
        ids.append(String(decoding: response[start..<(start + 26)], as: UTF8.self))
    }
    if kind == "forged" {
        var id = Array(ids[0].utf8)
        id[20] = id[20] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let text = "GET /postback?click_id=\(String(decoding: id, as: UTF8.self))&token=lt-s3cret&txid=x1w0&amount=19.90\(tail)"
        return Array(repeating: Array(text.utf8), count: count)
    }
    if kind == "update" {
        for (i, id) in ids.enumerated() {
            let pending = Array("GET /postback?click_id=\(id)&token=lt-s3cret&txid=x1w0-\(i)&amount=19.90&status=pending\(tail)".utf8)
            _ = pending.withUnsafeBytes { endpoint.handle($0, nowMillis: now + 30_000) }
        }
        return ids.enumerated().map { i, id in
            Array("GET /postback?click_id=\(id)&token=lt-s3cret&txid=x1w0-\(i)&amount=19.90&status=approved\(tail)".utf8)
        }
    }
    return ids.enumerated().map { i, id in
        Array("GET /postback?click_id=\(id)&token=lt-s3cret&txid=x1w0-\(i)&amount=19.90\(tail)".utf8)
    }
}

/// The measured part: every request through the handler, one per call as over a keep-alive connection.
@inline(never)
func measuredRequests(_ all: [[UInt8]]) -> Int {
    var bytes = 0
    for request in all {
        bytes &+= request.withUnsafeBytes { endpoint.handle($0, nowMillis: now + 60_000).count }
    }
    return bytes
}

let all = requests()
let first = all[0].withUnsafeBytes { String(decoding: endpoint.handle($0, nowMillis: now + 60_000), as: UTF8.self) }
print("\(kind): first answer \(first.split(separator: "\r\n").first ?? "")")
print("\(kind): \(all.count - 1) more requests, \(measuredRequests(Array(all.dropFirst()))) response bytes")
_ = system("rm -rf \(dataDir)")
