// Sender profiles: which parameter names a postback sender uses for each field, which status words
// mean what, how it writes decimals and which literal placeholders mean "not filled in". The model
// here is what `[[postback_profiles]]` configures; `PostbackProfiles.builtins` are the senders
// Trackstar knows, each built from that sender's published postback documentation.

import TrackstarCore

/// A field a postback carries. `payout` and `revenue` are amounts the sender states for this one
/// conversion; they replace the event's configured payout and revenue.
public enum PostbackField: Int, CaseIterable, Sendable {
    case clickID, event, amount, currency, txid, status, token, payout, revenue

    /// The config key that lists this field's parameter names (also the name in error messages).
    public var key: String {
        switch self {
        case .clickID: "click_id"
        case .event: "event"
        case .amount: "amount"
        case .currency: "currency"
        case .txid: "txid"
        case .status: "status"
        case .token: "token"
        case .payout: "payout"
        case .revenue: "revenue"
        }
    }

    /// The field whose config key is `key`.
    public static func keyed(_ key: String) -> PostbackField? { allCases.first { $0.key == key } }
}

/// A status a sender's word maps to (the same three a conversion record holds).
public enum PostbackStatusWord: String, CaseIterable, Sendable {
    case approved, pending, rejected
}

/// One sender profile, as configured or built in.
public struct PostbackProfileConfig: Sendable, Equatable {
    public var name: String
    /// The built-in profile this one starts from: its names, words and placeholders, plus this one's.
    public var extends: String? = nil
    /// Parameter names of each field, in order of preference (the first present one is read).
    public var names: [PostbackField: [String]] = [:]
    /// Status words (compared without regard to ASCII case) for each status.
    public var words: [PostbackStatusWord: [String]] = [:]
    /// `12,34` means 12.34 (a single comma, no point).
    public var decimalComma = false
    /// A currency sign (`$ € £ ¥ ₽ ₹`) before or after the amount is ignored.
    public var currencySign = false
    /// Whole values that mean "the sender's template was never filled in" (compared without case),
    /// besides the bracket forms every profile knows (`{x}`, `{{x}}`, `${x}`, `[x]`, `%x%`, `#x#`).
    public var placeholders: [String] = []
    /// Fields that must be present (besides the click ID, which always must).
    public var required: [PostbackField] = []
    /// Source line of the `[[postback_profiles]]` header (0 for a built-in).
    public var line: Int = 0

    public init(name: String) { self.name = name }

    /// The names of `field`, empty if it has none.
    public func names(_ field: PostbackField) -> [String] { names[field] ?? [] }
}

/// The built-in profiles and the resolution of configured ones.
public enum PostbackProfiles {
    /// The profile a configuration uses when `[server] postback_profile` is not set.
    public static let defaultName = "trackstar"
    /// Distinct parameter names over every profile in use: the request path's name table holds this many.
    public static let maxNames = 128
    /// Placeholder words every built-in knows: Voluum's `REPLACE` and `OPTIONAL`, and the usual others.
    static let commonPlaceholders = ["REPLACE", "REPLACE_ME", "REPLACEME", "OPTIONAL", "CHANGEME"]

    private static func profile(_ name: String, _ names: [PostbackField: [String]], approved: [String] = ["approved"],
                                pending: [String] = ["pending"], rejected: [String] = ["rejected"], comma: Bool = false,
                                sign: Bool = false, placeholders: [String] = []) -> PostbackProfileConfig {
        var profile = PostbackProfileConfig(name: name)
        profile.names = names
        profile.words = [.approved: approved, .pending: pending, .rejected: rejected]
        profile.decimalComma = comma
        profile.currencySign = sign
        profile.placeholders = commonPlaceholders + placeholders
        return profile
    }

