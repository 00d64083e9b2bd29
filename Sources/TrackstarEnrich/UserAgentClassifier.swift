// Device type, OS family and browser family of a user agent, by uap-core's rules (Debian's uap-core
// regexes.yaml) compiled with PCRE2's JIT. Immutable once loaded and shared by every loop; the mutable
// part of a match (PCRE2 match data, JIT stack, the agent's trigram set) lives in a UserAgentScratch
// each caller owns. A trigram prefilter skips every rule whose required literals the agent lacks.
#if canImport(Glibc)
import Glibc
#endif

/// uap-core's user-agent, OS and device rules, compiled; thread-safe with a scratch per thread.
public final class UserAgentClassifier: Sendable {
    /// Debian's uap-core rule file.
    public static let defaultRegexesPath = "/usr/share/uap-core/regexes.yaml"
    /// Bytes of an agent the rules see; the rest is ignored (real agents are under 300 bytes).
    public static let maxExaminedBytes = 512
    /// PCRE2's match limit per rule: a rule that needs more work than this counts as not matching.
    public static let matchLimit: UInt32 = 20_000

    /// The rule file this classifier was built from.
    public let path: String
    let browserRules: UAPRuleSet
    let osRules: UAPRuleSet
    let deviceRules: UAPRuleSet
    private let browsers: FamilyNames
    private let systems: FamilyNames
    private let kinds: DeviceKinds
    private let maxCaptures: Int

    /// Reads and compiles `regexesPath` (about a second in a release build). Throws an `EnrichError`
    /// naming the file (and the line, for a rule PCRE2 refuses) when it is missing, unreadable or not
    /// uap-core's format.
    public init(regexesPath: String = UserAgentClassifier.defaultRegexesPath) throws {
        let file = try UAPRuleFile(text: try Self.read(regexesPath), path: regexesPath)
        var browserNames = FamilyNamesBuilder(), osNames = FamilyNamesBuilder()
        browserRules = try UAPRuleSet(file.userAgent, replacementKey: "family_replacement", names: &browserNames, path: regexesPath)
        osRules = try UAPRuleSet(file.os, replacementKey: "os_replacement", names: &osNames, path: regexesPath)
        var unused = FamilyNamesBuilder()
        deviceRules = try UAPRuleSet(file.device, replacementKey: nil, names: &unused, path: regexesPath)
        path = regexesPath
        browsers = browserNames.build()
        systems = osNames.build()
        kinds = DeviceKinds(os: systems, browsers: browsers)
        maxCaptures = max(browserRules.maxCaptures, osRules.maxCaptures, deviceRules.maxCaptures)
    }

    /// A scratch for `classify(_:scratch:)`: one per thread (a cache owns one).
    public func makeScratch() -> UserAgentScratch {
        UserAgentScratch(matcher: PCRE2Matcher(captureCount: maxCaptures, matchLimit: Self.matchLimit))
    }

    /// Classifies `userAgent` with a scratch made for the call (allocates: tests and tools; loops use a
    /// `UserAgentCache`, which owns a scratch).
    public func classify(_ userAgent: UnsafeRawBufferPointer) -> DeviceAnswer {
        classify(userAgent, scratch: makeScratch())
    }

    /// Classifies `userAgent` (its first `maxExaminedBytes`) by the full rules, using `scratch`, which no
    /// other thread may use at the same time. No allocation.
    public func classify(_ userAgent: UnsafeRawBufferPointer, scratch: UserAgentScratch) -> DeviceAnswer {
        let agent = UnsafeRawBufferPointer(rebasing: userAgent.prefix(Self.maxExaminedBytes))
        guard !agent.isEmpty else { return .unknown }
        // 1. The agent's trigrams, for the prefilter.
        scratch.trigrams.fill(agent)
        // 2. Browser and OS: the first rule that matches names the family.
        let browser = browserRules.firstMatch(agent, scratch, filtered: true).map { browserRules.family($0, agent, scratch, browsers) } ?? 0
        let os = osRules.firstMatch(agent, scratch, filtered: true).map { osRules.family($0, agent, scratch, systems) } ?? 0
        // 3. Device: uap-core's spider rules are device rules; the first match decides.
        let spider = deviceRules.firstMatch(agent, scratch, filtered: true).map { deviceRules.isSpider($0) } ?? false
        return DeviceAnswer(device: kinds.deviceType(agent, spider: spider, os: os), os: os, browser: browser, spider: spider)
    }

