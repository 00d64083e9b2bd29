// Turns a TOML config file into a validated `TrackstarConfig`, collecting every problem with its
// line so that one run of `check-config` shows all of them. Files are read with C stdio, not Foundation.
// This file holds the entry points, the walk over the top level and the messages for misplaced keys;
// the sections' readers are in ConfigLoader+<Section>.swift, the typed values in ConfigLoader+Values.swift.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import TrackstarCore

/// Every problem found in one configuration file, ordered by line: the failure `ConfigLoader.load` returns.
public struct ConfigProblems: Error, Sendable, Equatable, RandomAccessCollection {
    public var problems: [ConfigProblem]
    public init(_ problems: [ConfigProblem]) { self.problems = problems }
    public var startIndex: Int { problems.startIndex }
    public var endIndex: Int { problems.endIndex }
    public subscript(position: Int) -> ConfigProblem { problems[position] }
}

/// Loads and validates Trackstar configuration files.
public enum ConfigLoader {
    /// Parses and validates a config. On failure returns every problem found, ordered by line.
    public static func load(text: String) -> Result<TrackstarConfig, ConfigProblems> {
        let (root, syntaxProblems) = TOML.parse(text)
        var reader = ConfigReader()
        let config = reader.read(root)
        let problems = (syntaxProblems + reader.problems).enumerated()
            .sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }
            .map(\.element)
        return problems.isEmpty ? .success(config) : .failure(ConfigProblems(problems))
    }

    /// Reads the file at `path` and loads it like `load(text:)`; an unreadable file is a problem on line 0.
    public static func load(path: String) -> Result<TrackstarConfig, ConfigProblems> {
        switch readFile(path) {
        case .success(let text): load(text: text)
        case .failure(let problems): .failure(problems)
        }
    }

    static func readFile(_ path: String) -> Result<String, ConfigProblems> {
        let bytes: [UInt8]
        switch WholeFile.read(path) {
        case .success(let read): bytes = read
        case .failure(let failure): return .failure(cannotRead(path, failure.code))
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(ConfigProblems([ConfigProblem(line: 0, message: "config file \(path) is not valid UTF-8; save it as UTF-8")]))
        }
        return .success(text)
    }

    private static func cannotRead(_ path: String, _ code: Int32) -> ConfigProblems {
        let reason = String(cString: strerror(code))
        return ConfigProblems([ConfigProblem(line: 0, message: "cannot read config file \(path): \(reason); check the path and its permissions")])
    }
}

/// Walks the parsed TOML, filling in the model and recording every problem it finds.
struct ConfigReader {
    var problems: [ConfigProblem] = []

    static let topLevelKeys = ["server", "storage", "export", "log", "admin", "offers", "affiliates", "delivery", "postbacks", "postback_profiles", "geo", "bots", "privacy", "smartlinks"]
    static let serverKeys = [
        "listen", "loops", "node_id", "max_connections", "max_request_line_bytes", "max_header_bytes",
        "max_header_count", "max_body_bytes", "max_value_bytes", "idle_timeout", "header_timeout", "trusted_proxies", "io",
        "postback_profile", "trafficback_url",
    ]
    static let storageKeys = ["data_dir", "max_conversions", "fsync", "fsync_interval", "snapshot_interval", "retention_grace",
                              "index_initial_capacity", "txid_window", "unique_clicks_per_window"]
    static let exportKeys = ["sink", "batch_rows", "batch_age", "lag_warning", "url", "database", "user", "password", "ca_file",
                             "batch_bytes", "exporters"]
    static let offerKeys = [
        "id", "name", "url", "fallback_url", "status", "click_lifetime", "txid_window", "min_conversion_delay",
        "multiple_conversions", "token", "allowed_ips", "currency", "payout", "revenue", "events", "postback_profile", "bot_action",
        "unique_window", "caps", "affiliate_caps", "countries", "exclude_countries", "devices", "os", "redirect_offer_id",
        "trafficback_url", "timezone",
    ]
    static let eventKeys = ["payout", "revenue"]
    static let affiliateKeys = ["id", "name", "status", "postback_url", "postback_statuses", "postback_delay", "reversal_url", "trafficback_url"]

    mutating func report(_ line: Int, _ message: String) {
        problems.append(ConfigProblem(line: line, message: message))
    }

