// The loader's part for click enrichment: `[geo]`, `[bots]` and `[privacy]`, and the check that an
// offer with `bot_action = "fallback"` has somewhere to send bots. Every problem carries its line.

import TrackstarCore

extension ConfigReader {
    static let geoKeys = ["database", "path"]
    static let botKeys = ["user_agent_substrings", "networks", "asns", "anonymous_proxy", "user_agent_regexes"]
    static let privacyKeys = ["anonymize_ip", "personal_data_retention"]

    mutating func readGeo(_ table: TOMLTable, line: Int) -> GeoConfig {
        var geo = GeoConfig()
        geo.line = line
        for (key, node) in table.entries {
            let name = "geo." + key
            switch key {
            case "database":
                if let v = keyword(node, name, GeoDatabaseKind.self, expected: #""libloc", "mmdb" or "off""#) { geo.database = v }
            case "path": if let v = nonEmptyString(node, name) { geo.path = v; geo.line = node.line }
            default: unknownKey(key, node, name, known: Self.geoKeys)
            }
        }
        if geo.database == .mmdb && geo.path == nil && !table.isIncomplete {
            report(table["database"]?.line ?? line,
                   "geo: database = \"mmdb\" needs path; add path = \"/path/to/GeoLite2-City.mmdb\" below [geo]")
        }
        return geo
    }

    mutating func readBots(_ table: TOMLTable, line: Int) -> BotConfig {
        var bots = BotConfig()
        bots.line = line
        for (key, node) in table.entries {
            let name = "bots." + key
            switch key {
            case "user_agent_substrings": bots.userAgentSubstrings = substrings(node, name)
            case "networks": bots.networks = networkTexts(node, name)
            case "asns": bots.asns = asns(node, name)
            case "anonymous_proxy": if let v = bool(node, name) { bots.anonymousProxy = v }
            case "user_agent_regexes": if let v = nonEmptyString(node, name) { bots.userAgentRegexes = v; bots.line = node.line }
            default: unknownKey(key, node, name, known: Self.botKeys)
            }
        }
        return bots
    }

    mutating func readPrivacy(_ table: TOMLTable) -> PrivacyConfig {
        var privacy = PrivacyConfig()
        for (key, node) in table.entries {
            let name = "privacy." + key
            switch key {
            case "anonymize_ip":
                if let v = keyword(node, name, IPAnonymization.self, expected: #""none" or "truncate""#) { privacy.anonymizeIP = v }
            case "personal_data_retention":
                if let v = duration(node, name, allowZero: false) { privacy.personalDataRetentionMillis = v }
            default: unknownKey(key, node, name, known: Self.privacyKeys)
            }
        }
        return privacy
    }

    /// `user_agent_substrings`: non-empty strings of at most 128 bytes (matched in every user agent).
    mutating func substrings(_ node: TOMLNode, _ field: String) -> [String] {
        guard case .array(let items) = node.value else {
            wrongType(node, field, "an array of strings such as [\"curl/\", \"python-requests\"]")
            return []
        }
        var result: [String] = []
        for (index, item) in items.enumerated() {
            let itemField = "\(field)[\(index)]"
            guard let text = nonEmptyString(item, itemField) else { continue }
            guard text.utf8.count <= 128 else {
                report(item.line, "\(itemField): at most 128 bytes (user agents are cut at 512); shorten it")
                continue
            }
            result.append(text)
        }
        return result
    }

    /// A list of networks as written, each checked as `networks` checks it (problems reported there).
    mutating func networkTexts(_ node: TOMLNode, _ field: String) -> [String] {
        let parsed = networks(node, field)
        guard case .array(let items) = node.value else { return [] }
        let texts = items.compactMap { item -> String? in
            guard case .string(let text) = item.value, case .success = ConfigParse.cidr(text) else { return nil }
            return text
        }
        return texts.count == parsed.count ? texts : []
    }

    /// `asns`: autonomous system numbers, 1 to 4294967295 (a bare number or "AS15169").
    mutating func asns(_ node: TOMLNode, _ field: String) -> [UInt32] {
        guard case .array(let items) = node.value else {
            wrongType(node, field, "an array of AS numbers such as [16509, 15169]")
            return []
        }
        var result: [UInt32] = []
        for (index, item) in items.enumerated() {
            let itemField = "\(field)[\(index)]"
            if case .string(let text) = item.value {
                let digits = text.hasPrefix("AS") || text.hasPrefix("as") ? String(text.dropFirst(2)) : text
                if let number = UInt32(digits), number > 0 { result.append(number) } else {
                    report(item.line, "\(itemField): \"\(text)\" is not an AS number; write 15169 or \"AS15169\"")
                }
                continue
            }
            if let v = id(item, itemField) { result.append(v) }
        }
        return result
    }

    /// An offer whose bots go to its fallback must have one; personal data (the fingerprint that
    /// unique clicks are rebuilt from included) must outlive every unique window.
    mutating func checkBotActions(_ config: TrackstarConfig) {
        if let retention = config.privacy.personalDataRetentionMillis {
            for (index, offer) in config.offers.enumerated() where offer.uniqueWindowMillis > retention {
                report(offer.line, "offers[\(index + 1)]: unique_window is longer than [privacy] personal_data_retention; "
                    + "uniqueness needs the address and agent fingerprint for the whole window: shorten unique_window or lengthen the retention")
            }
        }
        for (index, offer) in config.offers.enumerated() where offer.botAction == .fallback && offer.fallbackURL == nil {
            report(offer.line, "offers[\(index + 1)]: bot_action = \"fallback\" needs fallback_url (where bots are sent); "
                + "add fallback_url = \"https://…\" or use bot_action = \"flag\" or \"refuse\"")
        }
    }
}
