// libFuzzer harness: whole requests through the real request handler (`LocalEndpoint`: the engine,
// its data dir, the catalog, the click and postback routes, the conversion index), not the parser
// alone. The input is read as a list of choices that build one request — method, path, parameters
// from every accepted spelling and random names, values that are random bytes, numbers of every width
// (with dots, commas, signs, exponents), valid click IDs minted earlier in the run, mangled IDs,
// event, status and currency words — sent as a query, a form body, a JSON body (the same members, as
// strings, numbers, null or something a flat object must not hold, sometimes with raw bytes spliced
// in), a body of another media type, with proxy headers, `Expect: 100-continue`, or a missing or
// invalid Host. An input whose first byte has its low nibble 0 is sent as raw bytes instead.
//
// Checks, beyond "no trap, no sanitizer report": every answer is one HTTP/1.1 response with a known
// status, never 500 (a 500 is an invariant the engine broke), and a click's 302 names the offer's
// landing page. Valid IDs from clicks that answered 302 feed later postbacks, so the conversion paths
// (index claims, repeats, conflicts, index_full) are reached, not only the refusals.
import FuzzSupport
import TrackstarCore
import TrackstarConfiguration
@testable import TrackstarServer
#if canImport(Glibc)
import Glibc
#endif

/// The catalog the requests run against: every rule the postback path checks, the largest ids and
/// the largest number of events an offer may have.
let configText: String = {
    var text = """
    [server]
    trusted_proxies = ["127.0.0.0/8", "::1/128"]
    max_value_bytes = 64

    [[offers]]
    id = 1
    url = "https://shop.example/landing?cid={click_id}&a={aff_id}&s1={sub1}&s2={sub2}&ac={aff_click_id}&src={source}&t={timestamp}"
    payout = 2.50
    revenue = 4.00
      [offers.events.upsell]
      payout = 1.00

    [[offers]]
    id = 2
    url = "https://paused.example/?cid={click_id}"
    fallback_url = "https://fallback.example/?o={offer_id}"
    status = "paused"

    [[offers]]
    id = 3
    url = "https://guarded.example/?cid={click_id}"
    token = "adv-secret"
    allowed_ips = ["127.0.0.0/8"]
    payout = 999999999999.999999

    [[offers]]
    id = 4
    url = "https://slow.example/?cid={click_id}"
    min_conversion_delay = "1h"
    click_lifetime = "1d"

    [[offers]]
    id = 5
    url = "https://multi.example/?cid={click_id}"
    multiple_conversions = true
    currency = "EUR"

    [[offers]]
    id = 4294967295
    url = "https://max.example/?cid={click_id}&o={offer_id}&a={aff_id}"

    [[offers]]
    id = 6
    url = "https://events.example/?cid={click_id}"

    """
    for i in 1...OfferConfig.maxEvents { text += "  [offers.events.e\(i)]\n  payout = \(i)\n" }
    text += """

    [[affiliates]]
    id = 7

    [[affiliates]]
    id = 8
    status = "paused"

    [[affiliates]]
    id = 4294967295
    """
    return text
}()

/// One engine with its own data dir; replaced every `generationLength` inputs so disk stays bounded.
final class Harness {
    static let generationLength = 50_000
    var endpoint: LocalEndpoint
    var dataDir: String
    var generation = 0
    var executions = 0
    /// Click IDs minted by this engine (from 302 answers), as text.
    var ids: [[UInt8]] = []
    var request: [UInt8] = []

    init() {
        (endpoint, dataDir) = Harness.open(generation: 0)
        request.reserveCapacity(1 << 16)
    }

    static func open(generation: Int) -> (LocalEndpoint, String) {
        let dir = "/tmp/trackstar-fuzz-requests-\(getpid())-\(generation)"
        _ = system("rm -rf \(dir)")
        guard case .success(var config) = ConfigLoader.load(text: configText) else { fatalError("harness config does not load") }
        config.storage.dataDir = dir
        config.storage.fsync = .none
        config.storage.maxConversions = 1 << 12  // small: index_full is a path too
        do { return (try LocalEndpoint(config: config), dir) } catch { fatalError("engine: \(error)") }
    }

    func nextInput() {
        executions += 1
        if executions % Harness.generationLength == 0 {
            generation += 1
            let old = dataDir
            (endpoint, dataDir) = Harness.open(generation: generation)
            _ = system("rm -rf \(old)")
            ids.removeAll(keepingCapacity: true)
        }
    }
}

let harness = Harness()
/// FUZZ_REQUESTS_STATS=1 prints how often each status was answered when the run ends, to see that
/// the conversion paths (200) are reached, not only refusals.
let statistics = getenv("FUZZ_REQUESTS_STATS") != nil
var statusCounts: [Int: Int] = [:]
let printStatistics: Void = {
    if statistics {
        atexit { for (status, count) in statusCounts.sorted(by: { $0.key < $1.key }) { print("status \(status): \(count)") } }
    }
}()
let now: Int64 = 1_790_000_000_000

