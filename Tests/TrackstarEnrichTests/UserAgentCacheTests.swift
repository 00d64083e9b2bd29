// The per-loop cache: the same answers as the classifier, bounded under a stream of distinct agents,
// keyed by the examined prefix, and degrading to cheap answers over its budget, upgraded later.
import Testing
@testable import TrackstarEnrich
import TrackstarTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct UserAgentCacheTests {
    @Test func answersAsTheClassifierDoes() throws {
        let classifier = try Shared.classifier.get()
        let scratch = classifier.makeScratch()
        let cache = UserAgentCache(classifier: classifier, capacity: 8_192, fullClassificationsPerSecond: .max, fullClassificationEvery: 0)
        let agents = try UAPCorpus.load("test_ua.yaml").map(\.agent) + UserAgentClassifierTests.samples
        // Twice round: the first pass fills the cache, the second must hit and still agree.
        for pass in 0..<2 {
            var differ: [String] = []
            for agent in agents {
                let direct = withBytes(agent) { classifier.classify($0, scratch: scratch) }
                let cached = withBytes(agent) { cache.classify($0) }
                if direct != cached { differ.append(agent) }
            }
            #expect(differ.isEmpty, "pass \(pass): \(differ.count) differ, e.g. \(differ.prefix(3))")
        }
        #expect(cache.hits >= agents.count - 64, "hits \(cache.hits) of \(agents.count) repeated agents")
        #expect(cache.quickClassifications == 0)
    }

    @Test func staysBoundedUnderDistinctAgents() throws {
        let classifier = try Shared.classifier.get()
        let cache = UserAgentCache(classifier: classifier, capacity: 1_000, fullClassificationsPerSecond: 100)
        #expect(cache.capacity == 1_024 && cache.tableBytes == 16 * 1_024)
        for index in 0..<20_000 {
            _ = withBytes("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/\(index).0 Safari/537.36") { cache.classify($0) }
        }
        #expect(cache.count <= cache.capacity && cache.count > cache.capacity / 2)
        #expect(cache.hits == 0)
        // Over the budget: most of the flood got the cheap answer, and the cheap answer is still right
        // about the basics.
        #expect(cache.quickClassifications > 10_000)
        #expect(cache.fullClassifications + cache.quickClassifications == 20_000)
        let answer = withBytes("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/5.0 Safari/537.36") { classifier.quickClassify($0) }
        #expect(answer.device == .desktop && classifier.osName(answer.os) == "Windows" && classifier.browserName(answer.browser) == "Chrome")
    }

    /// Under a flood of new agents at most one lookup in `fullClassificationEvery` (32 by default;
    /// plus a floor a second) runs the rules, whatever the rate: the regex work is a bounded share.
    @Test func aFloodIsFullyClassifiedAtMostOnceInItsShareOfLookups() throws {
        let classifier = try Shared.classifier.get()
        let cache = UserAgentCache(classifier: classifier, capacity: 8_192, fullClassificationsPerSecond: .max)
        func second() -> Int { var now = timespec(); clock_gettime(CLOCK_MONOTONIC_COARSE, &now); return Int(now.tv_sec) }
        let first = second()
        for index in 0..<4_000 {
            _ = withBytes("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.\(index) Safari/537.36") { cache.lookup($0) }
        }
        let seconds = second() - first + 1
        #expect(cache.fullClassifications + cache.quickClassifications == 4_000)
        #expect(cache.fullClassifications >= UserAgentCache.floorPerSecond)
        #expect(cache.fullClassificationEvery == 32)
        #expect(cache.fullClassifications <= seconds * UserAgentCache.floorPerSecond + 4_000 / 32 + seconds, "\(cache.fullClassifications) in \(seconds) s")
    }

    /// A provisional (cheap) entry becomes the full answer on a hit once budget is back.
    @Test func cheapAnswersAreUpgraded() throws {
        let classifier = try Shared.classifier.get()
        let cache = UserAgentCache(classifier: classifier, capacity: 64, fullClassificationsPerSecond: 0)
        let agent = UserAgentClassifierTests.googlebot
        let first = withBytes(agent) { cache.classify($0) }
        #expect(cache.quickClassifications == 1 && first.spider)   // the token "bot"
        let upgrading = UserAgentCache(classifier: classifier, capacity: 64, fullClassificationsPerSecond: 1)
        _ = withBytes("Other/1.0") { upgrading.classify($0) }                 // spends this second's budget...
        let cheap = withBytes(UserAgentClassifierTests.pixel) { upgrading.classify($0) }
        #expect(upgrading.quickClassifications == 1 && cheap.device == .mobile)
        // ...and a second later the same agent is classified in full (waits at most ~2 s for the clock).
        let full = withBytes(UserAgentClassifierTests.pixel) { classifier.classify($0) }
        let upgraded = eventually(within: 5, every: 0.01) {
            _ = withBytes(UserAgentClassifierTests.pixel) { upgrading.classify($0) }
            return upgrading.fullClassifications == 2
        }
        #expect(upgraded)
        #expect(withBytes(UserAgentClassifierTests.pixel) { upgrading.classify($0) } == full)
    }

    /// The bot-substring verdict kept with each answer equals a fresh scan, for every corpus agent,
    /// when first seen and when repeated, and so do the bot reasons made from it; the empty agent is
    /// answered without the table; over budget the cheap answer carries the verdict too.
    @Test func cachedSubstringVerdictsEqualAScan() throws {
        let classifier = try Shared.classifier.get()
        let bots = try BotRules(substrings: ["curl", "Python-", "HeadlessChrome", "okhttp"], cidrs: [], asns: [], anonymousProxyIsBot: false)
        let agents = try UAPCorpus.load("test_ua.yaml").map(\.agent) + UserAgentClassifierTests.samples
            + ["curl/8.5.0", "python-requests/2.31", "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0 Safari/537.36", "OKHTTP/4.9"]
        for budget in [Int.max, 0] {
            let cache = UserAgentCache(classifier: classifier, capacity: 8_192, fullClassificationsPerSecond: budget, fullClassificationEvery: 0, bots: bots)
            var listed = 0
            for pass in 0..<2 {
                var differ: [String] = []
                for agent in agents {
                    let answer = withBytes(agent) { cache.lookup($0) }
                    let scanned = withBytes(agent) { bots.listsSubstring(in: $0) }
                    let reason = withBytes(agent) { bots.check(ua: $0, device: answer.device, geo: .unknown, high: 0, low: 1) }
                    if answer.listedSubstring != scanned || bots.check(agent: answer, geo: .unknown, high: 0, low: 1) != reason { differ.append(agent) }
                    if pass == 0 && scanned { listed += 1 }
                }
                #expect(differ.isEmpty, "budget \(budget), pass \(pass): \(differ.prefix(3))")
            }
            #expect(listed >= 4 && cache.hits >= agents.count - 64)
        }
        let cache = UserAgentCache(classifier: classifier, capacity: 64, bots: bots)
        #expect(withBytes("") { cache.lookup($0) } == .emptyAgent && cache.count == 0)
        #expect(bots.check(agent: .emptyAgent, geo: .unknown, high: 0, low: 1) == .emptyUserAgent)
    }

    /// Only the examined prefix is the key: agents alike in their first 512 bytes share an entry, and
    /// agents of different lengths under it do not.
    @Test func keyIsTheExaminedPrefix() throws {
        let classifier = try Shared.classifier.get()
        let cache = UserAgentCache(classifier: classifier, capacity: 64, fullClassificationsPerSecond: .max, fullClassificationEvery: 0)
        let long = UserAgentClassifierTests.windowsChrome + String(repeating: "x", count: 600)
        _ = withBytes(long) { cache.classify($0) }
        _ = withBytes(long + "tail") { cache.classify($0) }
        #expect(cache.hits == 1 && cache.count == 1)
        _ = withBytes(UserAgentClassifierTests.windowsChrome) { cache.classify($0) }
        _ = withBytes(UserAgentClassifierTests.windowsChrome + " ") { cache.classify($0) }
        #expect(cache.hits == 1 && cache.count == 3)
    }

    /// The hash spreads near-identical agents: 100,000 agents that differ in one counter give 100,000
    /// distinct 64-bit hashes, and a different seed gives different hashes.
    @Test func hashSeparatesNearIdenticalAgents() {
        let hash = AgentHash(seed: 1), other = AgentHash(seed: 2)
        var seen = Set<UInt64>()
        var sameUnderBothSeeds = 0
        for index in 0..<100_000 {
            let (a, b) = withBytes("Mozilla/5.0 build \(index)") { (hash.hash($0), other.hash($0)) }
            seen.insert(a)
            if a == b { sameUnderBothSeeds += 1 }
        }
        #expect(seen.count == 100_000 && sameUnderBothSeeds == 0)
        #expect(withBytes("") { hash.hash($0) } != withBytes("\u{0}") { hash.hash($0) })
    }
}
