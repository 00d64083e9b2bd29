// The loader's part for partner postbacks: `[delivery]`, `[[postbacks]]` and the affiliate keys
// `postback_statuses` and `postback_delay`.

import TrackstarCore

extension ConfigReader {
    static let deliveryKeys = [
        "connect_timeout", "timeout", "max_per_endpoint", "max_in_flight", "max_attempts", "retry_base",
        "retry_max_delay", "pause_after", "ca_file", "compact_after", "archive_retention",
        "rate_while_busy",
    ]
    static let postbackRuleKeys = ["aff_id", "offer_id", "event", "url"]

    mutating func readDelivery(_ table: TOMLTable) -> DeliveryConfig {
        var delivery = DeliveryConfig()
        for (key, node) in table.entries {
            let name = "delivery." + key
            switch key {
            case "connect_timeout": if let v = duration(node, name, allowZero: false) { delivery.connectTimeoutMillis = v }
            case "timeout": if let v = duration(node, name, allowZero: false) { delivery.timeoutMillis = v }
            case "max_per_endpoint": if let v = integer(node, name, 1...1024) { delivery.maxPerEndpoint = v }
            case "max_in_flight": if let v = integer(node, name, 1...65_536) { delivery.maxInFlight = v }
            case "max_attempts": if let v = integer(node, name, 1...100) { delivery.maxAttempts = v }
            case "retry_base": if let v = duration(node, name, allowZero: false) { delivery.retryBaseMillis = v }
            case "retry_max_delay": if let v = duration(node, name, allowZero: false) { delivery.retryMaxDelayMillis = v }
            case "pause_after": if let v = integer(node, name, 1...1_000_000) { delivery.pauseAfter = v }
            case "ca_file": if let v = nonEmptyString(node, name) { delivery.caFile = v }
            case "compact_after": if let v = integer(node, name, 10...1_000_000_000) { delivery.compactAfter = v }
            case "archive_retention":  // "0" (or "0d") keeps the archive forever
                if case .string("0") = node.value { delivery.archiveRetentionMillis = 0 }
                else if let v = duration(node, name, allowZero: true) { delivery.archiveRetentionMillis = v }
            case "rate_while_busy": if let v = integer(node, name, 0...1_000_000) { delivery.rateWhileBusy = v }  // 0: never paced
            default: unknownKey(key, node, name, known: Self.deliveryKeys)
            }
        }
        if delivery.retryMaxDelayMillis < delivery.retryBaseMillis, let node = table["retry_max_delay"] {
            report(node.line, "delivery.retry_max_delay: must not be shorter than retry_base")
        }
        return delivery
    }

    mutating func readPostbackRules(_ node: TOMLNode) -> [PostbackRuleConfig] {
        var rules: [PostbackRuleConfig] = []
        for (index, element) in tableArray(node, "postbacks").enumerated() {
            let name = "postbacks[\(index + 1)]"
            var rule = PostbackRuleConfig(affID: 0, url: "")
            rule.line = element.line
            for (key, valueNode) in element.table.entries {
                let field = "\(name).\(key)"
                switch key {
                case "aff_id": if let v = id(valueNode, field) { rule.affID = v }
                case "offer_id": if let v = id(valueNode, field) { rule.offerID = v }
                case "event":
                    if let v = string(valueNode, field) {
                        if ConfigParse.isValidEventName(v) { rule.event = v } else {
                            report(valueNode.line, "\(field): event names are 1 to 64 characters of A-Z a-z 0-9 _ . -")
                        }
                    }
                case "url":
                    guard case .string(let text) = valueNode.value else { wrongType(valueNode, field, "a URL string"); break }
                    if text.isEmpty { rule.url = "" } else if let v = url(valueNode, field, macros: ConfigParse.postbackURLMacros) { rule.url = v }
                default: unknownKey(key, valueNode, field, known: Self.postbackRuleKeys)
                }
            }
            requireKeys(["aff_id", "url"], in: element.table, name: name, line: element.line, header: "[[postbacks]]")
            if element.table["offer_id"] == nil && element.table["event"] == nil && !element.table.isIncomplete {
                report(element.line, "\(name): give offer_id, event or both; an affiliate's own postback_url covers the rest")
            }
            rules.append(rule)
        }
        return rules
    }

    mutating func postbackStatuses(_ node: TOMLNode, _ field: String) -> [PostbackStatus]? {
        let expected = "a list of statuses such as [\"approved\"] or [\"approved\", \"pending\"]"
        guard case .array(let items) = node.value else { wrongType(node, field, expected); return nil }
        var statuses: [PostbackStatus] = []
        for item in items {
            guard case .string(let text) = item.value, let status = PostbackStatus(rawValue: text) else {
                report(item.line, "\(field): expected \"approved\", \"pending\" or \"rejected\", got \(item.value.summary)")
                return nil
            }
            if !statuses.contains(status) { statuses.append(status) }
        }
        return statuses
    }

    /// Rules must name affiliates (and offers and events) that exist, and not repeat one another.
    mutating func checkPostbackRules(_ config: TrackstarConfig) {
        var seen: [String: Int] = [:]
        for (index, rule) in config.postbacks.enumerated() where rule.affID != 0 {
            let name = "postbacks[\(index + 1)]"
            if !config.affiliates.contains(where: { $0.id == rule.affID }) {
                report(rule.line, "\(name).aff_id: no affiliate has id \(rule.affID)")
            }
            if let offerID = rule.offerID {
                if let offer = config.offers.first(where: { $0.id == offerID }) {
                    if let event = rule.event, event != "conversion", !offer.events.contains(where: { $0.name == event }) {
                        report(rule.line, "\(name).event: offer \(offerID) has no event \"\(event)\"")
                    }
                } else {
                    report(rule.line, "\(name).offer_id: no offer has id \(offerID)")
                }
            }
            let key = "\(rule.affID)/\(rule.offerID.map(String.init) ?? "*")/\(rule.event ?? "*")"
            if let first = seen[key] {
                report(rule.line, "\(name): the same affiliate, offer and event as the rule at line \(first); keep one")
            } else {
                seen[key] = rule.line
            }
        }
    }
}
