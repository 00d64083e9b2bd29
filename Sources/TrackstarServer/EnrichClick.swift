// Enriching a click on its loop: country, network (and city, from a MaxMind City file) from the location database, device, OS and
// browser family from the loop's user-agent cache, and the bot rules — all from `TrackstarEnrich`,
// opened once per configuration (`Enrichment`) and swapped into every loop at SIGHUP.
import TrackstarCore
import TrackstarEnrich
import TrackstarIO
import TrackstarStore
import TrackstarConfiguration

/// The enrichment sources of one configuration, shared read-only by every loop: the location
/// database (re-read at each SIGHUP), the user-agent classifier, the compiled bot rules and the OS
/// and browser family names as bytes (so a click copies them without making a String).
final class Enrichment: @unchecked Sendable {  // immutable after init; the tables are read-only
    let geo: GeoDatabase?
    let classifier: UserAgentClassifier
    let bots: BotRules
    let osNames: FamilyNames
    let browserNames: FamilyNames
    /// The configuration it was opened from (a reload keeps the classifier when its file is the same).
    let settings: (geo: GeoConfig, bots: BotConfig)

    init(geo: GeoDatabase?, classifier: UserAgentClassifier, bots: BotRules, settings: (GeoConfig, BotConfig)) {
        self.geo = geo; self.classifier = classifier; self.bots = bots; self.settings = settings
        osNames = FamilyNames(classifier.osNames)
        browserNames = FamilyNames(classifier.browserNames)
    }

    /// Opens what `config` names; an error names the file and its line. `previous`'s classifier is
    /// kept when the rules file is unchanged (compiling uap-core's rules is the slow part).
    static func open(_ config: TrackstarConfig, previous: Enrichment? = nil) throws(StartupError) -> Enrichment {
        var geo: GeoDatabase?
        if let path = config.geo.resolvedPath {
            let maxMind = config.geo.database == .mmdb
            do { geo = try EnrichmentFiles.shared.geo(path, maxMind: maxMind) } catch {
                let remedy = maxMind ? "point path at a readable .mmdb file" : "install Debian's libloc-database, fix the path"
                throw StartupError("[geo] path \(path) (line \(config.geo.line)): \(error); \(remedy), or set database = \"off\"")
            }
        }
        let classifier: UserAgentClassifier
        if let previous, previous.settings.bots.userAgentRegexes == config.bots.userAgentRegexes {
            classifier = previous.classifier
        } else {
            do { classifier = try EnrichmentFiles.shared.classifier(config.bots.userAgentRegexes) } catch {
                throw StartupError("[bots] user_agent_regexes \(config.bots.userAgentRegexes) (line \(config.bots.line)): \(error); install Debian's uap-core or fix the path")
            }
        }
        let bots: BotRules
        do {
            bots = try BotRules(substrings: config.bots.userAgentSubstrings, cidrs: config.bots.networks, asns: config.bots.asns,
                                anonymousProxyIsBot: config.bots.anonymousProxy)
        } catch { throw StartupError("[bots] (line \(config.bots.line)): \(error)") }
        return Enrichment(geo: geo, classifier: classifier, bots: bots, settings: (config.geo, config.bots))
    }

    /// A loop's cache of user-agent answers in front of this classifier (16 bytes an entry).
    /// It keeps each agent's bot-substring verdict too, so it belongs to this `bots` as well.
    func makeCache() -> UserAgentCache { UserAgentCache(classifier: classifier, capacity: Enrichment.cacheEntries, bots: bots) }

    /// Whether loops may keep their agent caches made for `previous` (same classifier, same substrings).
    func keepsCaches(of previous: Enrichment) -> Bool {
        classifier === previous.classifier && bots.userAgentSubstrings == previous.bots.userAgentSubstrings
    }
    static let cacheEntries = 16_384
}

/// A loop's enrichment state: the shared sources and its own user-agent cache.
struct LoopEnrichment {
    var sources: Enrichment
    var cache: UserAgentCache
}

/// Family names by id as one byte buffer, so a click takes a name as a view (no String, no retain).
final class FamilyNames: @unchecked Sendable {  // immutable after init
    let bytes: UnsafeMutableRawPointer
    /// `count + 1` offsets into `bytes`; name i is `offsets[i]..<offsets[i + 1]`.
    let offsets: UnsafeMutablePointer<Int32>
    let count: Int

