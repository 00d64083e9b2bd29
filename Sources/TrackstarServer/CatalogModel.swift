// The loader's model of the live catalog, kept between API writes so that a write costs what its object
// costs: the object alone is rendered and read by the loader's own reader (`readCatalogObject`), put in
// place in the model, and the loader's cross checks run on the model. Lines are numbered across all
// objects ever read, so a problem's line still names the object (and field) it is about.
import TrackstarConfiguration

/// A check's answer: the value, or every problem with its path.
enum CatalogChecked<Value> {
    case success(Value)
    case failure([CatalogProblem])
}

/// What one API change touched: the server recompiles only that (CatalogApply.swift).
enum CatalogChangeScope: Sendable, Equatable {
    case offer(UInt32)
    case affiliate(UInt32)
    case postbackRules
    case smartLinks
    case bots
    /// Sender profiles, or anything whose effect is not one object's: everything is compiled again.
    case everything
}

/// A checked configuration for the server and the part of it that changed.
struct CatalogUpdate: Sendable {
    let config: TrackstarConfig
    let scope: CatalogChangeScope
}

/// Why the server did not take a checked change: a compile problem (an unknown time zone, a template)
/// with the line of the object it is about, or a refusal that is not about one field.
enum CatalogApplyFailure: Error {
    case problem(ConfigProblem)
    case refused(String)

    var problem: ConfigProblem {
        switch self {
        case .problem(let problem): problem
        case .refused(let why): ConfigProblem(line: 0, message: why)
        }
    }
}

/// The checked catalog and which object each of its lines belongs to.
struct CatalogModel: Sendable {
    /// The loader's model of the whole document (the catalog sections are the live ones).
    private(set) var config: TrackstarConfig
    struct LineOwner: Sendable {
        let collection: String
        let key: String
        /// The line's path inside the object.
        let path: [String]
    }
    private var owners: [Int: LineOwner] = [:]
    /// The lines each object's last reading used, by `collection/key`.
    private var linesOf: [String: Range<Int>] = [:]
    /// The first line number no object has used.
    private var nextLine = 1

    /// A whole document rendered as TOML and loaded as `check-config` loads a file (loader, then
    /// RuntimeCheck): the rendering (each line's path) and the configuration, or every problem.
    static func loadWhole(_ document: CatalogValue) -> (RenderedTOML, Result<TrackstarConfig, ConfigProblems>) {
        let rendered = CatalogTOML.render(document)
        switch ConfigLoader.load(text: rendered.text) {
        case .success(let loaded):
            if let problem = RuntimeCheck.problem(in: loaded) { return (rendered, .failure(ConfigProblems([problem]))) }
            return (rendered, .success(loaded))
        case .failure(let problems): return (rendered, .failure(problems))
        }
    }

    /// A whole document checked as `check-config` checks a file (start and SIGHUP).
    static func load(_ document: CatalogValue) -> CatalogChecked<CatalogModel> {
        let (rendered, result) = loadWhole(document)
        let config: TrackstarConfig
        switch result {
        case .success(let loaded): config = loaded
        case .failure(let failure):
            return .failure(failure.problems.map {
                CatalogProblem(path: (rendered.path(ofLine: $0.line) ?? []).jsonPointer, line: $0.line, message: $0.message)
            })
        }
        var model = CatalogModel(config: config)
        for (offset, path) in rendered.paths.enumerated() {
            guard let first = path.first, let collection = CatalogCollection.named(first) else { continue }
            let line = offset + 1
            if collection.isSingleton {
                model.own(line, LineOwner(collection: first, key: first, path: Array(path.dropFirst())))
            } else if path.count >= 2, let index = Int(path[1]), case .array(let items)? = document[first], index < items.count,
                      let key = collection.key(of: items[index]) {
                model.own(line, LineOwner(collection: first, key: key, path: Array(path.dropFirst(2))))
            }
        }
        model.nextLine = rendered.paths.count + 1
        return .success(model)
    }

    private init(config: TrackstarConfig) { self.config = config }

    private mutating func own(_ line: Int, _ owner: LineOwner) {
        owners[line] = owner
        let id = owner.collection + "/" + owner.key
        let lines = linesOf[id].map { min($0.lowerBound, line)..<max($0.upperBound, line + 1) } ?? line..<line + 1
        linesOf[id] = lines
    }

    private mutating func forget(_ collection: String, _ key: String) {
        guard let lines = linesOf.removeValue(forKey: collection + "/" + key) else { return }
        for line in lines where owners[line]?.key == key && owners[line]?.collection == collection { owners[line] = nil }
    }

    /// A checked write, to `commit` once the server has it and the store holds it.
    struct Pending: Sendable {
        /// The model's configuration with the write in place.
        let config: TrackstarConfig
        let collection: String
        let key: String
        /// The owners of the written object's lines (none when archived).
        let lines: [Int: LineOwner]
        let nextLine: Int
    }

