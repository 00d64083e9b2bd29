// The per-loop user-agent cache: a repeated agent costs one hash of its first bytes and one cache-line
// probe, which also answers whether it contains a configured bot substring (scanned once per agent).
// A miss runs the full uap-core classification while the loop's budget lasts (per second: a cap, and
// one per `fullClassificationEvery` lookups beyond a small floor); over budget (a flood of new agents)
// it answers from a few cheap token checks and marks the entry provisional, so a later hit with budget
// to spare upgrades it. Not thread-safe: one per loop.
#if canImport(Glibc)
import Glibc
#endif

/// A fixed-size cache of user-agent classifications for one loop; allocates nothing after init.
public final class UserAgentCache {
    /// The classifier misses go to.
    public let classifier: UserAgentClassifier
    /// The bot rules whose user-agent substrings are looked for once per agent and cached.
    public let bots: BotRules
    /// Full classifications allowed per second; misses beyond it get `quickClassify`'s answer.
    public let fullClassificationsPerSecond: Int
    private let storage: AgentCacheStorage
    private let hasher = AgentHash()
    private let scratch: UserAgentScratch
    /// At most one full classification per this many lookups in a second (beyond `floorPerSecond`),
    /// so the regex work stays a bounded share of the clicks at any rate; 0: no such limit.
    public let fullClassificationEvery: Int
    /// Full classifications a second allowed whatever the share (a quiet loop still learns agents).
    public static let floorPerSecond = 64
    private var budget: Int
    private var budgetSecond: Int = -1
    private var lookupsThisSecond = 0, fullThisSecond = 0

    /// Counts since init: hits, full classifications and cheap (over-budget) answers.
    public private(set) var hits = 0, fullClassifications = 0, quickClassifications = 0

    /// A cache of at least `capacity` entries (rounded up to a power of two, 4 or more) in front of
    /// `classifier`. Memory: 16 bytes per entry plus the classifier scratch (about 40 KB of PCRE2 match
    /// data and JIT stack), all allocated here. `fullClassificationsPerSecond` bounds the regex work a
    /// flood of new agents can cause (at a typical ~20 µs each, 2,000/s is at most 4% of a core).
    /// `bots`' substrings are scanned for on each miss and the verdict kept with the answer, so the
    /// cache belongs to those rules: make a new one when they change.
    public init(classifier: UserAgentClassifier, capacity: Int, fullClassificationsPerSecond: Int = 2_000, fullClassificationEvery: Int = 32,
                bots: BotRules = .none) {
        self.classifier = classifier
        self.fullClassificationEvery = max(0, fullClassificationEvery)
        self.bots = bots
        self.fullClassificationsPerSecond = max(0, fullClassificationsPerSecond)
        storage = AgentCacheStorage(capacity: max(1, capacity))
        scratch = classifier.makeScratch()
        budget = self.fullClassificationsPerSecond
    }

    /// Entries the cache holds when full.
    public var capacity: Int { storage.capacity }
    /// Bytes of the cache table (the scratch not included).
    public var tableBytes: Int { storage.bytes }
    /// Entries in use (scans the table: for tests and figures).
    public var count: Int { storage.occupiedCount() }

    /// The classification of `userAgent`: cached, or computed and cached. The key is a hash of the
    /// bytes the classifier examines (the first `UserAgentClassifier.maxExaminedBytes`) and their count.
    @inline(__always)
    public func classify(_ userAgent: UnsafeRawBufferPointer) -> DeviceAnswer { lookup(userAgent).device }

    /// The classification of `userAgent` and whether one of `bots`' substrings occurs in its examined
    /// bytes: one probe when cached; computed and cached on a miss (`.emptyAgent` for an empty one).
    @inline(__always)
    public func lookup(_ userAgent: UnsafeRawBufferPointer) -> AgentAnswer {
        if userAgent.isEmpty { return .emptyAgent }
        lookupsThisSecond &+= 1
        let examined = UnsafeRawBufferPointer(rebasing: userAgent.prefix(UserAgentClassifier.maxExaminedBytes))
        let hash = hasher.hash(examined)
        if let found = storage.find(hash: hash, length: examined.count) {
            if !found.provisional || !takeBudget() {
                hits += 1
                return found.answer
            }
            // A cheap answer with budget to spare now: make it the real one (the substring verdict stays).
            let answer = AgentAnswer(device: classifier.classify(examined, scratch: scratch), listedSubstring: found.answer.listedSubstring)
            fullClassifications += 1
            storage.replace(slot: found.slot, length: examined.count, answer: answer)
            return answer
        }
        return miss(examined, hash: hash)
    }

    private func miss(_ examined: UnsafeRawBufferPointer, hash: UInt64) -> AgentAnswer {
        let listed = bots.listsSubstring(in: examined)
        if takeBudget() {
            let answer = AgentAnswer(device: classifier.classify(examined, scratch: scratch), listedSubstring: listed)
            fullClassifications += 1
            storage.insert(hash: hash, length: examined.count, answer: answer, provisional: false)
            return answer
        }
        let answer = AgentAnswer(device: classifier.quickClassify(examined), listedSubstring: listed)
        quickClassifications += 1
        storage.insert(hash: hash, length: examined.count, answer: answer, provisional: true)
        return answer
    }

    /// Takes one full classification from this second's budget, if any is left: under the cap, and
    /// (with `fullClassificationEvery`) under one per that many lookups plus the floor.
    private func takeBudget() -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now)
        let second = Int(now.tv_sec)
        if second != budgetSecond {
            budgetSecond = second
            budget = fullClassificationsPerSecond
            lookupsThisSecond = 1
            fullThisSecond = 0
        }
        guard budget > 0 else { return false }
        if fullClassificationEvery > 0,
           fullThisSecond >= UserAgentCache.floorPerSecond + lookupsThisSecond / fullClassificationEvery { return false }
        budget -= 1
        fullThisSecond += 1
        return true
    }
}
