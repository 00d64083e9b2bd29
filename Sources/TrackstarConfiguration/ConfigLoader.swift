// Turns a TOML config file into a validated `TrackstarConfig`, collecting every problem with its
// line so that one run of `check-config` shows all of them. Files are read with C stdio, not Foundation.

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
        guard let file = fopen(path, "rb") else { return .failure(cannotRead(path, errno)) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            bytes.append(contentsOf: chunk[..<count])
            if count < chunk.count { break }
        }
        if ferror(file) != 0 { return .failure(cannotRead(path, errno)) }
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

    // MARK: Sections

    mutating func readServer(_ table: TOMLTable) -> ServerConfig {
        var server = ServerConfig()
        for (key, node) in table.entries {
            let name = "server." + key
            switch key {
            case "listen": if let (host, port) = listen(node, name) { server.host = host; server.port = port }
            case "loops": if let v = integer(node, name, 1...ClickID.maxShards) { server.loops = v }
            case "node_id": if let v = integer(node, name, 0...255) { server.nodeID = v }
            case "max_connections": if let v = integer(node, name, 1...1_000_000) { server.maxConnections = v }
            case "max_request_line_bytes": if let v = integer(node, name, 256...1 << 20) { server.maxRequestLineBytes = v }
            case "max_header_bytes": if let v = integer(node, name, 256...1 << 20) { server.maxHeaderBytes = v }
            case "max_header_count": if let v = integer(node, name, 1...1024) { server.maxHeaderCount = v }
            case "max_body_bytes": if let v = integer(node, name, 0...1 << 26) { server.maxBodyBytes = v }
            case "max_value_bytes": if let v = integer(node, name, 1...4096) { server.maxValueBytes = v }
            case "idle_timeout": if let v = duration(node, name, allowZero: false) { server.idleTimeoutMillis = v }
            case "header_timeout": if let v = duration(node, name, allowZero: false) { server.headerTimeoutMillis = v }
            case "trusted_proxies": server.trustedProxies = networks(node, name)
            case "io": if let v = keyword(node, name, ServerIO.self, expected: #""auto", "io_uring" or "epoll""#) { server.io = v }
            case "postback_profile": if let v = nonEmptyString(node, name) { server.postbackProfile = v }
            case "trafficback_url": if let v = url(node, name, macros: ConfigParse.offerURLMacros) { server.trafficbackURL = v }
            default: unknownKey(key, node, name, known: Self.serverKeys)
            }
        }
        return server
    }

    mutating func readStorage(_ table: TOMLTable) -> StorageConfig {
        var storage = StorageConfig()
        for (key, node) in table.entries {
            let name = "storage." + key
            switch key {
            case "data_dir": if let v = nonEmptyString(node, name) { storage.dataDir = v }
            case "max_conversions": if let v = integer(node, name, 1024...1 << 32) { storage.maxConversions = v }
            case "fsync": if let v = keyword(node, name, FsyncPolicy.self, expected: #""always", "interval" or "none""#) { storage.fsync = v }
            case "fsync_interval": if let v = duration(node, name, allowZero: false) { storage.fsyncIntervalMillis = v }
            case "snapshot_interval": if let v = duration(node, name, allowZero: false) { storage.snapshotIntervalMillis = v }
            case "retention_grace": if let v = duration(node, name, allowZero: true) { storage.retentionGraceMillis = v }
            case "index_initial_capacity": if let v = integer(node, name, 1024...1 << 32) { storage.indexInitialCapacity = v }
            case "txid_window": if let v = duration(node, name, allowZero: false) { storage.txidWindowMillis = v }
            case "unique_clicks_per_window": if let v = integer(node, name, 1024...1 << 36) { storage.uniqueClicksPerWindow = v }
            default: unknownKey(key, node, name, known: Self.storageKeys)
            }
        }
        return storage
    }

    mutating func readExport(_ table: TOMLTable, line: Int) -> ExportConfig {
        var export = ExportConfig()
        for (key, node) in table.entries {
            let name = "export." + key
            switch key {
            case "sink": if let v = keyword(node, name, ExportSinkKind.self, expected: #""sqlite", "clickhouse" or "none""#) { export.sink = v }
            case "batch_rows": if let v = integer(node, name, 1...1_000_000) { export.batchRows = v }
            case "batch_age": if let v = duration(node, name, allowZero: false) { export.batchAgeMillis = v }
            case "lag_warning": if let v = duration(node, name, allowZero: false) { export.lagWarningMillis = v }
            case "url": if let v = exportURL(node, name) { export.url = v }
            case "database": if let v = clickHouseDatabase(node, name) { export.database = v }
            case "user": if let v = clickHouseUser(node, name) { export.user = v }
            case "password": if let v = string(node, name) { export.password = v }
            case "ca_file": if let v = nonEmptyString(node, name) { export.caFile = v }
            case "batch_bytes": if let v = integer(node, name, 65_536...1 << 30) { export.batchBytes = v }
            case "exporters": if let v = exporterCount(node, name) { export.exporters = v }
            default: unknownKey(key, node, name, known: Self.exportKeys)
            }
        }
        finishExport(&export, table)
        if let password = table["password"], table["user"] == nil && !table.isIncomplete {
            report(password.line, "export.password: set without user; add user = \"NAME\" (the ClickHouse user it belongs to) below [export]")
        }
        if export.sink == .clickhouse && table["url"] == nil && !table.isIncomplete {
            report(table["sink"]?.line ?? line,
                   "export: sink = \"clickhouse\" needs url; add url = \"http://127.0.0.1:8123\" (the ClickHouse HTTP interface) below [export]")
        }
        return export
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

    // MARK: Typed values

    mutating func wrongType(_ node: TOMLNode, _ field: String, _ expected: String) {
        report(node.line, "\(field): expected \(expected), got \(node.value.summary)")
    }

    mutating func table(_ node: TOMLNode, _ field: String) -> TOMLTable? {
        if case .table(let table) = node.value { return table }
        wrongType(node, field, "a table")
        return nil
    }

    mutating func string(_ node: TOMLNode, _ field: String) -> String? {
        if case .string(let value) = node.value { return value }
        wrongType(node, field, "a string in quotes")
        return nil
    }

    mutating func nonEmptyString(_ node: TOMLNode, _ field: String) -> String? {
        guard let value = string(node, field) else { return nil }
        if value.isEmpty { report(node.line, "\(field): must not be empty; remove the key or give it a value"); return nil }
        return value
    }

    /// A string that must be one of an enumeration's raw values; `expected` lists them for the message.
    mutating func keyword<Value: RawRepresentable<String>>(_ node: TOMLNode, _ field: String, _ type: Value.Type,
                                                           expected: String) -> Value? {
        guard let text = string(node, field) else { return nil }
        guard let value = Value(rawValue: text) else {
            report(node.line, "\(field): expected \(expected), got \"\(text)\"")
            return nil
        }
        return value
    }

    mutating func exportURL(_ node: TOMLNode, _ field: String) -> String? {
        guard let text = string(node, field) else { return nil }
        if case .failure(let error) = ExportURL.parse(text) {
            report(node.line, "\(field): \(error.message)")
            return nil
        }
        return text
    }

    mutating func clickHouseDatabase(_ node: TOMLNode, _ field: String) -> String? {
        guard let text = string(node, field) else { return nil }
        guard ExportURL.isValidDatabase(text) else {
            report(node.line, "\(field): \"\(text)\" is not a plain database name; use letters, digits and _ (not starting with a digit), at most 64")
            return nil
        }
        return text
    }

    /// A ClickHouse user for basic authentication: not empty, no ':' (it separates user and password), no control characters.
    mutating func clickHouseUser(_ node: TOMLNode, _ field: String) -> String? {
        guard let text = nonEmptyString(node, field) else { return nil }
        guard !text.utf8.contains(where: { $0 == UInt8(ascii: ":") || $0 < 0x20 || $0 == 0x7f }) else {
            report(node.line, "\(field): \"\(text)\" cannot be sent as a user name (no ':' or control characters); use the name ClickHouse's users.xml gives")
            return nil
        }
        return text
    }

    mutating func bool(_ node: TOMLNode, _ field: String) -> Bool? {
        if case .boolean(let value) = node.value { return value }
        wrongType(node, field, "true or false")
        return nil
    }

    mutating func integer(_ node: TOMLNode, _ field: String, _ range: ClosedRange<Int>) -> Int? {
        guard case .integer(let value) = node.value else {
            wrongType(node, field, "a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        guard value >= range.lowerBound, value <= range.upperBound else {
            report(node.line, "\(field): must be from \(range.lowerBound) to \(range.upperBound), got \(value)")
            return nil
        }
        return Int(value)
    }

    mutating func id(_ node: TOMLNode, _ field: String) -> UInt32? {
        integer(node, field, 1...Int(UInt32.max)).map { UInt32($0) }
    }

    /// `status`: "active" or "paused" (a value of another type is named as such in the message).
    mutating func choice<Choice: RawRepresentable<String>>(_ node: TOMLNode, _ field: String, _ type: Choice.Type) -> Choice? {
        let expected = #""active" or "paused""#
        guard case .string = node.value else { wrongType(node, field, expected); return nil }
        return keyword(node, field, type, expected: expected)
    }

    mutating func duration(_ node: TOMLNode, _ field: String, allowZero: Bool) -> Int64? {
        guard case .string(let text) = node.value else {
            var message = "\(field): expected a duration string such as \"30s\" or \"250ms\", got \(node.value.summary)"
            if case .integer(let number) = node.value { message += "; write it with a unit, e.g. \"\(number)s\"" }
            report(node.line, message)
            return nil
        }
        switch ConfigParse.durationMillis(text) {
        case .failure(let error):
            report(node.line, "\(field): \(error.message)")
            return nil
        case .success(0) where !allowZero:
            report(node.line, "\(field): must be longer than 0; write e.g. \"30s\"")
            return nil
        case .success(let millis):
            return millis
        }
    }

    mutating func money(_ node: TOMLNode, _ field: String) -> Micros? {
        let amount: Result<Micros, ConfigValueError>
        switch node.value {
        case .integer(let units):
            let (micros, overflow) = units.multipliedReportingOverflow(by: 1_000_000)
            amount = overflow ? .failure(ConfigValueError("\(units) is too large an amount")) : .success(micros)
        case .float(_, let text):
            amount = ConfigParse.micros(text)
        default:
            wrongType(node, field, "a number such as 2.50 (no quotes)")
            return nil
        }
        switch amount {
        case .failure(let error): report(node.line, "\(field): \(error.message)"); return nil
        case .success(let micros) where micros < 0: report(node.line, "\(field): must not be negative"); return nil
        case .success(let micros) where micros >= ConfigParse.maxAmountMicros:
            report(node.line, "\(field): must be below 1000000000000 (amounts are summed in reports; a larger one cannot be)")
            return nil
        case .success(let micros): return micros
        }
    }

    mutating func currency(_ node: TOMLNode, _ field: String) -> String? {
        guard let text = string(node, field) else { return nil }
        guard text.utf8.count == 3, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            report(node.line, "\(field): expected a 3-letter uppercase currency code such as \"USD\", got \"\(text)\"")
            return nil
        }
        guard ISO4217.contains(text) else {
            report(node.line, "\(field): \"\(text)\" is not an ISO 4217 currency code; use one such as \"USD\" or \"EUR\"")
            return nil
        }
        return text
    }

    mutating func url(_ node: TOMLNode, _ field: String, macros: [String]) -> String? {
        guard let text = string(node, field) else { return nil }
        if let error = ConfigParse.checkURLTemplate(text, macros: macros) {
            report(node.line, "\(field): \(error.message)")
            return nil
        }
        return text
    }

    mutating func listen(_ node: TOMLNode, _ field: String) -> (String, UInt16)? {
        guard let text = string(node, field) else { return nil }
        switch ConfigParse.listenAddress(text) {
        case .success(let address): return (address.host, address.port)
        case .failure(let error): report(node.line, "\(field): \(error.message)"); return nil
        }
    }

    mutating func networks(_ node: TOMLNode, _ field: String) -> [CIDR] {
        guard case .array(let items) = node.value else {
            wrongType(node, field, "an array of networks such as [\"127.0.0.0/8\", \"::1/128\"]")
            return []
        }
        if items.isEmpty {
            report(node.line, "\(field): the list is empty, which would refuse everyone; remove the key to allow any address")
        }
        var networks: [CIDR] = []
        for (index, item) in items.enumerated() {
            let itemField = "\(field)[\(index)]"
            guard let text = string(item, itemField) else { continue }
            switch ConfigParse.cidr(text) {
            case .success(let network): networks.append(network)
            case .failure(let error): report(item.line, "\(itemField): \(error.message)")
            }
        }
        return networks
    }
}
