// The loader's part for the catalog: `[[offers]]` with their `[offers.events.NAME]` tables, and
// `[[affiliates]]`. Each problem is reported with its line; ids are checked for uniqueness.

import TrackstarCore

extension ConfigReader {
    mutating func readOffers(_ node: TOMLNode) -> [OfferConfig] {
        readEntries(node, "offers", kind: "offer", id: \.id) { $0.readOffer($1, name: $2, line: $3) }
    }

    /// The tables of `[[section]]`, each read by `read` (given its name, `section[N]`, and line) and
    /// checked for an id no earlier entry used.
    mutating func readEntries<Entry>(_ node: TOMLNode, _ section: String, kind: String, id: KeyPath<Entry, UInt32>,
                                     _ read: (inout ConfigReader, TOMLTable, String, Int) -> Entry) -> [Entry] {
        var entries: [Entry] = []
        var firstUse: [UInt32: (name: String, line: Int)] = [:]
        for (index, element) in tableArray(node, section).enumerated() {
            let name = "\(section)[\(index + 1)]"
            let entry = read(&self, element.table, name, element.line)
            checkUnique(entry[keyPath: id], element.table, name: name, kind: kind, firstUse: &firstUse)
            entries.append(entry)
        }
        return entries
    }

    mutating func readOffer(_ table: TOMLTable, name: String, line: Int) -> OfferConfig {
        var offer = OfferConfig(id: 0, url: "")
        offer.line = line
        var eventsNode: TOMLNode?
        for (key, node) in table.entries {
            let field = "\(name).\(key)"
            switch key {
            case "id": if let v = id(node, field) { offer.id = v }
            case "name": if let v = string(node, field) { offer.name = v }
            case "url": if let v = url(node, field, macros: ConfigParse.offerURLMacros) { offer.url = v }
            case "fallback_url": if let v = url(node, field, macros: ConfigParse.offerURLMacros) { offer.fallbackURL = v }
            case "status": if let v = choice(node, field, OfferStatus.self) { offer.status = v }
            case "click_lifetime": if let v = duration(node, field, allowZero: false) { offer.clickLifetimeMillis = v }
            case "txid_window": if let v = duration(node, field, allowZero: false) { offer.txidWindowMillis = v }
            case "min_conversion_delay": if let v = duration(node, field, allowZero: true) { offer.minConversionDelayMillis = v }
            case "multiple_conversions": if let v = bool(node, field) { offer.multipleConversions = v }
            case "token": if let v = nonEmptyString(node, field) { offer.token = v }
            case "allowed_ips": offer.allowedIPs = networks(node, field)
            case "currency": if let v = currency(node, field) { offer.currency = v }
            case "payout": if let v = money(node, field) { offer.payout = v }
            case "revenue": if let v = money(node, field) { offer.revenue = v }
            case "events": eventsNode = node
            case "postback_profile": if let v = nonEmptyString(node, field) { offer.postbackProfile = v }
            case "bot_action": if let v = keyword(node, field, BotAction.self, expected: #""flag", "fallback" or "refuse""#) { offer.botAction = v }
            case "unique_window": if let v = duration(node, field, allowZero: false) { offer.uniqueWindowMillis = v }
            case "caps", "affiliate_caps", "countries", "exclude_countries", "devices", "os", "redirect_offer_id", "trafficback_url", "timezone":
                readTrafficKey(key, node, field, into: &offer)
            default: unknownKey(key, node, field, known: Self.offerKeys)
            }
        }
        requireKeys(["id", "url"], in: table, name: name, line: line, header: "[[offers]]")
        if let eventsNode { offer.events = readEvents(eventsNode, "\(name).events", offer: offer) }
        if let conversion = offer.events.first(where: { $0.name == "conversion" }) {
            offer.payout = conversion.payout
            offer.revenue = conversion.revenue
        }
        return offer
    }

    /// `[offers.events.NAME]` tables. An omitted payout or revenue is 0, except for the
    /// `conversion` event, where it keeps the offer's own value.
    mutating func readEvents(_ node: TOMLNode, _ name: String, offer: OfferConfig) -> [EventConfig] {
        guard let table = table(node, name) else { return [] }
        var events: [EventConfig] = []
        for (eventName, eventNode) in table.entries {
            let field = TOML.join(name, eventName)
            if !ConfigParse.isValidEventName(eventName) {
                report(eventNode.line, "\(field): event names are 1 to 64 characters of A-Z a-z 0-9 _ . -; rename the event")
            }
            guard let eventTable = self.table(eventNode, field) else { continue }
            let isConversion = eventName == "conversion"
            var event = EventConfig(name: eventName, payout: isConversion ? offer.payout : 0,
                                    revenue: isConversion ? offer.revenue : 0)
            for (key, valueNode) in eventTable.entries {
                let valueField = "\(field).\(key)"
                switch key {
                case "payout": if let v = money(valueNode, valueField) { event.payout = v }
                case "revenue": if let v = money(valueNode, valueField) { event.revenue = v }
                default: unknownKey(key, valueNode, valueField, known: Self.eventKeys)
                }
            }
            events.append(event)
        }
        if events.count > OfferConfig.maxEvents {
            report(node.line, "\(name): \(events.count) events; an offer may define at most \(OfferConfig.maxEvents) (split the offer or merge events)")
        }
        return events
    }

    mutating func readAffiliates(_ node: TOMLNode) -> [AffiliateConfig] {
        readEntries(node, "affiliates", kind: "affiliate", id: \.id) { $0.readAffiliate($1, name: $2, line: $3) }
    }

    mutating func readAffiliate(_ table: TOMLTable, name: String, line: Int) -> AffiliateConfig {
        var affiliate = AffiliateConfig(id: 0)
        affiliate.line = line
        for (key, node) in table.entries {
            let field = "\(name).\(key)"
            switch key {
            case "id": if let v = id(node, field) { affiliate.id = v }
            case "name": if let v = string(node, field) { affiliate.name = v }
            case "status": if let v = choice(node, field, AffiliateStatus.self) { affiliate.status = v }
            case "postback_url": if let v = url(node, field, macros: ConfigParse.postbackURLMacros) { affiliate.postbackURL = v }
            case "reversal_url": if let v = url(node, field, macros: ConfigParse.postbackURLMacros) { affiliate.reversalURL = v }
            case "postback_statuses": if let v = postbackStatuses(node, field) { affiliate.postbackStatuses = v }
            case "postback_delay": if let v = duration(node, field, allowZero: true) { affiliate.postbackDelayMillis = v }
            case "trafficback_url": if let v = url(node, field, macros: ConfigParse.offerURLMacros) { affiliate.trafficbackURL = v }
            default: unknownKey(key, node, field, known: Self.affiliateKeys)
            }
        }
        requireKeys(["id"], in: table, name: name, line: line, header: "[[affiliates]]")
        return affiliate
    }

    // MARK: Structure checks
}