    /// `object` written as `key` of `collection` at `position` (0-based; `replacing` the object there,
    /// else added there), or archived (`object` nil), checked: every problem check-config would print,
    /// with its path. `document` is the document after the write (for the paths of problems about other
    /// objects). The model itself is unchanged until `commit`; the configuration is copied (a plain
    /// struct), the line table is not.
    func writing(_ collection: CatalogCollection, key: String, object: CatalogValue?, position: Int, replacing: Bool,
                 document: CatalogValue) -> CatalogChecked<Pending> {
        var next = config
        var lines: [Int: LineOwner] = [:]
        var after = nextLine
        if let object {
            let wrapped: CatalogValue = collection.isSingleton ? .object([(collection.name, object)]) : .object([(collection.name, .array([object]))])
            let rendered = CatalogTOML.render(wrapped)
            let first = nextLine, depth = collection.isSingleton ? 1 : 2
            let read: CatalogObjectConfig
            switch ConfigLoader.readCatalogObject(collection.name, text: rendered.text, position: position + 1, firstLine: first) {
            case .success(let object): read = object
            case .failure(let problems):
                return .failure(problems.map {
                    CatalogProblem(path: Array((rendered.path(ofLine: $0.line - first + 1) ?? []).dropFirst(depth)).jsonPointer, line: $0.line, message: $0.message)
                })
            }
            for (offset, path) in rendered.paths.enumerated() where path.count >= depth {
                lines[first + offset] = LineOwner(collection: collection.name, key: key, path: Array(path.dropFirst(depth)))
            }
            after = first + rendered.paths.count + 1
            next.place(read, at: position, replacing: replacing)
        } else {
            next.remove(collection.name, at: position)
        }
        let pending = Pending(config: next, collection: collection.name, key: key, lines: lines, nextLine: after)
        let problems = ConfigLoader.crossCheck(next)
        guard problems.isEmpty else {
            return .failure(problems.map { problem($0, writing: object == nil ? nil : collection, key: key, in: document, pending: pending) })
        }
        return .success(pending)
    }

    /// Takes a checked write: its configuration, and its object's lines in place of the old ones.
    mutating func commit(_ pending: Pending) {
        config = pending.config
        forget(pending.collection, pending.key)
        for (line, owner) in pending.lines { own(line, owner) }
        nextLine = pending.nextLine
    }

    /// A loader problem with the path of its field: inside the written object when it is about that
    /// object, else from the catalog's root (`/offers/3/url`); "" when its line names no object.
    func problem(_ problem: ConfigProblem, writing collection: CatalogCollection?, key: String, in document: CatalogValue,
                 pending: Pending? = nil) -> CatalogProblem {
        guard let owner = pending?.lines[problem.line] ?? owners[problem.line] else {
            return CatalogProblem(path: "", line: problem.line, message: problem.message)
        }
        if let collection, owner.collection == collection.name, owner.key == key {
            return CatalogProblem(path: owner.path.jsonPointer, line: problem.line, message: problem.message)
        }
        var prefix = [owner.collection]
        if let other = CatalogCollection.named(owner.collection), !other.isSingleton, case .array(let items)? = document[owner.collection],
           let index = items.firstIndex(where: { other.key(of: $0) == owner.key }) {
            prefix.append(String(index))
        }
        return CatalogProblem(path: (prefix + owner.path).jsonPointer, line: problem.line, message: problem.message)
    }
}

extension TrackstarConfig {
    /// Puts an object read by `readCatalogObject` at `position` of its collection.
    mutating func place(_ object: CatalogObjectConfig, at position: Int, replacing: Bool) {
        func put<T>(_ value: T, _ list: inout [T]) { if replacing { list[position] = value } else { list.insert(value, at: position) } }
        switch object {
        case .offer(let offer): put(offer, &offers)
        case .affiliate(let affiliate): put(affiliate, &affiliates)
        case .postbackRule(let rule): put(rule, &postbacks)
        case .postbackProfile(let profile): put(profile, &postbackProfiles)
        case .smartLink(let link): put(link, &smartlinks)
        case .bots(let read): bots = read
        }
    }

    /// Removes the object at `position` of a collection (`bots`: back to the defaults).
    mutating func remove(_ collection: String, at position: Int) {
        switch collection {
        case "offers": offers.remove(at: position)
        case "affiliates": affiliates.remove(at: position)
        case "postbacks": postbacks.remove(at: position)
        case "postback_profiles": postbackProfiles.remove(at: position)
        case "smartlinks": smartlinks.remove(at: position)
        default: bots = BotConfig()
        }
    }
}
