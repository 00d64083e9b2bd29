// Reads the `[log]` and `[admin]` sections, reporting unknown keys and bad values with their lines
// like the rest of the loader.

import TrackstarCore

extension ConfigReader {
    static let logKeys = ["level", "format", "summary_interval"]
    static let adminKeys = ["listen"]

    mutating func readLog(_ table: TOMLTable) -> LogConfig {
        var log = LogConfig()
        for (key, node) in table.entries {
            let name = "log." + key
            switch key {
            case "level": if let v = named(node, name, LogLevel.self) { log.level = v }
            case "format": if let v = named(node, name, LogFormat.self) { log.format = v }
            case "summary_interval": if let v = duration(node, name, allowZero: false) { log.summaryIntervalMillis = v }
            default: unknownKey(key, node, name, known: Self.logKeys)
            }
        }
        return log
    }

    mutating func readAdmin(_ table: TOMLTable) -> AdminConfig {
        var admin = AdminConfig()
        for (key, node) in table.entries {
            let name = "admin." + key
            switch key {
            case "listen": if let (host, port) = listen(node, name) { admin.host = host; admin.port = port }
            default: unknownKey(key, node, name, known: Self.adminKeys)
            }
        }
        return admin
    }

    /// The admin listener binds with SO_REUSEPORT like the public one, so sharing the public port would
    /// let the kernel hand public clients to the admin listener: refuse it.
    mutating func checkAdminPort(_ config: TrackstarConfig, _ root: TOMLTable) {
        guard config.admin.isEnabled, config.admin.port != 0, config.admin.port == config.server.port,
              case .table(let admin)? = root["admin"]?.value, let line = admin["listen"]?.line else { return }
        report(line, "admin.listen: port \(config.admin.port) is also the public listener's (server.listen); give the admin listener a port of its own")
    }

    /// One of an enum's raw values, listing them all when the value is not one.
    mutating func named<Choice: RawRepresentable<String> & CaseIterable>(_ node: TOMLNode, _ field: String, _ type: Choice.Type) -> Choice? {
        let expected = Choice.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        guard case .string(let text) = node.value else { wrongType(node, field, "one of \(expected)"); return nil }
        guard let value = Choice(rawValue: text) else {
            report(node.line, "\(field): expected one of \(expected), got \"\(text)\"")
            return nil
        }
        return value
    }
}
