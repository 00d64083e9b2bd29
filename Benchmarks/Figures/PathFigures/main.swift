// Instruction counts per request: runs N clicks, N valid postbacks or N forged postbacks (the
// loadtest's request shapes) through the real request handler, with only the requests inside
// `measuredRequests`, so callgrind can count exactly them:
//   valgrind --tool=callgrind --toggle-collect='*measuredRequests*' /tmp/pf postback 20000
// `update` records N pending conversions first (outside the measurement), then measures N postbacks
// that approve them (same click and order id, `status=approved`): a status change each.
// `traffic` (issue 14) sends the `click` request through a smart link (`/s/main`) whose two offers
// both have daily, monthly and total click caps (never reached), excluded countries and a device
// list: compare its Ir per click with `click`'s.
// Usage: PathFigures click|mix|city|traffic|postback|forged|update [N, default 20000]. `mix` is clicks through a trusted
// proxy from 4,096 public IPv4 addresses with 300 distinct user agents, Zipf-skewed (s = 1), so
// geo, the agent cache (and its misses), the bot rules and uniqueness all do their real work.
// `city` is `mix` with `[geo] database = "mmdb"` on a MaxMind City file written at start (every
// IPv4 /8 with a country, an ASN and a city), so each click also reads and stores a city's name.
import TrackstarCore
import TrackstarServer
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration
import TrackstarTestSupport

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
if kind == "mix" || kind == "city" {
    config.server.trustedProxies = [CIDR(address: (0, 0xFFFF_7F00_0000), prefixLength: 104)]  // 127.0.0.0/8
    config.bots.userAgentSubstrings = ["HeadlessChrome", "python-requests"]
    config.bots.asns = [16509, 14618, 8075]
}
if kind == "traffic" {
    for id in [UInt32(1), 2] {
        var capped = id == 1 ? offer : OfferConfig(id: 2, url: "https://shop.example/other?cid={click_id}&a={aff_id}&s1={sub1}")
        capped.caps.dailyClicks = 1 << 38
        capped.caps.monthlyClicks = 1 << 38
        capped.caps.totalClicks = 1 << 38
        capped.targeting.excludeCountries = ["CN", "RU"]
        capped.targeting.devices = ["desktop", "mobile", "tablet", "other"]
        capped.timezone = "America/New_York"
        if id == 1 { config.offers[0] = capped } else { config.offers.append(capped) }
    }
    var link = SmartLinkConfig()
    link.id = 1
    link.slug = "main"
    link.offers = [SmartLinkOfferConfig(offerID: 1, weight: 1), SmartLinkOfferConfig(offerID: 2, weight: 3)]
    config.smartlinks = [link]
}
if kind == "city" {
    config.geo.database = .mmdb
    config.geo.path = writeCityDatabase(dataDir + ".mmdb")
}
let endpoint = try LocalEndpoint(config: config)

/// A MaxMind City file covering every public IPv4 /8: a country, an ASN and one of a few city names.
func writeCityDatabase(_ path: String) -> String {
    let cities = ["Berlin", "São Paulo", "Zürich", "Osaka", "New York", "Lagos", "Melbourne", "Kraków"]
    var writer = MMDBWriter()
    for first in 1...223 {
        writer.insert(v4: (UInt8(first), 0, 0, 0), prefix: 8, .map([
            ("country", .map([("iso_code", .string(["DE", "BR", "CH", "JP", "US", "NG", "AU", "PL"][first % 8]))])),
            ("city", .map([("names", .map([("en", .string(cities[first % cities.count]))]))])),
            ("autonomous_system_number", .uint32(UInt32(64_512 + first))),
        ]))
    }
    let bytes = writer.file()
    guard let file = fopen(path, "wb"), fwrite(bytes, 1, bytes.count, file) == bytes.count, fclose(file) == 0 else {
        fatalError("cannot write \(path)")
    }
    return path
}

/// Clicks from many addresses and a few hundred agents, the most common far ahead (Zipf).
func mixedClicks() -> [[UInt8]] {
    var random = SplitMix64(state: 0x1234_5678)
    let templates: [(Int) -> String] = [
        { "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/\($0).0.0.0 Safari/537.36" },
        { "Mozilla/5.0 (iPhone; CPU iPhone OS 17_\($0) like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1" },
        { "Mozilla/5.0 (Linux; Android 14; SM-S9\($0)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36" },
        { "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_\($0)) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15" },
        { "Mozilla/5.0 (iPad; CPU OS 16_\($0) like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1" },
        { "Mozilla/5.0 (X11; Linux x86_64; rv:\($0).0) Gecko/20100101 Firefox/121.0" },
        { "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) v\($0)" },
    ]
    let agents = (0..<300).map { i in templates[i % templates.count](90 + i / 7) }
    let weights = (1...agents.count).map { 1.0 / Double($0) }
    let total = weights.reduce(0, +)
    func agent() -> String {
        var x = Double(random.next() % 1_000_000) / 1_000_000 * total
        for (i, w) in weights.enumerated() { x -= w; if x <= 0 { return agents[i] } }
        return agents[0]
    }
    let addresses = (0..<4096).map { _ -> String in
        let v = random.next()
        return "\(v % 223 + 1).\(v >> 8 & 255).\(v >> 16 & 255).\(v >> 24 & 254 + 1)"
    }
    return (0..<count).map { _ in
        let from = addresses[Int(random.next() % UInt64(addresses.count))]
        let text = "GET /click?offer_id=1&aff_id=7&sub1=k3x9q2mz&sub2=banner7&source=newsletter HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n"
            + "User-Agent: \(agent())\r\nX-Forwarded-For: \(from)\r\n\r\n"
        return Array(text.utf8)
    }
}

/// Every request, each as its own byte array.
func requests() -> [[UInt8]] {
    let click = Array("GET /click?offer_id=1&aff_id=7&sub1=k3x9q2mz&sub2=banner7&source=newsletter\(tail)".utf8)
    if kind == "click" { return Array(repeating: click, count: count) }
    if kind == "traffic" {
        return Array(repeating: Array("GET /s/main?aff_id=7&sub1=k3x9q2mz&sub2=banner7&source=newsletter\(tail)".utf8), count: count)
    }
    if kind == "mix" || kind == "city" { return mixedClicks() }
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
_ = system("rm -rf \(dataDir) \(dataDir).mmdb")
