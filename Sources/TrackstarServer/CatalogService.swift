// The live catalog: the config file's collections (the seed) overlaid with the changes in the catalog
// store. Every write is checked by rendering the merged document as TOML and loading it with the very
// loader `check-config` uses, then applied to every loop through the reload path, then stored.
#if canImport(Glibc)
import Glibc
#endif
import TrackstarCore
import TrackstarConfiguration

/// A catalog collection the API serves: a `[[name]]` array of tables in the config, keyed by one field
/// (or several, joined with `_`, `*` for an absent one). Adding a collection is adding a line to `all`.
struct CatalogCollection: Sendable {
    /// The TOML key and the URL segment: `/api/v1/NAME`.
    let name: String
    let keyFields: [String]

    static let all: [CatalogCollection] = [
        CatalogCollection(name: "offers", keyFields: ["id"]),
        CatalogCollection(name: "affiliates", keyFields: ["id"]),
        CatalogCollection(name: "postbacks", keyFields: ["aff_id", "offer_id", "event"]),
        CatalogCollection(name: "postback_profiles", keyFields: ["name"]),
        CatalogCollection(name: "smartlinks", keyFields: ["id"]),  // top-level [[smartlinks]] (issue 14)
    ]

    static func named(_ name: String) -> CatalogCollection? { all.first { $0.name == name } }

    /// The object's key, nil when its (first) key field is missing or not a string or integer.
    func key(of object: CatalogValue) -> String? {
        var parts: [String] = []
        for (i, field) in keyFields.enumerated() {
            switch object[field] {
            case .integer(let v)?: parts.append(String(v))
            case .string(let s)?: parts.append(s)
            case nil where i > 0: parts.append("*")
            default: return nil
            }
        }
        return parts.joined(separator: "_")
    }
}

/// A problem with a write: the field (a JSON Pointer into the written object when the problem is in
/// it, else into the whole catalog) and check-config's message.
struct CatalogProblem: Sendable {
    var path: String
    var line: Int
    var message: String
}

/// A document checked by the config loader.
enum CheckResult {
    case success(TrackstarConfig)
    case failure([CatalogProblem])
}

/// The live catalog and its history. All methods take the lock: the admin loop writes, and SIGHUP
/// (the main thread) re-reads the file.
final class CatalogService: @unchecked Sendable {  // every field behind `lock`
    private var lock = pthread_mutex_t()
    let store: CatalogStore
    /// The config file's document (the seed).
    private var fileRoot: CatalogValue
    /// Every stored change, oldest first (the audit log).
    private(set) var changes: [CatalogChange] = []
    /// Per collection: the API's latest version of each object it touched (nil: archived), in first-touch order.
    private var overlay: [String: [(key: String, object: CatalogValue?)]] = [:]
    /// The configuration as started (file plus command-line overrides): the sections the catalog does not hold.
    private var base: TrackstarConfig
    /// Applies a configuration to the running server (the reload path) and returns its notes; set by the server.
    var apply: (@Sendable (TrackstarConfig) throws(StartupError) -> [String])?

    /// Reads the store and checks that the file and the stored changes still make a valid catalog.
    init(source: String, base: TrackstarConfig, store: CatalogStore) throws(StartupError) {
        pthread_mutex_init(&lock, nil)
        self.store = store
        self.base = base
        fileRoot = CatalogValue(.table(TOML.parse(source).root))
        changes = try store.load()
        for change in changes { remember(change) }
    }

