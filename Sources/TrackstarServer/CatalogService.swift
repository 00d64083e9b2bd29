// The live catalog: the config file's collections (the seed) overlaid with the changes in the catalog
// store. The merged document and the loader's model of it are kept between writes: a write reads only
// the object it changes, with the loader's own reader, runs the loader's cross checks on the model
// (CatalogModel.swift) and has the server recompile only that object (CatalogApply.swift).
#if canImport(Glibc)
import Glibc
#endif
import TrackstarCore
import TrackstarConfiguration

/// A catalog collection the API serves: a `[[name]]` array of tables in the config, keyed by one field
/// (or several, joined with `_`, `*` for an absent one), or a single table (`[bots]`). Adding a
/// collection is adding a line to `all`.
struct CatalogCollection: Sendable {
    /// The TOML key and the URL segment: `/api/v1/NAME`.
    let name: String
    let keyFields: [String]
    /// One table, not an array: read, replace and patch at `/api/v1/NAME`; its key is its name.
    var isSingleton = false

    static let all: [CatalogCollection] = [
        CatalogCollection(name: "offers", keyFields: ["id"]),
        CatalogCollection(name: "affiliates", keyFields: ["id"]),
        CatalogCollection(name: "postbacks", keyFields: ["aff_id", "offer_id", "event"]),
        CatalogCollection(name: "postback_profiles", keyFields: ["name"]),
        CatalogCollection(name: "smartlinks", keyFields: ["id"]),  // top-level [[smartlinks]] (issue 14)
        CatalogCollection(name: "bots", keyFields: [], isSingleton: true),  // [bots] (issue 13)
    ]

    static func named(_ name: String) -> CatalogCollection? { all.first { $0.name == name } }