    /// Every built-in profile, by name. Each comment names the page it was built from.
    public static let builtins: [PostbackProfileConfig] = [
        // Trackstar's own names (the only ones read before profiles existed).
        profile("trackstar", [.clickID: ["click_id", "transaction_id", "clickid", "cid", "subid"], .event: ["event", "goal"],
                              .amount: ["amount"], .currency: ["currency"], .txid: ["txid", "order_id"], .status: ["status"],
                              .token: ["token", "security_token"]]),
        // TUNE (HasOffers): https://support.tune.com/hc/en-us/articles/4413247665431-Receiving-Conversions-via-Postback-URL
        // and https://support.tune.com/hc/en-us/articles/1500005236742-Customizing-a-Conversion-URL
        // (`aff_lsr?offer_id=…&transaction_id=…&amount=…&adv_sub=…&goal_id=…&security_token=…`).
        profile("tune", [.clickID: ["transaction_id"], .event: ["goal_id", "goal_name"], .amount: ["amount"], .currency: ["currency"],
                         .txid: ["adv_sub"], .status: ["status"], .token: ["security_token"]],
                sign: true, placeholders: ["TRANSACTION_ID", "AMOUNT"]),
        // Everflow: https://helpdesk.everflow.io/en/articles/6279436-getting-started-advertiser-server-postbacks
        // and https://helpdesk.everflow.io/customer/accessing-editing-s2s-postback-urls
        // (`?nid=…&transaction_id=…&amount=…&adv_event_id=…&order_id=…`; `nid` and `adv1…adv5` are kept as extras).
        profile("everflow", [.clickID: ["transaction_id"], .event: ["adv_event_id", "event_id"], .amount: ["amount"],
                             .currency: ["currency"], .txid: ["order_id"], .status: ["status"], .token: ["verification_token"]],
                sign: true),
        // Voluum: https://doc.voluum.com/en/tracking_conversions_postback.html and
        // https://doc.voluum.com/article/parameters-in-postback-urls (`?cid=REPLACE&payout=OPTIONAL&txid=OPTIONAL&et=…`):
        // `payout` is "the revenue amount per conversion", so it is the sender-stated revenue.
        profile("voluum", [.clickID: ["cid"], .revenue: ["payout"], .txid: ["txid"], .currency: ["currency"], .event: ["et"]],
                sign: true),
        // Keitaro: https://docs.keitaro.io/en/conversions/postback.html (`?subid=…&status=lead|sale|rejected|rebill
        // &payout=…&tid=…&currency=…`): `tid` is the order (transaction) id here, `payout`/`revenue` what you earn.
        profile("keitaro", [.clickID: ["subid"], .status: ["status"], .revenue: ["payout", "revenue"], .txid: ["tid"],
                            .currency: ["currency"]],
                approved: ["sale", "rebill", "approved"], pending: ["lead", "hold", "pending"], rejected: ["rejected", "reject", "trash"],
                comma: true, sign: true),
        // Binom: https://docs.binom.org/postback-url.php (`click.php?cnv_id=…&payout=…&cnv_status=…&cnv_currency=…`)
        // and https://docs.binom.org/payout-tracking-v2.php (statuses such as Hold, approve, reject).
        profile("binom", [.clickID: ["cnv_id", "clickid"], .revenue: ["payout"], .status: ["cnv_status"], .currency: ["cnv_currency"],
                          .txid: ["txid"], .event: ["event"]],
                approved: ["approve", "approved", "sale", "confirmed"], pending: ["hold", "pending", "lead", "signup"],
                rejected: ["reject", "rejected", "decline", "declined", "trash"], comma: true, sign: true),
        // RedTrack: https://help.redtrack.io/knowledgebase/kb/conversion-tracking/tracking-event-types/ and
        // https://help.redtrack.io/knowledgebase/kb/basic-setup-9785/supported-dynamic-parameters/ (`?clickid=…&sum=…
        // &type=…&status=…`; `rdtk_event_id` de-duplicates, so it is the order id).
        profile("redtrack", [.clickID: ["clickid"], .revenue: ["sum"], .event: ["type"], .status: ["status"], .currency: ["currency"],
                             .txid: ["rdtk_event_id", "transaction_id"]],
                approved: ["approved", "approve"], pending: ["pending", "hold"], rejected: ["declined", "rejected", "fraud"], sign: true),
        // Affise: http://help-center.affise.com/en/articles/5981387-affise-postback-url-parameters (`?clickid=…&action_id=…
        // &goal=…&sum=…&status=1|2|3|5&secure=…`): `sum` is the conversion revenue; status 1 approved, 2 pending,
        // 3 declined, 5 hold.
        profile("affise", [.clickID: ["clickid", "click_id"], .txid: ["action_id"], .event: ["goal"], .revenue: ["sum"],
                           .status: ["status"], .token: ["secure"], .currency: ["currency"]],
                approved: ["1", "approved"], pending: ["2", "5", "pending", "hold"], rejected: ["3", "declined", "rejected"],
                comma: true, sign: true),
        // CAKE: https://support.getcake.com/support/solutions/articles/5000546059-how-to-implement-server-to-server-tracking-using-a-postback-url
        // (`p.ashx?o=…&e=…&f=pb&r=REQUEST_ID&t=TRANSACTION_ID&p=PRICE`): the request id comes back in `r`,
        // `t` is the advertiser's transaction id, `e` the event and `p` the price paid (revenue).
        profile("cake", [.clickID: ["r", "reqid"], .txid: ["t"], .event: ["e"], .revenue: ["p"]],
                sign: true, placeholders: ["REQUEST_ID", "TRANSACTION_ID"]),
        // impact.com: https://help.impact.com/en/support/solutions/articles/155000000882-enable-action-clearing-events-notification
        // (`action_id={ActionId}&status={Status}&payout={Payout}&amount={Amount}&currency={Currency}`, click id in
        // SubId1): statuses PENDING, APPROVED, REVERSED; `payout` is the commission paid to you (revenue).
        profile("impact", [.clickID: ["subid1", "click_id", "SubId1"], .txid: ["action_id", "oid"], .revenue: ["payout"],
                           .amount: ["amount"], .currency: ["currency"], .status: ["status"], .event: ["action_tracker_id"]],
                approved: ["approved", "locked", "cleared"], pending: ["pending"], rejected: ["reversed", "rejected"], sign: true),
    ]

    /// The built-in profile called `name`.
    public static func builtin(_ name: String) -> PostbackProfileConfig? { builtins.first { $0.name == name } }

    /// Every profile a configuration can name: the built-ins, then its own (each with its base's names
    /// and words merged in). Run after the loader accepted `profiles`.
    public static func all(_ profiles: [PostbackProfileConfig]) -> [PostbackProfileConfig] {
        builtins + profiles.map(resolved)
    }

    /// `profile` with the names, words and placeholders of the built-in it extends added before its own.
    public static func resolved(_ profile: PostbackProfileConfig) -> PostbackProfileConfig {
        guard let baseName = profile.extends, let base = builtin(baseName) else { return profile }
        var merged = profile
        // A name this profile gives any field is its own: the base's use of it is dropped (so `tid` can move).
        let claimed = Set(profile.names.values.joined())
        for field in PostbackField.allCases {
            let own = profile.names(field)
            let inherited = base.names(field).filter { !claimed.contains($0) }
            if !own.isEmpty || !inherited.isEmpty { merged.names[field] = own + inherited }
        }
        for status in PostbackStatusWord.allCases {
            merged.words[status] = (profile.words[status] ?? []) + (base.words[status] ?? [])
        }
        merged.placeholders = profile.placeholders + base.placeholders
        merged.required = Array(Set(profile.required + base.required)).sorted { $0.rawValue < $1.rawValue }
        return merged
    }
}