    init(_ names: [String]) {
        let utf8 = names.map { Array($0.utf8.prefix(ClickEnrichmentTail.maxNameBytes)) }
        count = utf8.count
        bytes = .allocate(byteCount: max(1, utf8.reduce(0) { $0 + $1.count }), alignment: 8)
        offsets = .allocate(capacity: count + 1)
        var at = 0
        for (i, name) in utf8.enumerated() {
            offsets[i] = Int32(at)
            name.withUnsafeBytes { if $0.count > 0 { (bytes + at).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            at += name.count
        }
        offsets[count] = Int32(at)
    }

    deinit { bytes.deallocate(); offsets.deallocate() }

    /// Name `id` (empty when out of range).
    @inline(__always)
    func name(_ id: UInt16) -> UnsafeRawBufferPointer {
        let i = Int(id)
        guard i < count else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let start = Int(offsets[i])
        return UnsafeRawBufferPointer(start: bytes + start, count: Int(offsets[i + 1]) - start)
    }
}

extension RequestHandler {
    /// The click's enrichment from its full (never truncated) address and its user agent: a range
    /// search in the location table, a hash probe in the loop's agent cache (uap-core's rules and the
    /// bot substrings on a miss, within the cache's budget), the bot rules. Allocates nothing.
    func enrich(_ exchange: Exchange, address: PeerAddress) -> ClickFacts {
        guard !engine.enrichmentOff else { return ClickFacts() }  // measurement hook: recorded unenriched
        let sources = state.pointee.enrich.sources
        let agent = exchange.bytes(exchange.head.userAgent, limit: 512)
        let place = sources.geo?.place(high: address.high, low: address.low) ?? GeoPlace(answer: .unknown)
        let geo = place.answer
        let answer = state.pointee.enrich.cache.lookup(agent)  // the bot-substring verdict is cached with it
        let device = answer.device
        let reason = sources.bots.check(agent: answer, geo: geo, high: address.high, low: address.low)
        var facts = ClickFacts()
        // TrackstarEnrich packs the first letter high; the record keeps it first in memory (low byte).
        facts.head = ClickEnrichmentHead(country: geo.country.byteSwapped, device: ClickDevice(rawValue: device.device.rawValue + 1) ?? .other,
                                         botReason: ClickBotReason(rawValue: reason.rawValue) ?? .none, unique: false)
        facts.asn = geo.asn
        facts.os = sources.osNames.name(device.os)
        facts.browser = sources.browserNames.name(device.browser)
        facts.city = place.city  // in `sources.geo`'s mapping, which the loop holds past the record's write
        return facts
    }
}

extension RuntimeCheck {
    /// What `check-config` adds to the catalog check: the files `[geo]` and `[bots]` name open and
    /// load as `serve` would load them (the problem's line is that of the key naming the file).
    public static func enrichmentProblem(in config: TrackstarConfig) -> ConfigProblem? {
        do { _ = try Enrichment.open(config) } catch {
            let line = error.description.contains("[geo]") ? config.geo.line : config.bots.line
            return ConfigProblem(line: line, message: error.description)
        }
        return nil
    }
}

/// The last location table and classifier loaded in this process, by file identity (device, inode,
/// size, modification time): a SIGHUP with the file unchanged, or another engine in the same process
/// (tests, benchmarks), reuses them instead of reading a million networks again; a changed file
/// (`location update` replaces it) is read anew.
final class EnrichmentFiles: @unchecked Sendable {  // guarded by `lock`
    static let shared = EnrichmentFiles()
    private var lock = pthread_mutex_t()
    private var geoEntry: (identity: FileIdentity, maxMind: Bool, table: GeoDatabase)?
    private var classifierEntry: (identity: FileIdentity, classifier: UserAgentClassifier)?

    init() { pthread_mutex_init(&lock, nil) }

    /// IPFire's table through libloc, or a MaxMind `.mmdb` file (`maxMind`).
    func geo(_ path: String, maxMind: Bool) throws -> GeoDatabase {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        let identity = FileIdentity(path)
        if let entry = geoEntry, let identity, entry.identity == identity, entry.maxMind == maxMind { return entry.table }
        let table = maxMind ? try GeoDatabase(maxMindPath: path) : try GeoDatabase(path: path)
        geoEntry = identity.map { ($0, maxMind, table) }
        return table
    }

    func classifier(_ path: String) throws -> UserAgentClassifier {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        let identity = FileIdentity(path)
        if let entry = classifierEntry, let identity, entry.identity == identity { return entry.classifier }
        let classifier = try UserAgentClassifier(regexesPath: path)
        classifierEntry = identity.map { ($0, classifier) }
        return classifier
    }
}

/// Which file a path names, and which version of it (symlinks followed).
struct FileIdentity: Equatable {
    let device: UInt64, inode: UInt64, size: Int64, modifiedSeconds: Int, modifiedNanoseconds: Int

    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev); inode = UInt64(info.st_ino); size = Int64(info.st_size)
        modifiedSeconds = info.st_mtim.tv_sec; modifiedNanoseconds = info.st_mtim.tv_nsec
    }
}

#if canImport(Glibc)
import Glibc
#endif
