// Click enrichment figures (issue 13), in process: geo table load time and memory, address lookup
// cost; user-agent classification cost uncached (every agent of uap-core's corpora, with and without
// the prefilter, typical and worst), the worst agent we could build, the cheap over-budget answer,
// cached hits on a Zipf mix of a few hundred agents, the cache's memory, and the bot check.
// Usage: swift build -c release --product EnrichFigures && .build/release/EnrichFigures [lookups]
import TrackstarCore
import TrackstarEnrich
import FigureSupport
#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds per operation over `batches` batches of `size` operations: the fastest batch (the
/// figure least disturbed by other processes on a shared machine) and the median batch.
func perOperation(batches: Int = 200, size: Int = 1_000, _ body: (Int) -> Void) -> (best: Double, median: Double) {
    var samples: [Double] = []
    var operation = 0
    for _ in 0..<batches {
        let start = nowNanos()
        for _ in 0..<size { body(operation); operation += 1 }
        samples.append(Double(nowNanos() - start) / Double(size))
    }
    samples.sort()
    return (samples[0], samples[samples.count / 2])
}

func show(_ figures: (best: Double, median: Double), _ unit: String = "ns", scale: Double = 1) -> String {
    "\(fixed(figures.best / scale)) \(unit) (median batch \(fixed(figures.median / scale)) \(unit))"
}

