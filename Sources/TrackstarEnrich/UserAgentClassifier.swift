// Device type, OS family and browser family of a user agent, by uap-core's rules (Debian's uap-core
// regexes.yaml) compiled with PCRE2's JIT. Immutable once loaded and shared by every loop; the mutable
// part of a match (PCRE2 match data, JIT stack) lives in a UserAgentScratch each caller owns.

/// uap-core's user-agent, OS and device rules, compiled; thread-safe with a scratch per thread.
public final class UserAgentClassifier: Sendable {
    /// Debian's uap-core rule file.
    public static let defaultRegexesPath = "/usr/share/uap-core/regexes.yaml"
    /// Bytes of an agent the rules see; the rest is ignored (real agents are under 300 bytes).
    public static let maxExaminedBytes = 512

    /// The rule file this classifier was built from.
    public let path: String
    private let names: FamilyNames

    /// Reads and compiles `regexesPath`. Throws an `EnrichError` naming the file (and the line, for a
    /// rule PCRE2 refuses) when it is missing, unreadable or not uap-core's format.
    public init(regexesPath: String = UserAgentClassifier.defaultRegexesPath) throws {
        path = regexesPath
        names = FamilyNames(os: ["Other"], browsers: ["Other"])
    }

    /// A scratch for `classify(_:scratch:)`: one per thread (a cache owns one).
    public func makeScratch() -> UserAgentScratch { UserAgentScratch() }

    /// Classifies `userAgent` with a scratch made for the call (allocates: tests and tools; loops use a
    /// `UserAgentCache`, which owns a scratch).
    public func classify(_ userAgent: UnsafeRawBufferPointer) -> DeviceAnswer {
        classify(userAgent, scratch: makeScratch())
    }

    /// Classifies `userAgent` (its first `maxExaminedBytes`) by the full rules, using `scratch`, which no
    /// other thread may use at the same time. No allocation.
    public func classify(_ userAgent: UnsafeRawBufferPointer, scratch: UserAgentScratch) -> DeviceAnswer {
        quickClassify(userAgent)
    }

    /// A cheap answer from a few fixed tokens ("iPhone", "Android", "Windows", "bot", ...), with no
    /// regular expression: what a cache gives when a flood of new agents exceeds its budget.
    public func quickClassify(_ userAgent: UnsafeRawBufferPointer) -> DeviceAnswer {
        .unknown
    }

    /// The OS family named by `id` ("Other" for 0 and unknown ids).
    public func osName(_ id: UInt16) -> String { names.os(id) }
    /// The browser family named by `id` ("Other" for 0 and unknown ids).
    public func browserName(_ id: UInt16) -> String { names.browser(id) }
    /// The id of an OS family name, if the rules know it.
    public func osID(named name: String) -> UInt16? { names.osID(name) }
    /// The id of a browser family name, if the rules know it.
    public func browserID(named name: String) -> UInt16? { names.browserID(name) }
    /// Every OS family name, indexed by id.
    public var osNames: [String] { names.osNames }
    /// Every browser family name, indexed by id.
    public var browserNames: [String] { names.browserNames }
}

/// The mutable state of one classification at a time: PCRE2 match data and JIT stack, and the agent's
/// trigram set for the prefilter. Not thread-safe: one per thread.
public final class UserAgentScratch {
    init() {}
}

/// Interned OS and browser family names; id 0 is "Other".
struct FamilyNames: Sendable {
    let osNames: [String]
    let browserNames: [String]
    private let osIDs: [String: UInt16]
    private let browserIDs: [String: UInt16]

    init(os: [String], browsers: [String]) {
        osNames = os; browserNames = browsers
        osIDs = Dictionary(os.enumerated().map { ($1, UInt16($0)) }, uniquingKeysWith: { a, _ in a })
        browserIDs = Dictionary(browsers.enumerated().map { ($1, UInt16($0)) }, uniquingKeysWith: { a, _ in a })
    }

    func os(_ id: UInt16) -> String { Int(id) < osNames.count ? osNames[Int(id)] : "Other" }
    func browser(_ id: UInt16) -> String { Int(id) < browserNames.count ? browserNames[Int(id)] : "Other" }
    func osID(_ name: String) -> UInt16? { osIDs[name] }
    func browserID(_ name: String) -> UInt16? { browserIDs[name] }
}
