// Reads the `[log]` and `[admin]` sections, reporting unknown keys and bad values with their lines
// like the rest of the loader.

import TrackstarCore

extension ConfigReader {
    static let logKeys = ["level", "format", "summary_interval"]
    static let adminKeys = ["listen", "public_metrics", "tokens"]
    static let tokenKeys = ["name", "sha256", "role"]

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
            case "listen":
                if case .string("off") = node.value { admin.host = nil } else if let (host, port) = listen(node, name) {
                    admin.host = host; admin.port = port
                }
            case "public_metrics": if let v = bool(node, name) { admin.publicMetrics = v }
            case "tokens": admin.tokens = readTokens(node)
            default: unknownKey(key, node, name, known: Self.adminKeys)
            }
        }
        return admin
    }

    /// `[[admin.tokens]]`: name (unique), sha256 (64 hex digits), role.
    mutating func readTokens(_ node: TOMLNode) -> [AdminToken] {
        var tokens: [AdminToken] = []
        var names: [String: Int] = [:]
        for (index, element) in tableArray(node, "admin.tokens").enumerated() {
            let name = "admin.tokens[\(index + 1)]"
            var token = AdminToken(name: "", sha256: "", role: .viewer)
            for (key, value) in element.table.entries {
                let field = "\(name).\(key)"
                switch key {
                case "name": if let v = nonEmptyString(value, field) { token.name = v }
                case "sha256": if let v = tokenDigest(value, field) { token.sha256 = v }
                case "role": if let v = named(value, field, AdminRole.self) { token.role = v }
                default: unknownKey(key, value, field, known: Self.tokenKeys)
                }
            }
            requireKeys(["name", "sha256", "role"], in: element.table, name: name, line: element.line, header: "[[admin.tokens]]")
            if !token.name.isEmpty, let first = names[token.name] {
                report(element.table["name"]?.line ?? element.line,
                       "\(name).name: \"\(token.name)\" is already the name of the token at line \(first); the audit log tells tokens apart by name")
            } else if !token.name.isEmpty {
                names[token.name] = element.line
            }
            tokens.append(token)
        }
        return tokens
    }

    /// The hex of a SHA-256 digest, lowercased.
    mutating func tokenDigest(_ node: TOMLNode, _ field: String) -> String? {
        guard let text = string(node, field) else { return nil }
        let lower = text.lowercased()
        guard lower.utf8.count == 64, lower.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            report(node.line, "\(field): expected the 64 hex digits of the token's SHA-256 (printf %s TOKEN | sha256sum), got \"\(text)\"; never write the token itself here")
            return nil
        }
        return lower
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
