// The loader's part for sender profiles: `[[postback_profiles]]` tables, and the profile names that
// offers and `[server] postback_profile` choose. Every problem is reported with its line.

import TrackstarCore

extension ConfigReader {
    static let profileKeys = ["name", "extends", "approved", "pending", "rejected", "decimal_comma", "currency_sign",
                              "placeholders", "required"] + PostbackField.allCases.map(\.key)
    /// Longest parameter name a profile may list (the request path decodes names into 64 bytes).
    static let maxParameterNameBytes = 64
    static var maxProfileNames: Int { PostbackProfiles.maxNames }

    mutating func readPostbackProfiles(_ node: TOMLNode) -> [PostbackProfileConfig] {
        var profiles: [PostbackProfileConfig] = []
        var firstUse: [String: Int] = [:]
        for (index, element) in tableArray(node, "postback_profiles").enumerated() {
            let name = "postback_profiles[\(index + 1)]"
            let profile = readProfile(element.table, name: name, line: element.line)
            if profile.name.isEmpty { continue }
            if PostbackProfiles.builtin(profile.name) != nil {
                report(element.line, "\(name).name: \"\(profile.name)\" is a built-in profile; choose another name (extends = \"\(profile.name)\" starts from it)")
            } else if let first = firstUse[profile.name] {
                report(element.line, "\(name).name: \"\(profile.name)\" is already defined at line \(first); give each profile its own name")
            } else {
                firstUse[profile.name] = element.line
                profiles.append(profile)
            }
        }
        return profiles
    }

    mutating func readProfile(_ table: TOMLTable, name: String, line: Int) -> PostbackProfileConfig {
        var profile = PostbackProfileConfig(name: "")
        profile.line = line
        var nameLines: [String: (field: PostbackField, line: Int)] = [:]
        for (key, node) in table.entries {
            let field = "\(name).\(key)"
            if let postbackField = PostbackField.keyed(key) {
                let names = parameterNames(node, field)
                for parameter in names {
                    if let first = nameLines[parameter], first.field != postbackField {
                        report(node.line, "\(field): \"\(parameter)\" is already the \(first.field.key) name (line \(first.line)); a name carries one field per profile")
                    } else {
                        nameLines[parameter] = (postbackField, node.line)
                    }
                }
                profile.names[postbackField] = names
                continue
            }
            switch key {
            case "name":
                if let v = nonEmptyString(node, field) {
                    if v.utf8.count <= 64, v.utf8.allSatisfy({ ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A || (0x30...0x39).contains($0) || $0 == 0x5F || $0 == 0x2D }) {
                        profile.name = v
                    } else {
                        report(node.line, "\(field): \"\(v)\" may hold only letters, digits, _ and - (at most 64); rename the profile")
                    }
                }
            case "extends":
                if let v = nonEmptyString(node, field) {
                    if PostbackProfiles.builtin(v) != nil { profile.extends = v } else {
                        report(node.line, "\(field): no built-in profile \"\(v)\"" + suggestion(v, PostbackProfiles.builtins.map(\.name)) { $0 })
                    }
                }
            case "approved", "pending", "rejected":
                profile.words[PostbackStatusWord(rawValue: key)!] = words(node, field)
            case "decimal_comma": if let v = bool(node, field) { profile.decimalComma = v }
            case "currency_sign": if let v = bool(node, field) { profile.currencySign = v }
            case "placeholders": profile.placeholders = words(node, field)
            case "required":
                for word in words(node, field) {
                    if let required = PostbackField.keyed(word), required != .clickID { profile.required.append(required) } else {
                        report(node.line, "\(field): \"\(word)\" is not a field a profile can require; use " +
                               PostbackField.allCases.dropFirst().map(\.key).joined(separator: ", "))
                    }
                }
            default: unknownKey(key, node, field, known: Self.profileKeys)
            }
        }
        requireKeys(["name"], in: table, name: name, line: line, header: "[[postback_profiles]]")
        if let base = profile.extends.flatMap(PostbackProfiles.builtin) {
            if table["decimal_comma"] == nil { profile.decimalComma = base.decimalComma }
            if table["currency_sign"] == nil { profile.currencySign = base.currencySign }
        }
        checkProfile(profile, table: table, name: name, line: line)
        return profile
    }

