// The loader's part for traffic control (issue 14): an offer's `[offers.caps]`,
// `[[offers.affiliate_caps]]`, targeting lists, `redirect_offer_id`, `trafficback_url` and `timezone`,
// and the top-level `[[smartlinks]]`; then the cross checks (references, redirect cycles) with lines.

extension ConfigReader {
    static let smartLinkKeys = ["id", "slug", "offers", "trafficback_url"]
    static let smartLinkOfferKeys = ["offer_id", "weight", "priority"]
    /// The largest cap (counters keep 40 bits of count).
    static let maxCap = 1 << 39

    mutating func readTrafficKey(_ key: String, _ node: TOMLNode, _ field: String, into offer: inout OfferConfig) {
        switch key {
        case "caps": if let table = table(node, field) { offer.caps = readCaps(table, field, line: node.line, allowAffID: false).limits }
        case "affiliate_caps":
            for (index, element) in tableArray(node, field).enumerated() {
                let (limits, affID) = readCaps(element.table, "\(field)[\(index + 1)]", line: element.line, allowAffID: true)
                if let affID { offer.affiliateCaps.append(AffiliateCapConfig(affID: affID, limits: limits)) }
            }
        case "countries": offer.targeting.countries = countries(node, field)
        case "exclude_countries": offer.targeting.excludeCountries = countries(node, field)
        case "devices": offer.targeting.devices = words(node, field, allowed: TargetingConfig.deviceNames)
        case "os": offer.targeting.os = words(node, field, allowed: nil)
        case "redirect_offer_id": if let v = id(node, field) { offer.redirectOfferID = v; offer.redirectOfferLine = node.line }
        case "trafficback_url": if let v = url(node, field, macros: ConfigParse.offerURLMacros) { offer.trafficbackURL = v }
        default:  // "timezone"; the zone file itself is read when the catalog is compiled
            guard let v = nonEmptyString(node, field) else { return }
            let allowed = v.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2F || b == 0x5F || b == 0x2D || b == 0x2B
            }
            if !allowed || v.hasPrefix("/") || v.contains("..") {
                report(node.line, "\(field): \"\(v)\" is not a time zone name; use a tz database name such as America/New_York or UTC")
            } else {
                offer.timezone = v
            }
        }
    }

    /// A caps table; `aff_id` is required (and only allowed) in `[[offers.affiliate_caps]]`.
    mutating func readCaps(_ table: TOMLTable, _ name: String, line: Int, allowAffID: Bool) -> (limits: CapLimits, affID: UInt32?) {
        var limits = CapLimits()
        limits.line = line
        var affID: UInt32?
        let known = allowAffID ? ["aff_id"] + CapLimits.keys : CapLimits.keys
        for (key, node) in table.entries {
            let field = "\(name).\(key)"
            if key == "aff_id" && allowAffID {
                affID = id(node, field)
            } else if CapLimits.keys.contains(key) {
                if let v = integer(node, field, 0...Self.maxCap) { limits.set(key, UInt64(v)) }
            } else {
                unknownKey(key, node, field, known: known)
            }
        }
        if allowAffID { requireKeys(["aff_id"], in: table, name: name, line: line, header: "[[offers.affiliate_caps]]") }
        if table.entries.isEmpty && !table.isIncomplete {
            report(line, "\(name): no cap set; add one of \(CapLimits.keys.joined(separator: ", ")) or remove the table")
        }
        return (limits, affID)
    }

    /// An array of strings, each checked against `allowed` (when given), stored lower case when checked.
    mutating func words(_ node: TOMLNode, _ field: String, allowed: [String]?) -> [String] {
        guard case .array(let items) = node.value else { wrongType(node, field, "an array of strings"); return [] }
        if items.isEmpty { report(node.line, "\(field): the list is empty, which would match nothing; remove the key to allow every click") }
        var words: [String] = []
        for (index, item) in items.enumerated() {
            guard let text = nonEmptyString(item, "\(field)[\(index)]") else { continue }
            if let allowed, !allowed.contains(text.lowercased()) {
                report(item.line, "\(field)[\(index)]: \"\(text)\" is not a device type; use \(allowed.joined(separator: ", "))")
                continue
            }
            words.append(allowed == nil ? text : text.lowercased())
        }
        return words
    }

    /// ISO 3166 two-letter country codes (upper-cased).
    mutating func countries(_ node: TOMLNode, _ field: String) -> [String] {
        words(node, field, allowed: nil).compactMap { code in
            let upper = code.uppercased()
            guard upper.utf8.count == 2, upper.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
                report(node.line, "\(field): \"\(code)\" is not a two-letter country code such as \"US\" or \"DE\"")
                return nil
            }
            return upper
        }
    }

    mutating func readSmartLinks(_ node: TOMLNode) -> [SmartLinkConfig] {
        var links: [SmartLinkConfig] = []
        var firstUse: [UInt32: (name: String, line: Int)] = [:]
        var slugs: [String: Int] = [:]
        for (index, element) in tableArray(node, "smartlinks").enumerated() {
            let name = "smartlinks[\(index + 1)]"
            var link = SmartLinkConfig()
            link.line = element.line
            for (key, value) in element.table.entries {
                let field = "\(name).\(key)"
                switch key {
                case "id": if let v = id(value, field) { link.id = v }
                case "slug": if let v = slug(value, field) { link.slug = v }
                case "offers": link.offers = smartLinkOffers(value, field)
                case "trafficback_url": if let v = url(value, field, macros: ConfigParse.offerURLMacros) { link.trafficbackURL = v }
                default: unknownKey(key, value, field, known: Self.smartLinkKeys)
                }
            }
            requireKeys(["id", "slug", "offers"], in: element.table, name: name, line: element.line, header: "[[smartlinks]]")
            checkUnique(link.id, element.table, name: name, kind: "smart link", firstUse: &firstUse)
            if !link.slug.isEmpty {
                if let first = slugs[link.slug] {
                    report(element.line, "\(name).slug: \"\(link.slug)\" is already used by the smart link at line \(first); give each its own slug")
                } else {
                    slugs[link.slug] = element.line
                }
            }
            links.append(link)
        }
        return links
    }

    mutating func slug(_ node: TOMLNode, _ field: String) -> String? {
        guard let text = nonEmptyString(node, field) else { return nil }
        guard text.utf8.count <= 64, text.utf8.allSatisfy({ b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
        }) else {
            report(node.line, "\(field): \"\(text)\" cannot be a path segment; use 1 to 64 of A-Z a-z 0-9 _ -")
            return nil
        }
        return text
    }

    /// `offers = [{ offer_id = 1, weight = 3 }, …]`; `priority` optional (lower first, default 0).
    mutating func smartLinkOffers(_ node: TOMLNode, _ field: String) -> [SmartLinkOfferConfig] {
        guard case .array(let items) = node.value else {
            wrongType(node, field, "an array of tables such as [{ offer_id = 1, weight = 3 }]")
            return []
        }
        if items.isEmpty { report(node.line, "\(field): a smart link needs at least one offer") }
        if items.count > 64 { report(node.line, "\(field): \(items.count) offers; a smart link may list at most 64 (split it)") }
        var entries: [SmartLinkOfferConfig] = []
        for (index, item) in items.enumerated() {
            let itemField = "\(field)[\(index)]"
            guard let table = table(item, itemField) else { continue }
            var entry = SmartLinkOfferConfig(offerID: 0, weight: 1, line: item.line)
            for (key, value) in table.entries {
                switch key {
                case "offer_id": if let v = id(value, "\(itemField).offer_id") { entry.offerID = v }
                case "weight": if let v = integer(value, "\(itemField).weight", 1...1_000_000) { entry.weight = UInt32(v) }
                case "priority": if let v = integer(value, "\(itemField).priority", 0...1000) { entry.priority = v }
                default: unknownKey(key, value, "\(itemField).\(key)", known: Self.smartLinkOfferKeys)
                }
            }
            requireKeys(["offer_id"], in: table, name: itemField, line: item.line, header: "entry")
            if entry.offerID != 0 { entries.append(entry) }
        }
        return entries
    }

    /// References and redirect cycles: every `redirect_offer_id`, smart-link `offer_id` and
    /// `affiliate_caps.aff_id` names a configured offer or affiliate; a redirect chain that comes back
    /// to an offer is refused with the line of every link in it.
    mutating func checkTraffic(_ config: TrackstarConfig) {
        var byID: [UInt32: (index: Int, offer: OfferConfig)] = [:]
        for (index, offer) in config.offers.enumerated() { byID[offer.id] = (index, offer) }
        let affiliates = Set(config.affiliates.map(\.id))
        for (index, offer) in config.offers.enumerated() {
            let name = "offers[\(index + 1)]"
            if let target = offer.redirectOfferID {
                if byID[target] == nil {
                    report(offer.redirectOfferLine, "\(name).redirect_offer_id: no offer with id \(target); name a configured offer or remove the key")
                }
            }
            for cap in offer.affiliateCaps where !affiliates.contains(cap.affID) {
                report(cap.limits.line, "\(name).affiliate_caps: no affiliate with id \(cap.affID)")
            }
        }
        reportRedirectCycles(config, byID)
        for (index, link) in config.smartlinks.enumerated() {
            for entry in link.offers where byID[entry.offerID] == nil {
                report(entry.line, "smartlinks[\(index + 1)].offers: no offer with id \(entry.offerID); name a configured offer")
            }
        }
    }

    /// Each redirect graph node has at most one edge, so walking from every offer finds each cycle;
    /// a cycle is reported once, at the smallest line among its links.
    mutating func reportRedirectCycles(_ config: TrackstarConfig, _ byID: [UInt32: (index: Int, offer: OfferConfig)]) {
        var reported = Set<UInt32>()
        for offer in config.offers {
            var path: [UInt32] = []
            var current: UInt32? = offer.id
            while let id = current, let entry = byID[id] {
                if let start = path.firstIndex(of: id) {
                    let cycle = Array(path[start...])
                    if cycle.allSatisfy({ !reported.contains($0) }) {
                        reported.formUnion(cycle)
                        let links = cycle.map { "offer \($0) → \(byID[$0]!.offer.redirectOfferID!) (line \(byID[$0]!.offer.redirectOfferLine))" }
                        let line = cycle.map { byID[$0]!.offer.redirectOfferLine }.min() ?? 0
                        report(line, "redirect_offer_id: the chain comes back to offer \(id): \(links.joined(separator: ", ")); "
                            + "end it with a trafficback_url instead of a redirect")
                    }
                    break
                }
                path.append(id)
                current = entry.offer.redirectOfferID
            }
        }
    }
}