/// xorshift64*: reproducible inputs without Foundation.
struct Random {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

func readLines(_ path: String, prefix: String) -> [String] {
    guard let file = fopen(path, "rb") else { return [] }
    defer { fclose(file) }
    var result: [String] = []
    var line = [CChar](repeating: 0, count: 8192)
    while fgets(&line, 8192, file) != nil {
        let text = String(cString: line)
        guard let range = text.firstRange(of: prefix) else { continue }
        var value = text[range.upperBound...].drop(while: { $0 == " " })
        while value.last == "\n" || value.last == "\r" { value = value.dropLast() }
        if let quote = value.first, quote == "'" || quote == "\"", value.count >= 2 { value = value.dropFirst().dropLast() }
        result.append(String(value).replacingOccurrencesOfDoubledQuote())
    }
    return result
}

extension String {
    func replacingOccurrencesOfDoubledQuote() -> String { replacing("''", with: "'") }
}

let lookups = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 2_000_000 : 2_000_000
var random = Random(state: 0x9E37_79B9_7F4A_7C15)

// 1. Geo.
let rssStart = rssBytes()
var started = nowNanos()
let geo = try GeoDatabase(path: GeoDatabase.defaultPath)
let geoLoadMillis = Double(nowNanos() - started) / 1e6
print("geo: \(geo.networkCount) networks -> \(geo.rangeCount) ranges, table \(mib(geo.tableBytes)), RSS +\(mib(rssBytes() - rssStart)) after load, load \(fixed(geoLoadMillis, 0)) ms")
var v4 = [(UInt64, UInt64)](), v6 = [(UInt64, UInt64)]()
for _ in 0..<lookups {
    v4.append((0, 0xFFFF_0000_0000 | (random.next() & 0xFFFF_FFFF)))
    v6.append((0x2000_0000_0000_0000 | (random.next() >> 3), random.next()))
}
var checksum: UInt64 = 0
for (name, addresses) in [("IPv4", v4), ("IPv6", v6)] {
    let figures = perOperation { index in
        let (high, low) = addresses[index % addresses.count]
        checksum &+= UInt64(geo.lookup(high: high, low: low).asn)
    }
    print("geo lookup, random \(name): \(show(figures))")
}

// 2. User agents, uncached.
let rssBeforeClassifier = rssBytes()
started = nowNanos()
let classifier = try UserAgentClassifier(regexesPath: UserAgentClassifier.defaultRegexesPath)
let counts = classifier.ruleCounts
print("classifier: \(counts.rules) rules, \(counts.prefiltered) with a prefilter, \(counts.jitCompiled) JIT-compiled, load \(fixed(Double(nowNanos() - started) / 1e6, 0)) ms, RSS +\(mib(rssBytes() - rssBeforeClassifier))")
let agents = ["test_ua.yaml", "test_os.yaml", "test_device.yaml"].flatMap {
    readLines("/usr/share/uap-core/tests/" + $0, prefix: "user_agent_string:")
}
let scratch = classifier.makeScratch()
/// Per agent, the fastest of three classifications (a preempted run is not the agent's cost).
func costs(_ agents: [String], _ body: (UnsafeRawBufferPointer) -> DeviceAnswer) -> (mean: Double, p50: Double, p99: Double, max: Double, worst: String) {
    var samples: [(Double, Int)] = []
    for (index, agent) in agents.enumerated() {
        let bytes = Array(agent.utf8)
        var best = Double.infinity
        for _ in 0..<3 {
            let start = nowNanos()
            _ = bytes.withUnsafeBytes(body)
            best = min(best, Double(nowNanos() - start))
        }
        samples.append((best, index))
    }
    let sorted = samples.sorted { $0.0 < $1.0 }
    let mean = samples.reduce(0) { $0 + $1.0 } / Double(samples.count)
    return (mean, sorted[sorted.count / 2].0, sorted[sorted.count * 99 / 100].0, sorted.last!.0, agents[sorted.last!.1])
}
_ = costs(agents) { classifier.classify($0, scratch: scratch) }   // warm the JIT code and caches
for (name, run) in [("with prefilter", { (agent: UnsafeRawBufferPointer) in classifier.classify(agent, scratch: scratch) }),
                    ("every rule (no prefilter)", { (agent: UnsafeRawBufferPointer) in classifier.classifyEveryRule(agent, scratch: scratch) })] {
    let figures = costs(agents, run)
    print("uncached classify, \(agents.count) corpus agents, \(name): mean \(fixed(figures.mean / 1000)) µs, p50 \(fixed(figures.p50 / 1000)) µs, "
        + "p99 \(fixed(figures.p99 / 1000)) µs, max \(fixed(figures.max / 1000)) µs (\(figures.worst.prefix(80)))")
}
// A hostile agent: 512 bytes of the tokens the most rules wait for, so the prefilter lets most through.
let hostile = String(String(repeating: "Mozilla/5.0 (Linux; Android 9; iPhone; Windows NT; Mobile; bot; crawler; Build/) Version/1 Chrome/1 Safari/1 ", count: 6).prefix(512))
for (name, text) in [("hostile 512-byte agent", hostile), ("typical desktop Chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36")] {
    let bytes = Array(text.utf8)
    var best = Double.infinity
    for _ in 0..<50 {
        let start = nowNanos()
        _ = bytes.withUnsafeBytes { classifier.classify($0, scratch: scratch) }
        best = min(best, Double(nowNanos() - start))
    }
    print("uncached classify, \(name): \(fixed(best / 1000)) µs (best of 50)")
}
let corpusBytes = agents.map { Array($0.utf8) }
let quickFigures = perOperation(batches: 100, size: 100) { index in
    checksum &+= corpusBytes[index % corpusBytes.count].withUnsafeBytes { UInt64(classifier.quickClassify($0).os) }
}
print("quick (over-budget) classify, corpus agents: \(show(quickFigures))")

// 3. Cached: a Zipf(1) mix over 300 distinct agents from the corpus.
let distinct = Array(agents.prefix(300)).map { Array($0.utf8) }
var weights: [Double] = (1...distinct.count).map { 1 / Double($0) }
let total = weights.reduce(0, +)
var cumulative = 0.0
weights = weights.map { cumulative += $0 / total; return cumulative }
var sequence: [Int] = []
for _ in 0..<lookups {
    let u = Double(random.next() >> 11) / Double(1 << 53)
    var low = 0, high = weights.count - 1
    while low < high { let middle = (low + high) / 2; if weights[middle] < u { low = middle + 1 } else { high = middle } }
    sequence.append(low)
}
let cache = UserAgentCache(classifier: classifier, capacity: 4_096)
for agent in distinct { _ = agent.withUnsafeBytes { cache.classify($0) } }
let buffers = distinct.map { bytes -> UnsafeRawBufferPointer in
    let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
    bytes.withUnsafeBytes { raw.copyMemory(from: $0) }
    return UnsafeRawBufferPointer(raw)
}
let meanLength = Double(distinct.reduce(0) { $0 + $1.count }) / Double(distinct.count)
let hitsBefore = cache.hits
let cachedFigures = perOperation(batches: max(1, sequence.count / 1_000)) { index in
    checksum &+= UInt64(cache.classify(buffers[sequence[index % sequence.count]]).device.rawValue)
}
print("cached classify, Zipf over \(distinct.count) agents (mean \(fixed(meanLength, 0)) bytes): \(show(cachedFigures)), "
    + "\(cache.hits - hitsBefore) hits, \(cache.fullClassifications) misses")
for capacity in [4_096, 65_536, 1 << 20] {
    let sized = UserAgentCache(classifier: classifier, capacity: capacity)
    print("cache of \(capacity) entries: table \(mib(sized.tableBytes)) (16 bytes an entry)")
}

// 4. A flood of distinct agents through one cache with the default budget.
let flood = UserAgentCache(classifier: classifier, capacity: 4_096)
var floodAgent = Array("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0000000.0 Safari/537.36".utf8)
let floodFigures = perOperation { index in
    var value = index
    for position in (84..<91).reversed() { floodAgent[position] = UInt8(48 + value % 10); value /= 10 }
    checksum &+= UInt64(floodAgent.withUnsafeBytes { flood.classify($0) }.device.rawValue)
}
print("flood of 200000 distinct agents, budget \(flood.fullClassificationsPerSecond)/s: \(show(floodFigures)) per agent "
    + "(\(flood.fullClassifications) full, \(flood.quickClassifications) cheap), table holds \(flood.count) of \(flood.capacity)")

// 5. Bot rules, as a config with a few of each would compile them.
let rules = try BotRules(substrings: ["HeadlessChrome", "python-requests", "curl/", "Go-http-client", "PhantomJS", "Selenium", "scrapy", "wget"],
                         cidrs: (0..<50).map { "198.\($0).0.0/16" } + ["2001:db8::/32"],
                         asns: [16509, 14618, 396982, 15169, 8075, 14061, 16276, 24940, 63949, 20473, 45102, 132203],
                         anonymousProxyIsBot: true)
let human = DeviceAnswer(device: .desktop, os: 1, browser: 1, spider: false)
let botFigures = perOperation { step in
    let (high, low) = v4[step % v4.count]
    let answer = GeoAnswer(country: 0x5553, asn: UInt32(truncatingIfNeeded: low % 70_000), flags: [])
    checksum &+= UInt64(rules.check(ua: buffers[sequence[step % sequence.count]], device: human, geo: answer, high: high, low: low).rawValue)
}
print("bot check (8 substrings, 51 networks, 12 ASNs), Zipf agents: \(show(botFigures))")
print("RSS at the end: \(mib(rssBytes())) (checksum \(checksum % 1000))")
