// Benchmarks of click enrichment's per-click pieces (issue 13): an address lookup, a cached user
// agent, the bot check, and, for the record, an uncached classification and the cheap over-budget
// answer. None may allocate once warm (mallocCountTotal == 0 in Thresholds/).
import Benchmark
import TrackstarEnrich

let agents = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
].map { Array($0.utf8) }

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .cpuTotal, .mallocCountTotal, .throughput, .instructions]
    Benchmark.defaultConfiguration = .init(metrics: metrics, scalingFactor: .kilo, maxDuration: .seconds(2),
                                           maxIterations: 100_000)
    // Built once, outside any measurement (the geo table takes about a second).
    let geo = try! GeoDatabase(path: GeoDatabase.defaultPath)
    let classifier = try! UserAgentClassifier(regexesPath: UserAgentClassifier.defaultRegexesPath)
    let rules = try! BotRules(substrings: ["HeadlessChrome", "python-requests", "curl/", "PhantomJS"],
                              cidrs: ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"],
                              asns: [16509, 14618, 396982, 8075, 14061, 16276, 24940, 63949], anonymousProxyIsBot: true)
    let addresses: [(UInt64, UInt64)] = (0..<1024).map { i in (0, 0xFFFF_0000_0000 | UInt64(truncatingIfNeeded: i &* 2_654_435_761)) }

    // Names use no spaces (see RequestPaths: threshold files are named after them).
    Benchmark("Enrich_geo_lookup") { benchmark in
        for i in benchmark.scaledIterations {
            let (high, low) = addresses[i & 1023]
            blackHole(geo.lookup(high: high, low: low))
        }
    }

    Benchmark("Enrich_cached_user_agent") { benchmark in
        let cache = UserAgentCache(classifier: classifier, capacity: 4_096)
        for agent in agents { agent.withUnsafeBytes { blackHole(cache.classify($0)) } }
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations { agents[i & 3].withUnsafeBytes { blackHole(cache.classify($0)) } }
    }

    Benchmark("Enrich_bot_check") { benchmark in
        let device = DeviceAnswer(device: .desktop, os: 1, browser: 1, spider: false)
        for i in benchmark.scaledIterations {
            let (high, low) = addresses[i & 1023]
            let answer = GeoAnswer(country: 0x5553, asn: UInt32(truncatingIfNeeded: low & 0xFFFF), flags: [])
            agents[i & 3].withUnsafeBytes { blackHole(rules.check(ua: $0, device: device, geo: answer, high: high, low: low)) }
        }
    }

    Benchmark("Enrich_uncached_user_agent_(full_rules)") { benchmark in
        let scratch = classifier.makeScratch()
        agents[0].withUnsafeBytes { blackHole(classifier.classify($0, scratch: scratch)) }
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations { agents[i & 3].withUnsafeBytes { blackHole(classifier.classify($0, scratch: scratch)) } }
    }

    Benchmark("Enrich_quick_user_agent_(over_budget)") { benchmark in
        for i in benchmark.scaledIterations { agents[i & 3].withUnsafeBytes { blackHole(classifier.quickClassify($0)) } }
    }
}