/// The fuzzer's bytes, read front to back as choices; zeros once they run out.
struct Choices {
    let data: UnsafeRawBufferPointer
    var at = 0
    var isEmpty: Bool { at >= data.count }
    mutating func byte() -> UInt8 {
        guard at < data.count else { return 0 }
        defer { at += 1 }
        return data[at]
    }
    mutating func pick<T>(_ items: [T]) -> T { items[Int(byte()) % items.count] }
    mutating func bytes(upTo limit: Int) -> ArraySlice<UInt8> {
        let n = min(Int(byte()) % (limit + 1), data.count - min(at, data.count))
        defer { at += n }
        return n == 0 ? [] : Array(data[at..<(at + n)])[...]
    }
}

let names: [[UInt8]] = ParamField.spellings.map {
    Array(UnsafeRawBufferPointer(start: $0.0.utf8Start, count: $0.0.utf8CodeUnitCount))
} + ["payout", "revenue", "sum", "goal_id", "adv_sub", "tid", "cnv_id", "click-id", "CLICK_ID", "click_id%00", ""].map { Array($0.utf8) }
let words: [String] = [
    "conversion", "upsell", "e1", "e254", "e255", "e256", "approved", "pending", "rejected", "APPROVED", "sale",
    "lead", "1", "0", "2", "3", "4", "5", "6", "7", "8", "USD", "EUR", "JPY", "usd", "XYZ", "US", "USDD", "{transaction_id}", "{{txid}}", "${amount}",
    "%25", "%", "%zz", "%00", "+", "a+b", "a%20b", "adv-secret", "ADV-SECRET", "order-1", "order-1 ", "\t", "-", "=",
    "&", "?", "#", "\u{200B}", "4294967295", "4294967296", "18446744073709551616", "-1", "+5", " 1", "1e3", "1e308",
    "NaN", "inf", "0x10", "1,5", "12,34", "1.", ".5", "1..2", "0.0000001", "999999999999.999999", "1000000000000",
]
let methods = ["GET", "HEAD", "POST", "PUT", "get", "OPTIONS", "DELETE", "POST"]
let paths = ["/click", "/postback", "/postback", "/healthz", "/metrics", "/click/", "/Postback", "/", "/click%3F"]