    /// After merging with its base: a click ID name, and no status word under two statuses.
    mutating func checkProfile(_ profile: PostbackProfileConfig, table: TOMLTable, name: String, line: Int) {
        guard !table.isIncomplete else { return }
        let resolved = PostbackProfiles.resolved(profile)
        if resolved.names(.clickID).isEmpty {
            report(line, "\(name): no click_id names; add click_id = [\"…\"] (the parameter that carries Trackstar's click ID), or extends = a built-in profile")
        }
        var seen: [String: PostbackStatusWord] = [:]
        for status in PostbackStatusWord.allCases {
            for word in resolved.words[status] ?? [] {
                let folded = word.lowercased()
                if let other = seen[folded], other != status {
                    report(table[status.rawValue]?.line ?? line,
                           "\(name).\(status.rawValue): \"\(word)\" also means \(other.rawValue); a status word means one status")
                }
                seen[folded] = status
            }
        }
        let fields = PostbackField.allCases
        for (i, a) in fields.enumerated() {
            for b in fields[(i + 1)...] {
                for shared in resolved.names(a) where resolved.names(b).contains(shared) {
                    report(line, "\(name): \"\(shared)\" is both the \(a.key) and the \(b.key) name; a name carries one field per profile")
                }
            }
        }
    }

    /// A string or an array of strings, each a usable query parameter name.
    mutating func parameterNames(_ node: TOMLNode, _ field: String) -> [String] {
        let names = words(node, field)
        return names.filter { parameter in
            let bytes = Array(parameter.utf8)
            if bytes.count > Self.maxParameterNameBytes {
                report(node.line, "\(field): \"\(parameter)\" is longer than \(Self.maxParameterNameBytes) bytes")
                return false
            }
            if bytes.contains(where: { $0 <= 0x20 || $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "%") || $0 == 0x7F }) {
                report(node.line, "\(field): \"\(parameter)\" cannot be a query parameter name (no spaces, &, = or %)")
                return false
            }
            return true
        }
    }

    /// A non-empty string, or an array of them.
    mutating func words(_ node: TOMLNode, _ field: String) -> [String] {
        switch node.value {
        case .string(let value):
            if value.isEmpty { report(node.line, "\(field): must not be empty") ; return [] }
            return [value]
        case .array(let items):
            var out: [String] = []
            for item in items {
                guard case .string(let value) = item.value, !value.isEmpty else {
                    report(item.line, "\(field): expected non-empty strings in quotes, got \(item.value.summary)")
                    continue
                }
                out.append(value)
            }
            return out
        default:
            wrongType(node, field, "a string or an array of strings")
            return []
        }
    }

    /// Offers and `[server] postback_profile` name known profiles, and the profiles in use together
    /// have at most `maxProfileNames` parameter names.
    mutating func checkProfileChoices(_ config: TrackstarConfig, _ root: TOMLTable) {
        let known = Set(PostbackProfiles.builtins.map(\.name) + config.postbackProfiles.map(\.name))
        let knownList = known.sorted()
        var serverLine = 0
        if case .table(let server)? = root["server"]?.value, let line = server["postback_profile"]?.line { serverLine = line }
        if !known.contains(config.server.postbackProfile) {
            report(serverLine, "server.postback_profile: no profile \"\(config.server.postbackProfile)\"" + suggestion(config.server.postbackProfile, knownList) { $0 })
        }
        for offer in config.offers {
            if let chosen = offer.postbackProfile, !known.contains(chosen) {
                report(offer.line, "offers id \(offer.id): postback_profile: no profile \"\(chosen)\"" + suggestion(chosen, knownList) { $0 })
            }
        }
        let inUse = Set([config.server.postbackProfile] + config.offers.compactMap(\.postbackProfile))
        let profiles = PostbackProfiles.all(config.postbackProfiles).filter { inUse.contains($0.name) }
        let names = Set(profiles.flatMap { $0.names.values.joined() })
        if names.count > Self.maxProfileNames {
            report(serverLine, "the postback profiles in use list \(names.count) parameter names together; at most \(Self.maxProfileNames) are allowed")
        }
    }
}