    /// `classify(_:scratch:)` without the prefilter: every rule runs until the first match (the
    /// reference the prefilter is tested against, and the worst-case figure).
    public func classifyEveryRule(_ userAgent: UnsafeRawBufferPointer, scratch: UserAgentScratch) -> DeviceAnswer {
        let agent = UnsafeRawBufferPointer(rebasing: userAgent.prefix(Self.maxExaminedBytes))
        guard !agent.isEmpty else { return .unknown }
        let browser = browserRules.firstMatch(agent, scratch, filtered: false).map { browserRules.family($0, agent, scratch, browsers) } ?? 0
        let os = osRules.firstMatch(agent, scratch, filtered: false).map { osRules.family($0, agent, scratch, systems) } ?? 0
        let spider = deviceRules.firstMatch(agent, scratch, filtered: false).map { deviceRules.isSpider($0) } ?? false
        return DeviceAnswer(device: kinds.deviceType(agent, spider: spider, os: os), os: os, browser: browser, spider: spider)
    }

    /// A cheap answer from a few fixed tokens ("iPhone", "Android", "Windows", "bot", ...), with no
    /// regular expression: what a cache gives when a flood of new agents exceeds its budget.
    public func quickClassify(_ userAgent: UnsafeRawBufferPointer) -> DeviceAnswer {
        kinds.quick(UnsafeRawBufferPointer(rebasing: userAgent.prefix(Self.maxExaminedBytes)))
    }

    /// The OS family named by `id` ("Other" for 0 and unknown ids).
    public func osName(_ id: UInt16) -> String { systems.name(id) }
    /// The browser family named by `id` ("Other" for 0 and unknown ids).
    public func browserName(_ id: UInt16) -> String { browsers.name(id) }
    /// The id of an OS family name (any case), if the rules know it.
    public func osID(named name: String) -> UInt16? { systems.id(named: name) }
    /// The id of a browser family name (any case), if the rules know it.
    public func browserID(named name: String) -> UInt16? { browsers.id(named: name) }
    /// Every OS family name, indexed by id.
    public var osNames: [String] { systems.names }
    /// Every browser family name, indexed by id.
    public var browserNames: [String] { browsers.names }
    /// Rules compiled (user agent, OS, device) and how many of them have a prefilter.
    public var ruleCounts: (rules: Int, prefiltered: Int, jitCompiled: Int) {
        let sets = [browserRules, osRules, deviceRules]
        return (sets.reduce(0) { $0 + $1.count }, sets.reduce(0) { $0 + $1.prefilteredCount }, sets.reduce(0) { $0 + $1.jitCount })
    }

    private static func read(_ path: String) throws -> String {
        guard let file = fopen(path, "rb") else {
            throw EnrichError("user-agent rules \(path): cannot open (\(String(cString: strerror(errno)))); "
                + "install Debian's uap-core or set the path to uap-core's regexes.yaml")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count > 0 { bytes += buffer[0..<count] }
            if count < buffer.count {
                if ferror(file) != 0 { throw EnrichError("user-agent rules \(path): read failed") }
                break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The mutable state of one classification at a time: PCRE2 match data and JIT stack, the agent's
/// trigram set and a buffer to compose family names in. Not thread-safe: one per thread.
public final class UserAgentScratch {
    let matcher: PCRE2Matcher
    let trigrams = TrigramSet()
    let compose = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 8)

    init(matcher: PCRE2Matcher) { self.matcher = matcher }
    deinit { compose.deallocate() }

    /// Matches given up at PCRE2's limit (work bounded by `UserAgentClassifier.matchLimit`).
    public var limitHits: Int { matcher.limitHits }
}