    private func locked<T>(_ body: () throws(StartupError) -> T) throws(StartupError) -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return try body()
    }

    private func remember(_ change: CatalogChange) {
        var entries = overlay[change.collection] ?? []
        if let i = entries.firstIndex(where: { $0.key == change.key }) { entries[i].object = change.after } else {
            entries.append((change.key, change.after))
        }
        overlay[change.collection] = entries
    }

    // MARK: Reading

    /// The merged document: the file with each collection's objects replaced, added or removed.
    var merged: CatalogValue { (try? locked { mergedLocked() }) ?? .object([]) }

    private func mergedLocked() -> CatalogValue { merge(fileRoot, overlay) }

    private func merge(_ root: CatalogValue, _ overlay: [String: [(key: String, object: CatalogValue?)]]) -> CatalogValue {
        var result = root
        for collection in CatalogCollection.all {
            guard let entries = overlay[collection.name], !entries.isEmpty else { continue }
            var items: [CatalogValue] = []
            if case .array(let fileItems)? = root[collection.name] { items = fileItems }
            var seen = Set<String>()
            items = items.compactMap { item in
                guard let key = collection.key(of: item), let entry = entries.first(where: { $0.key == key }) else { return item }
                seen.insert(key)
                return entry.object
            }
            for entry in entries where !seen.contains(entry.key) { if let object = entry.object { items.append(object) } }
            result = result.setting(collection.name, items.isEmpty ? nil : .array(items))
        }
        return result
    }

    /// The live objects of a collection, in catalog order.
    func objects(_ collection: CatalogCollection) -> [CatalogValue] {
        if case .array(let items)? = merged[collection.name] { return items }
        return []
    }

    /// One live object, or nil.
    func object(_ collection: CatalogCollection, key: String) -> CatalogValue? {
        objects(collection).first { collection.key(of: $0) == key }
    }

    /// Whether the key was archived through the API (and not created again).
    func isArchived(_ collection: CatalogCollection, key: String) -> Bool {
        (try? locked { overlay[collection.name]?.contains { $0.key == key && $0.object == nil } ?? false }) ?? false
    }

    /// The merged catalog as a TOML file `check-config` accepts (`trackstar catalog export`).
    func exportTOML() -> String {
        CatalogTOML.render(merged, header: "# The live catalog: the config file with the changes made through the management API\n# (trackstar catalog export). check-config accepts it; serve it to start from it.\n").text
    }

    // MARK: Checking

    /// Loads a document with the config loader: the configuration, or every problem with its path.
    static func check(_ root: CatalogValue, objectPath: [String]? = nil) -> CheckResult {
        let rendered = CatalogTOML.render(root)
        let problems: [ConfigProblem]
        switch ConfigLoader.load(text: rendered.text) {
        case .success(let config):
            guard let problem = RuntimeCheck.problem(in: config) else { return .success(config) }
            problems = [problem]
        case .failure(let failure): problems = failure.problems
        }
        return .failure(problems.map { problem in
            var path = rendered.path(ofLine: problem.line) ?? []
            if let objectPath, path.starts(with: objectPath) { path.removeFirst(objectPath.count) }
            return CatalogProblem(path: path.jsonPointer, line: problem.line, message: problem.message)
        })
    }

    /// The configuration to run: the checked document's catalog with the sections the catalog does not
    /// hold (listener, storage, export, log, admin, delivery, geo, privacy) as started.
    static func overlay(_ checked: TrackstarConfig, onto base: TrackstarConfig) -> TrackstarConfig {
        var next = checked
        next.server = base.server; next.storage = base.storage; next.export = base.export; next.log = base.log
        next.admin = base.admin; next.delivery = base.delivery; next.geo = base.geo; next.privacy = base.privacy
        return next
    }

    /// The configuration to start with: `base` unchanged when no change was ever stored.
    func startingConfig() throws(StartupError) -> TrackstarConfig {
        try locked { () throws(StartupError) -> TrackstarConfig in
            guard !changes.isEmpty else { return base }
            switch CatalogService.check(mergedLocked()) {
            case .success(let checked): return CatalogService.overlay(checked, onto: base)
            case .failure(let problems):
                throw StartupError("the config file and the catalog log (\(changes.count) API changes) together are not a valid catalog: "
                                   + problems.map { "\($0.path): \($0.message)" }.joined(separator: "; ")
                                   + "; fix the file, or see `trackstar catalog export`")
            }
        }
    }

    /// SIGHUP: a new file (and its command-line overrides) under the same stored changes, applied
    /// under the lock (so no API write interleaves); throws, changing nothing, when they no longer make
    /// a valid catalog or the server refuses it. Returns the reload's notes.
    func reseed(source: String, base newBase: TrackstarConfig) throws(StartupError) -> [String] {
        try locked { () throws(StartupError) -> [String] in
            let root = CatalogValue(.table(TOML.parse(source).root))
            let next: TrackstarConfig
            if changes.isEmpty {
                next = newBase
            } else {
                switch CatalogService.check(merge(root, overlay)) {
                case .success(let checked): next = CatalogService.overlay(checked, onto: newBase)
                case .failure(let problems):
                    throw StartupError("with the catalog log's changes the new file is not a valid catalog: "
                                       + problems.map { "\($0.path): \($0.message)" }.joined(separator: "; "))
                }
            }
            let notes = try apply?(next) ?? []
            fileRoot = root
            base = newBase
            return notes
        }
    }

    // MARK: Writing

    /// What a write came to.
    enum WriteOutcome {
        case stored(CatalogValue?, CatalogChange)
        case notFound
        case exists
        case stale(current: String)
        case invalid([CatalogProblem])
        case unavailable(String)
    }

    /// Creates, replaces or archives (`object` nil) one object. `expectedTag`: the If-Match value.
    func write(_ collection: CatalogCollection, key: String, object: CatalogValue?, action: String, who: String,
               expectedTag: String?, mustExist: Bool, mustNotExist: Bool, nowMillis: Int64) -> WriteOutcome {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        let root = mergedLocked()
        var items: [CatalogValue] = []
        if case .array(let current)? = root[collection.name] { items = current }
        let index = items.firstIndex { collection.key(of: $0) == key }
        let before = index.map { items[$0] }
        if mustExist && before == nil { return .notFound }
        if mustNotExist && before != nil { return .exists }
        if before == nil && object == nil { return .notFound }
        let objectPath: [String]
        if let index {
            if let object { items[index] = object } else { items.remove(at: index) }
            objectPath = [collection.name, String(index)]
        } else {
            items.append(object!)
            objectPath = [collection.name, String(items.count - 1)]
        }
        let next = root.setting(collection.name, items.isEmpty ? nil : .array(items))
        let config: TrackstarConfig
        switch CatalogService.check(next, objectPath: object == nil ? nil : objectPath) {
        case .failure(let problems): return .invalid(problems)
        case .success(let checked): config = CatalogService.overlay(checked, onto: base)
        }
        // The precondition after the checks (RFC 9110 §13.2.1: just before the change would be made).
        if let expectedTag, !expectedTag.isEmpty, !CatalogService.tagMatches(expectedTag, before) {
            return .stale(current: before.map(CatalogService.etag) ?? "none")
        }
        do { _ = try apply?(config) } catch { return .invalid([CatalogProblem(path: "", line: 0, message: error.description)]) }
        let change = CatalogChange(sequence: Int64(changes.count + 1), atMillis: nowMillis, who: who, collection: collection.name,
                                   key: key, action: action, before: before, after: object)
        do {
            try store.append(change)
        } catch {
            if case .success(let previous) = CatalogService.check(root) {  // back to what is stored
                _ = try? apply?(CatalogService.overlay(previous, onto: base))
            }
            return .unavailable(error.description)
        }
        changes.append(change)
        remember(change)
        return .stored(object, change)
    }

    /// The entity tag of an object: a hash of its JSON, quoted.
    static func etag(_ object: CatalogValue) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a 64
        for byte in object.json.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "\""
    }

    /// If-Match: `*` matches any existing object; otherwise one of the listed tags must be the current one.
    static func tagMatches(_ header: String, _ current: CatalogValue?) -> Bool {
        guard let current else { return false }
        let tags = header.split(separator: ",").map { $0.trimmingSpaces }
        if tags.contains("*") { return true }
        let tag = etag(current)
        return tags.contains { $0 == tag || $0 == "W/" + tag }
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

/// Reads a configuration file's text (for the catalog seed).
public enum ConfigSource {
    /// The file's text, or why it cannot be read.
    public static func read(_ path: String) throws(StartupError) -> String { try FileText.read(path) }
}

extension CatalogService {
    /// Creates the data dir (and its parents) if missing, so the catalog log can be read before the engine opens it.
    static func makeDataDir(_ path: String) throws(StartupError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw StartupError("cannot create \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// `trackstar catalog export`, offline: the file and the data dir's catalog log, merged.
public enum CatalogExport {
    /// The merged catalog as TOML; throws when the log cannot be read.
    public static func toml(source: String, config: TrackstarConfig) throws(StartupError) -> String {
        let service = try CatalogService(source: source, base: config, store: CatalogFileLog(dataDir: config.storage.dataDir))
        return service.exportTOML()
    }
}