    /// The object's key, nil when its (first) key field is missing or not a string or integer.
    func key(of object: CatalogValue) -> String? {
        if isSingleton { return name }
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

    /// What the server recompiles when an object of this collection with `key` changes.
    func scope(key: String) -> CatalogChangeScope {
        switch name {
        case "offers": UInt32(key).map { .offer($0) } ?? .everything
        case "affiliates": UInt32(key).map { .affiliate($0) } ?? .everything
        case "postbacks": .postbackRules
        case "smartlinks": .smartLinks
        case "bots": .bots
        default: .everything  // postback profiles: every offer reads its profile
        }
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
    /// The merged document (file and overlay) and the loader's model of it, kept between writes.
    private var document: CatalogValue = .object([])
    private var model: CatalogModel?
    /// Why the merged document did not load at start (nil when it did).
    private var startProblems: [CatalogProblem] = []
    /// Tokens made through the API (`tokens` changes in the store), oldest first.
    private(set) var apiTokens: [AdminToken] = []
    /// Applies a whole configuration to the running server (start, SIGHUP) and returns its notes; set by the server.
    var reloadAll: (@Sendable (TrackstarConfig) throws(StartupError) -> [String])?
    /// Applies one API change, recompiling only its scope; set by the server.
    var applyChange: (@Sendable (CatalogUpdate) throws(CatalogApplyFailure) -> Void)?

    /// Reads the store and checks, once, that the file and the stored changes still make a valid catalog.
    init(source: String, base: TrackstarConfig, store: CatalogStore) throws(StartupError) {
        pthread_mutex_init(&lock, nil)
        self.store = store
        self.base = base
        fileRoot = CatalogValue(.table(TOML.parse(source).root))
        changes = try store.load()
        for change in changes { remember(change) }
        document = CatalogService.merge(fileRoot, overlay)
        switch CatalogModel.load(document) {
        case .success(let loaded): model = loaded
        case .failure(let problems): startProblems = problems
        }
    }

    private func locked<T>(_ body: () throws(StartupError) -> T) throws(StartupError) -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return try body()
    }

    private func remember(_ change: CatalogChange) {
        if change.collection == ApiTokens.collection {
            apiTokens.removeAll { $0.name == change.key }
            if let after = change.after, let token = ApiTokens.token(after) { apiTokens.append(token) }
            return
        }
        var entries = overlay[change.collection] ?? []
        if let i = entries.firstIndex(where: { $0.key == change.key }) { entries[i].object = change.after } else {
            entries.append((change.key, change.after))
        }
        overlay[change.collection] = entries
    }

    /// Whether any catalog object was changed through the API (tokens aside).
    private var hasCatalogChanges: Bool { overlay.values.contains { !$0.isEmpty } }

    // MARK: Reading

    /// The merged document: the file with each collection's objects replaced, added or removed.
    var merged: CatalogValue { (try? locked { document }) ?? .object([]) }

    static func merge(_ root: CatalogValue, _ overlay: [String: [(key: String, object: CatalogValue?)]]) -> CatalogValue {
        var result = root
        for collection in CatalogCollection.all {
            guard let entries = overlay[collection.name], !entries.isEmpty else { continue }
            if collection.isSingleton {
                result = result.setting(collection.name, entries.last?.object)
                continue
            }
            var items: [CatalogValue] = []
            if case .array(let fileItems)? = root[collection.name] { items = fileItems }
            var byKey: [String: CatalogValue?] = [:]
            for entry in entries { byKey[entry.key] = entry.object }
            var seen = Set<String>()
            items = items.compactMap { item in
                guard let key = collection.key(of: item), let entry = byKey[key] else { return item }
                seen.insert(key)
                return entry
            }
            for entry in entries where !seen.contains(entry.key) { if let object = entry.object { items.append(object) } }
            result = result.setting(collection.name, items.isEmpty ? nil : .array(items))
        }
        return result
    }

    /// The live objects of a collection, in catalog order (a singleton's one object, `{}` when unset).
    func objects(_ collection: CatalogCollection) -> [CatalogValue] {
        let value = merged[collection.name]
        if collection.isSingleton { return [value ?? .object([])] }
        if case .array(let items)? = value { return items }
        return []
    }

    /// One live object, or nil.
    func object(_ collection: CatalogCollection, key: String) -> CatalogValue? {
        if collection.isSingleton { return key == collection.name ? objects(collection).first : nil }
        return objects(collection).first { collection.key(of: $0) == key }
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

    /// Loads a whole document with the config loader, as `check-config` would: the configuration, or
    /// every problem with its path. Used at start and SIGHUP, and by tests as the reference for writes.
    static func check(_ root: CatalogValue, objectPath: [String]? = nil) -> CheckResult {
        let (rendered, result) = CatalogModel.loadWhole(root)
        switch result {
        case .success(let config): return .success(config)
        case .failure(let failure):
            return .failure(failure.problems.map { problem in
                var path = rendered.path(ofLine: problem.line) ?? []
                if let objectPath, path.starts(with: objectPath) { path.removeFirst(objectPath.count) }
                return CatalogProblem(path: path.jsonPointer, line: problem.line, message: problem.message)
            })
        }
    }

    /// The configuration to run: the checked document's catalog with the sections the catalog does not
    /// hold (listener, storage, export, log, admin, delivery, geo, privacy) as started.
    static func overlay(_ checked: TrackstarConfig, onto base: TrackstarConfig) -> TrackstarConfig {
        var next = checked
        next.server = base.server; next.storage = base.storage; next.export = base.export; next.log = base.log
        next.admin = base.admin; next.delivery = base.delivery; next.geo = base.geo; next.privacy = base.privacy
        return next
    }

    /// The configuration to start with: `base` unchanged when no catalog change was ever stored.
    func startingConfig() throws(StartupError) -> TrackstarConfig {
        try locked { () throws(StartupError) -> TrackstarConfig in
            guard hasCatalogChanges else { return base }
            guard let model else {
                throw StartupError("the config file and the catalog log (\(changes.count) API changes) together are not a valid catalog: "
                                   + startProblems.map { "\($0.path): \($0.message)" }.joined(separator: "; ")
                                   + "; fix the file, or see `trackstar catalog export`")
            }
            return CatalogService.overlay(model.config, onto: base)
        }
    }

    /// SIGHUP: a new file (and its command-line overrides) under the same stored changes, applied
    /// under the lock (so no API write interleaves); throws, changing nothing, when they no longer make
    /// a valid catalog or the server refuses it. Returns the reload's notes.
    func reseed(source: String, base newBase: TrackstarConfig) throws(StartupError) -> [String] {
        try locked { () throws(StartupError) -> [String] in
            let root = CatalogValue(.table(TOML.parse(source).root))
            let nextDocument = CatalogService.merge(root, overlay)
            let loaded = CatalogModel.load(nextDocument)
            let next: TrackstarConfig
            if !hasCatalogChanges {
                next = newBase
            } else {
                switch loaded {
                case .success(let checked): next = CatalogService.overlay(checked.config, onto: newBase)
                case .failure(let problems):
                    throw StartupError("with the catalog log's changes the new file is not a valid catalog: "
                                       + problems.map { "\($0.path): \($0.message)" }.joined(separator: "; "))
                }
            }
            let notes = try reloadAll?(next) ?? []
            fileRoot = root
            base = newBase
            document = nextDocument
            switch loaded {
            case .success(let checked): model = checked; startProblems = []
            case .failure(let problems): model = nil; startProblems = problems
            }
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
    /// Costs what the object costs: its own reading, the model's cross checks and its own compile.
    func write(_ collection: CatalogCollection, key: String, object: CatalogValue?, action: String, who: String,
               expectedTag: String?, mustExist: Bool, mustNotExist: Bool, nowMillis: Int64) -> WriteOutcome {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        guard let model else {
            return .invalid(startProblems.isEmpty ? [CatalogProblem(path: "", line: 0, message: "the catalog did not load")] : startProblems)
        }
        var items: [CatalogValue] = []
        if case .array(let current)? = document[collection.name] { items = current }
        let index = collection.isSingleton ? (document[collection.name] == nil ? nil : 0) : items.firstIndex { collection.key(of: $0) == key }
        let before = collection.isSingleton ? (document[collection.name] ?? .object([])) : index.map { items[$0] }
        if mustExist && before == nil { return .notFound }
        if mustNotExist && before != nil { return .exists }
        if before == nil && object == nil { return .notFound }
        let position = index ?? items.count
        let next: CatalogValue
        if collection.isSingleton {
            next = document.setting(collection.name, object)
        } else {
            if let index { if let object { items[index] = object } else { items.remove(at: index) } } else { items.append(object!) }
            next = document.setting(collection.name, items.isEmpty ? nil : .array(items))
        }
        let checked: CatalogModel.Pending
        switch model.writing(collection, key: key, object: object, position: position, replacing: index != nil, document: next) {
        case .failure(let problems): return .invalid(problems)
        case .success(let pending): checked = pending
        }
        // The precondition after the checks (RFC 9110 §13.2.1: just before the change would be made).
        if let expectedTag, !expectedTag.isEmpty, !CatalogService.tagMatches(expectedTag, before) {
            return .stale(current: before.map(CatalogService.etag) ?? "none")
        }
        let scope = collection.scope(key: key)
        do {
            try applyChange?(CatalogUpdate(config: CatalogService.overlay(checked.config, onto: base), scope: scope))
        } catch {
            return .invalid([model.problem(error.problem, writing: collection, key: key, in: next, pending: checked)])
        }
        let change = CatalogChange(sequence: Int64(changes.count + 1), atMillis: nowMillis, who: who, collection: collection.name,
                                   key: key, action: action, before: before, after: object)
        do {
            try store.append(change)
        } catch {
            // Back to what is stored: the same scope compiled from the model as it is.
            try? applyChange?(CatalogUpdate(config: CatalogService.overlay(model.config, onto: base), scope: scope))
            return .unavailable(error.description)
        }
        document = next
        self.model?.commit(checked)
        changes.append(change)
        remember(change)
        return .stored(object, change)
    }

    /// Stores a token change (`after` nil: revoked) made by `who`; the store holds its SHA-256, never the token.
    func writeToken(name: String, after: AdminToken?, action: String, who: String, nowMillis: Int64) -> WriteOutcome {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        let before = apiTokens.first { $0.name == name }
        let change = CatalogChange(sequence: Int64(changes.count + 1), atMillis: nowMillis, who: who, collection: ApiTokens.collection,
                                   key: name, action: action, before: before.map(ApiTokens.value), after: after.map(ApiTokens.value))
        do { try store.append(change) } catch { return .unavailable(error.description) }
        changes.append(change)
        remember(change)
        return .stored(change.after, change)
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
