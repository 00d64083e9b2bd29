// Why a postback or a click was refused or noted: the reasons stored in refusal records (their raw
// values are on disk, so new reasons only ever go at the end) and their names in answers, metrics
// and the feed.
#if canImport(Glibc)
import Glibc
#endif

/// Why a postback was refused: the machine-readable `reason` of the answer.
public enum RefusalReason: UInt16, CaseIterable, Sendable {
    case malformedID = 1, forgedID, unknownClick, expired, tooFast, badToken, ipNotAllowed, duplicateEvent
    case duplicateTxid, unreplacedMacro, unknownEvent, unknownOffer, missingParameter, malformedParameter
    case conflictingParameter, indexFull, storageUnavailable, other
    /// Clicks (logged since the click handling of issue 20): recorded with a value cut, a repeat
    /// dropped or a broken escape kept as sent; or not recorded (sent to the fallback, or refused).
    case clickValueCut, clickRepeatedParameter, clickMalformedEncoding, clickMissingParameter
    case clickMalformedParameter, clickUnknownOffer, clickUnknownAffiliate, clickOfferPaused
    case clickAffiliatePaused, clickRedirectTooLong
    /// Status updates (issue 18): a transition the state machine forbids, or one that lost the race.
    case forbiddenTransition, conflictingUpdate
    /// Postbacks again (issue 17): a status word the offer's sender profile does not know. Raw
    /// values are stored in refusal records, so new reasons only ever go at the end.
    case unknownStatus

    /// Whether the reason is about a click (the rest are postback refusals).
    public var isClick: Bool {
        rawValue >= RefusalReason.clickValueCut.rawValue && rawValue <= RefusalReason.clickRedirectTooLong.rawValue
    }

    public var name: StaticString {
        switch self {
        case .malformedID: "malformed_id"
        case .forgedID: "forged_id"
        case .unknownClick: "unknown_click"
        case .expired: "expired"
        case .tooFast: "too_fast"
        case .badToken: "bad_token"
        case .ipNotAllowed: "ip_not_allowed"
        case .duplicateEvent: "duplicate_event"
        case .duplicateTxid: "duplicate_txid"
        case .unreplacedMacro: "unreplaced_macro"
        case .unknownEvent: "unknown_event"
        case .unknownOffer: "unknown_offer"
        case .missingParameter: "missing_parameter"
        case .malformedParameter: "malformed_parameter"
        case .conflictingParameter: "conflicting_parameter"
        case .indexFull: "index_full"
        case .storageUnavailable: "storage_unavailable"
        case .other: "other"
        case .clickValueCut: "click_value_cut"
        case .clickRepeatedParameter: "click_repeated_parameter"
        case .clickMalformedEncoding: "click_malformed_encoding"
        case .clickMissingParameter: "click_missing_parameter"
        case .clickMalformedParameter: "click_malformed_parameter"
        case .clickUnknownOffer: "click_unknown_offer"
        case .clickUnknownAffiliate: "click_unknown_affiliate"
        case .clickOfferPaused: "click_offer_paused"
        case .clickAffiliatePaused: "click_affiliate_paused"
        case .clickRedirectTooLong: "click_redirect_too_long"
        case .forbiddenTransition: "forbidden_transition"
        case .conflictingUpdate: "conflicting_update"
        case .unknownStatus: "unknown_status"
        }
    }

    /// The reason whose name is `text` (`.other` if none), compared without allocating.
    public static func named(_ text: StaticString) -> RefusalReason {
        for reason in allCases {
            let name = reason.name
            if name.utf8CodeUnitCount == text.utf8CodeUnitCount
                && memcmp(name.utf8Start, text.utf8Start, name.utf8CodeUnitCount) == 0 { return reason }
        }
        return .other
    }
}
