// What each request is for, so latency, throughput and statuses can be reported split by kind, and the
// answer each kind should get from Trackstar.

/// The kinds of request the generator sends. Raw values index per-kind statistics.
enum RequestKind: Int, CaseIterable, Sendable {
    case click
    case postbackValid
    case postbackRepeat
    case postbackConflict
    case forged
    case mangled
    case macro

    static let count = allCases.count

    /// The name used in reports.
    var name: String {
        switch self {
        case .click: "click"
        case .postbackValid: "postback-valid"
        case .postbackRepeat: "postback-repeat"
        case .postbackConflict: "postback-conflict"
        case .forged: "forged"
        case .mangled: "mangled"
        case .macro: "macro"
        }
    }

    /// Whether `status` is what Trackstar should answer (the floor and nginx answer 302 to everything).
    /// A conflicting second conversion is 409, or 200 on an offer that allows multiple conversions.
    func expects(_ status: Int) -> Bool {
        switch self {
        case .click: status == 302
        case .postbackValid, .postbackRepeat: status == 200
        case .postbackConflict: status == 409 || status == 200
        case .forged: status == 404
        case .mangled, .macro: status == 400
        }
    }
}

/// The traffic shape: which kinds are sent, and how.
enum Scenario: String, CaseIterable, Sendable {
    /// Clicks only.
    case clicks
    /// First mint a pool of IDs with clicks, then send one valid postback per ID (repeats once it runs out).
    case postbacks
    /// Well-formed click IDs whose tag does not verify: the cheapest refusal.
    case forged
    /// The campaign flood: clicks, and for a share of minted IDs postbacks with repeats, conflicts,
    /// forged and mangled IDs and unreplaced macros.
    case flood
}

/// Per minted click in the flood, how likely each follow-up postback is (relative to `--postback-share`).
enum FloodMix {
    /// Of the IDs that get a valid postback, the share that is sent again unchanged.
    static let repeatShare = 0.25
    /// Of the IDs that get a valid postback, the share that gets a second one with another txid.
    static let conflictShare = 0.15
    /// Relative to the postback share: forged, mangled and macro postbacks per minted click.
    static let forgedShare = 0.10
    static let mangledShare = 0.05
    static let macroShare = 0.05
}
