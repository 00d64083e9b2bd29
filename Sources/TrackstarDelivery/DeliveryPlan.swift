// Which conversions are told to which partner URL: compiled from the affiliates' postback settings
// and the `[[postbacks]]` rules. Replaced whole on a configuration reload.
import TrackstarCore
import TrackstarStore
import TrackstarConfiguration

/// The compiled routing of conversions to partner postback templates.
public struct DeliveryPlan: Sendable {
    struct Affiliate: Sendable {
        var template: PartnerTemplate?
        /// `reversal_url`: where approved → rejected goes when approvals are sent.
        var reversal: PartnerTemplate?
        var statuses: Set<UInt8>
        var delayMillis: Int64
    }
    struct RuleKey: Hashable, Sendable {
        var affID: UInt32
        var offerID: UInt32  // 0: any offer
        var event: String  // "": any event
    }
    var affiliates: [UInt32: Affiliate] = [:]
    /// nil template: the rule says "send nothing".
    var rules: [RuleKey: PartnerTemplate?] = [:]

    public init(_ config: TrackstarConfig) {
        for affiliate in config.affiliates {
            let statuses = Set(affiliate.postbackStatuses.map { status -> UInt8 in
                switch status {
                case .approved: ConversionStatus.approved.rawValue
                case .pending: ConversionStatus.pending.rawValue
                case .rejected: ConversionStatus.rejected.rawValue
                }
            })
            affiliates[affiliate.id] = Affiliate(template: affiliate.postbackURL.flatMap(PartnerTemplate.init),
                                                 reversal: affiliate.reversalURL.flatMap(PartnerTemplate.init), statuses: statuses, delayMillis: affiliate.postbackDelayMillis)
        }
        for rule in config.postbacks {
            let key = RuleKey(affID: rule.affID, offerID: rule.offerID ?? 0, event: rule.event ?? "")
            rules[key] = rule.url.isEmpty ? .some(nil) : .some(PartnerTemplate(rule.url))
        }
    }

    /// Whether any conversion can be delivered at all (otherwise no dispatcher is started).
    public var isEmpty: Bool {
        !affiliates.values.contains { $0.template != nil || $0.reversal != nil } && !rules.values.contains { $0 != nil }
    }

    /// Whether the configuration has this affiliate (a conversion of one it lacks was made before the
    /// affiliate was removed).
    public func knowsAffiliate(_ id: UInt32) -> Bool { affiliates[id] != nil }

    /// The template and delay for a conversion or a transition (`previous`: the status it changed
    /// from), or nil when nothing is sent for it. A transition is sent when its new status is in the
    /// affiliate's `postback_statuses`, as a conversion is; a reversal (approved → rejected) of an
    /// approval the affiliate is sent goes to its `reversal_url` when it has one.
    public func route(affID: UInt32, offerID: UInt32, event: String, status: ConversionStatus,
                      previous: ConversionStatus? = nil) -> (PartnerTemplate, delayMillis: Int64)? {
        guard let affiliate = affiliates[affID] else { return nil }
        if previous == .approved && status == .rejected, let reversal = affiliate.reversal,
           affiliate.statuses.contains(ConversionStatus.approved.rawValue) {
            return (reversal, affiliate.delayMillis)
        }
        guard affiliate.statuses.contains(status.rawValue) else { return nil }
        for key in [RuleKey(affID: affID, offerID: offerID, event: event), RuleKey(affID: affID, offerID: offerID, event: ""),
                    RuleKey(affID: affID, offerID: 0, event: event)] {
            if let rule = rules[key] {
                guard let template = rule else { return nil }
                return (template, affiliate.delayMillis)
            }
        }
        guard let template = affiliate.template else { return nil }
        return (template, affiliate.delayMillis)
    }
}
