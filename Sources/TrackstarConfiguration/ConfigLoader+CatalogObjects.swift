// One catalog object read exactly as `check-config` reads it, and the loader's cross checks over a
// whole catalog model: what the management API runs for one change instead of loading the whole
// catalog again (issue 16). The readers and checks are the loader's own; nothing is re-implemented.

/// A catalog object read from its own TOML text.
public enum CatalogObjectConfig: Sendable {
    case offer(OfferConfig)
    case affiliate(AffiliateConfig)
    case postbackRule(PostbackRuleConfig)
    case postbackProfile(PostbackProfileConfig)
    case smartLink(SmartLinkConfig)
    case bots(BotConfig)
}

extension ConfigLoader {
    /// Reads `text` — one `[[kind]]` table (or the `[bots]` table) — as `load(text:)` reads entry
    /// `position` (1-based) of that array: the same checks and messages, naming the entry `kind[position]`.
    /// Lines are counted from `firstLine`. Cross-object checks are `crossCheck`'s.
    public static func readCatalogObject(_ kind: String, text: String, position: Int, firstLine: Int)
        -> Result<CatalogObjectConfig, ConfigProblems> {
        let (root, syntaxProblems) = TOML.parse(text, firstLine: firstLine)
        var reader = ConfigReader()
        var object: CatalogObjectConfig?
        if let node = root[kind] {
            switch kind {
            case "offers": object = reader.readOffers(node).first.map { .offer($0) }
            case "affiliates": object = reader.readAffiliates(node).first.map { .affiliate($0) }
            case "postbacks": object = reader.readPostbackRules(node).first.map { .postbackRule($0) }
            case "postback_profiles": object = reader.readPostbackProfiles(node).first.map { .postbackProfile($0) }
            case "smartlinks": object = reader.readSmartLinks(node).first.map { .smartLink($0) }
            case "bots": if let table = reader.table(node, "bots") { object = .bots(reader.readBots(table, line: node.line)) }
            default: break
            }
        }
        // The readers name the only entry `kind[1]`; the whole file would have named it by its position.
        let first = "\(kind)[1]", named = "\(kind)[\(position)]"
        let problems = (syntaxProblems + reader.problems).map { problem in
            guard position != 1, let range = problem.message.firstRange(of: first) else { return problem }
            var message = problem.message
            message.replaceSubrange(range, with: named)
            return ConfigProblem(line: problem.line, message: message)
        }
        if !problems.isEmpty { return .failure(ConfigProblems(problems.sorted { $0.line < $1.line })) }
        guard let object else {
            return .failure(ConfigProblems([ConfigProblem(line: firstLine, message: "\(named): expected one entry of \(kind)")]))
        }
        return .success(object)
    }

    /// The checks `load(text:)` runs across the catalog after reading each object: references
    /// (postback rules, redirects, smart links, affiliate caps), redirect cycles, profile choices and
    /// their name budget, bot actions, unique smart-link slugs. Ordered by line.
    public static func crossCheck(_ config: TrackstarConfig) -> [ConfigProblem] {
        var reader = ConfigReader()
        reader.checkPostbackRules(config)
        reader.checkProfileChoices(config, TOMLTable())  // [server] is not a catalog object: its line is 0
        reader.checkBotActions(config)
        reader.checkTraffic(config)
        var slugs: [String: Int] = [:]
        for (index, link) in config.smartlinks.enumerated() where !link.slug.isEmpty {
            if let first = slugs[link.slug] {
                reader.report(link.line, "smartlinks[\(index + 1)].slug: \"\(link.slug)\" is already used by the smart link at line \(first); give each its own slug")
            } else {
                slugs[link.slug] = link.line
            }
        }
        return reader.problems.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(\.element)
    }
}