    mutating func read(_ root: TOMLTable) -> TrackstarConfig {
        var config = TrackstarConfig()
        for (key, node) in root.entries {
            switch key {
            case "server": if let table = table(node, "server") { config.server = readServer(table) }
            case "storage": if let table = table(node, "storage") { config.storage = readStorage(table) }
            case "export": if let table = table(node, "export") { config.export = readExport(table, line: node.line) }
            case "log": if let table = table(node, "log") { config.log = readLog(table) }
            case "admin": if let table = table(node, "admin") { config.admin = readAdmin(table) }
            case "offers": config.offers = readOffers(node)
            case "affiliates": config.affiliates = readAffiliates(node)
            case "delivery": if let table = table(node, "delivery") { config.delivery = readDelivery(table) }
            case "postbacks": config.postbacks = readPostbackRules(node)
            case "postback_profiles": config.postbackProfiles = readPostbackProfiles(node)
            case "geo": if let table = table(node, "geo") { config.geo = readGeo(table, line: node.line) }
            case "bots": if let table = table(node, "bots") { config.bots = readBots(table, line: node.line) }
            case "privacy": if let table = table(node, "privacy") { config.privacy = readPrivacy(table) }
            case "smartlinks": config.smartlinks = readSmartLinks(node)
            default: unknownTopLevel(key, node)
            }
        }
        checkPostbackRules(config)
        checkProfileChoices(config, root)
        checkBotActions(config)
        checkAdminPort(config, root)
        checkTraffic(config)
        return config
    }

    /// The tables of `[[name]]`, each with its header line.
    mutating func tableArray(_ node: TOMLNode, _ name: String) -> [(table: TOMLTable, line: Int)] {
        guard case .array(let items) = node.value else {
            report(node.line, "\(name): expected [[\(name)]] (double brackets, one per entry), got \(node.value.summary)")
            return []
        }
        var tables: [(table: TOMLTable, line: Int)] = []
        for (index, item) in items.enumerated() {
            guard case .table(let table) = item.value else {
                report(item.line, "\(name)[\(index + 1)]: expected a table, got \(item.value.summary); write each entry as [[\(name)]]")
                continue
            }
            tables.append((table, item.line))
        }
        return tables
    }

    /// Reports required keys that are missing, unless a syntax error may have dropped them.
    mutating func requireKeys(_ keys: [String], in table: TOMLTable, name: String, line: Int, header: String) {
        guard !table.isIncomplete else { return }
        for key in keys where table[key] == nil {
            report(line, "\(name): missing required key \(key); add \(key) = … below the \(header) at line \(line)")
        }
    }

    mutating func checkUnique(_ id: UInt32, _ table: TOMLTable, name: String, kind: String,
                              firstUse: inout [UInt32: (name: String, line: Int)]) {
        guard id != 0, let line = table["id"]?.line else { return }
        if let first = firstUse[id] {
            report(line, "\(name).id: \(id) is already used by \(first.name) (line \(first.line)); give each \(kind) its own id")
        } else {
            firstUse[id] = (name, line)
        }
    }

    mutating func unknownTopLevel(_ key: String, _ node: TOMLNode) {
        let shown = TOML.displayKey(key)
        if case .table = node.value {
            report(node.line, "unknown table [\(shown)]" + suggestion(key, Self.topLevelKeys, format: { "[\($0)]" }))
        } else if let owner = [("server", Self.serverKeys), ("storage", Self.storageKeys), ("export", Self.exportKeys),
                                            ("log", Self.logKeys), ("admin", Self.adminKeys),
                                            ("geo", Self.geoKeys), ("bots", Self.botKeys), ("privacy", Self.privacyKeys)]
            .first(where: { $0.1.contains(key) }) {
            report(node.line, "\(shown) must be inside [\(owner.0)]; move it below the [\(owner.0)] header")
        } else {
            report(node.line, "unknown top-level key \(shown)" + suggestion(key, Self.topLevelKeys, format: { "[\($0)]" }))
        }
    }

    mutating func unknownKey(_ key: String, _ node: TOMLNode, _ field: String, known: [String]) {
        let what: String
        if case .table = node.value { what = "unknown table" } else { what = "unknown key" }
        report(node.line, "\(field): \(what)" + suggestion(key, known, format: { $0 }))
    }

    func suggestion(_ key: String, _ known: [String], format: (String) -> String) -> String {
        if let guess = ConfigParse.closestMatch(to: key, in: known) { return "; did you mean \(format(guess))?" }
        return "; known keys here: " + known.map(format).joined(separator: ", ")
    }
}