/// Appends a value of the kind the next choice names.
func appendValue(_ c: inout Choices, to out: inout [UInt8]) {
    switch c.byte() % 10 {
    case 0: out += c.bytes(upTo: 80)  // raw bytes, escapes and all
    case 1, 2:  // a number of any width, sometimes with a dot, comma, sign or exponent
        let width = Int(c.byte()) % 41
        let mark = c.byte()
        if mark & 0x30 == 0x10 { out.append(UInt8(ascii: "-")) }
        for i in 0..<width {
            if width > 1 && i == Int(mark) % width && mark & 0xC0 != 0 {
                out.append(mark & 0x40 != 0 ? UInt8(ascii: ".") : UInt8(ascii: ","))
            } else {
                out.append(UInt8(ascii: "0") + c.byte() % 10)
            }
        }
        if mark & 0x0F == 1 { out += Array("e9".utf8) }
    case 3, 4:  // a valid ID, as minted or with its case changed
        guard !harness.ids.isEmpty else { out += Array("0000000000000000000000000".utf8); return }
        let id = harness.ids[Int(c.byte()) % harness.ids.count]
        out += c.byte() & 1 == 0 ? id : id.map { $0 | 0x20 }
    case 5:  // a valid ID with one character changed, cut or extended
        guard !harness.ids.isEmpty else { return }
        var id = harness.ids[Int(c.byte()) % harness.ids.count]
        let at = Int(c.byte()) % id.count
        switch c.byte() % 3 {
        case 0: id[at] = c.byte()
        case 1: id.removeLast(at)
        default: id.insert(c.byte(), at: at)
        }
        out += id
    default:
        out += Array(c.pick(words).utf8)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = printStatistics
    harness.nextInput()
    var c = Choices(data: UnsafeRawBufferPointer(start: data, count: size))
    var out = harness.request
    out.removeAll(keepingCapacity: true)
    let mode = c.byte()
    let nowMillis = now + Int64(c.byte()) * 3_600_000 - 48 * 3_600_000
    if mode & 0x0F == 0 {
        out += UnsafeRawBufferPointer(rebasing: c.data[min(1, size)...])
    } else {
        let method = c.pick(methods)
        let path = c.pick(paths)
        let inBody = method == "POST" && c.byte() & 1 == 0
        var query: [UInt8] = []
        var members: [(name: [UInt8], value: [UInt8])] = []
        for i in 0..<(Int(c.byte()) % 12) {
            if i > 0 { query.append(c.byte() & 0x1F == 0 ? UInt8(ascii: ";") : UInt8(ascii: "&")) }
            let nameChoice = c.byte()
            let name = nameChoice < 200 ? names[Int(nameChoice) % names.count] : Array(c.bytes(upTo: 12))
            query += name
            if nameChoice & 0x07 != 0x07 { query.append(UInt8(ascii: "=")) }
            var value: [UInt8] = []
            appendValue(&c, to: &value)
            query += value
            members.append((name, value))
        }
        out += Array(method.utf8) + [UInt8(ascii: " ")] + Array(path.utf8)
        if !inBody && !query.isEmpty { out += [UInt8(ascii: "?")] + query }
        out += Array(" HTTP/1.1\r\n".utf8)
        switch mode & 0xF0 {
        case 0xF0: break  // no Host: 400
        case 0xE0: out += Array("Host: a b\r\n".utf8)  // an invalid Host: 400
        default: out += Array("Host: t\r\n".utf8)
        }
        let headers = c.byte()
        if headers & 1 != 0 {
            out += Array("X-Forwarded-For: ".utf8)
            appendValue(&c, to: &out)
            out += Array(", 127.0.0.1\r\n".utf8)
        }
        if headers & 2 != 0 { out += Array("Connection: close\r\n".utf8) }
        if headers & 0x80 != 0 { out += Array("Expect: 100-continue\r\n".utf8) }
        if inBody {
            var body = query
            switch headers & 0x70 {
            case 0x10, 0x20, 0x30:
                body = json(members, &c)
                out += Array("Content-Type: application/json\r\n".utf8)
            case 0x40: out += Array("Content-Type: text/plain\r\n".utf8)  // 415
            case 0x50: break  // no Content-Type: 415
            default: out += Array("Content-Type: application/x-www-form-urlencoded\r\n".utf8)
            }
            out += Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
        } else {
            out += Array("\r\n".utf8)
        }
    }
    let isClick = out.starts(with: Array("GET /click?".utf8))
    out.withUnsafeBytes { input in
        let answer = harness.endpoint.handle(input, nowMillis: nowMillis)
        check(answer, isClick: isClick)
    }
    harness.request = out
    return 0
}

/// `members` as a JSON object: each value a string (escaped as JSON requires, or every byte as `\u00XX`),
/// the literal when it looks like a number, null, or something a flat object must not hold; sometimes
/// raw bytes replace a value, to reach the syntax errors.
func json(_ members: [(name: [UInt8], value: [UInt8])], _ c: inout Choices) -> [UInt8] {
    let escapeAll = c.byte() & 1 == 1
    func string(_ bytes: [UInt8], to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for b in bytes {
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                out += [UInt8(ascii: "\\"), b]
            } else if b < 0x20 || (escapeAll && b < 0x80) {
                out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)]]
            } else {
                out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
    var out: [UInt8] = [UInt8(ascii: "{")]
    for (k, member) in members.enumerated() {
        if k > 0 { out.append(UInt8(ascii: ",")) }
        string(member.name, to: &out)
        out.append(UInt8(ascii: ":"))
        let numeric = !member.value.isEmpty && member.value.allSatisfy { ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 || $0 == 101 }
        switch c.byte() % 12 {
        case let k where k < 3 && numeric: out += member.value
        case 3: out += Array("null".utf8)
        case 4: out += Array(c.pick(["true", "{}", "[1]", "1e3", "-0", "\"\\ud800\"", "\"\\u00e9\\ud83d\\ude00\"", "01"]).utf8)
        case 5: out += c.bytes(upTo: 6)
        default: string(member.value, to: &out)
        }
    }
    out.append(UInt8(ascii: "}"))
    return out
}

/// Every answer is an HTTP/1.1 response with a known status other than 500; a click's 302 goes to
/// an offer's page, and its click ID is kept for later postbacks.
func check(_ answer: UnsafeRawBufferPointer, isClick: Bool) {
    guard answer.count > 0 else { return }  // an incomplete request waits for more input
    let head = Array(answer.prefix(12))
    require(head.count == 12 && head.starts(with: Array("HTTP/1.1 ".utf8)), "not an HTTP response: \(show(answer.prefix(64)))")
    let status = head[9...11].reduce(0) { $0 * 10 + Int($1) - 48 }
    if statistics { statusCounts[status, default: 0] += 1 }
    let known: Set<Int> = [100, 200, 204, 302, 400, 403, 404, 405, 408, 409, 410, 413, 414, 415, 422, 429, 431, 501, 503, 505, 507]
    require(known.contains(status), "status \(status): \(show(answer.prefix(400)))")
    guard isClick, status == 302 else { return }
    let text = Array(answer)
    let marker = Array("cid=".utf8)
    let location = Array("\r\nLocation: https://".utf8)
    require(text.count > 64 && (0...(text.count - location.count)).contains { text[$0..<($0 + location.count)].elementsEqual(location) },
            "302 without an https Location: \(show(answer.prefix(400)))")
    // The paused offer's fallback page carries no click id.
    guard let start = (0...(text.count - marker.count)).first(where: { text[$0..<($0 + marker.count)].elementsEqual(marker) }) else { return }
    let id = Array(text[(start + 4)...].prefix(26))
    guard id.count == 26, id.allSatisfy({ $0 >= 48 && $0 <= 90 }) else { return }  // the fallback page carries none
    if harness.ids.count < 256 { harness.ids.append(id) } else { harness.ids[Int(id[25]) % 256] = id }
}

