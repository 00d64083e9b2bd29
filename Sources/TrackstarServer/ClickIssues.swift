// Clicks a shopper's browser sent that were not quite right: counted per (offer, affiliate, reason)
// in a fixed table per loop for /metrics, and logged as records of the shard's refusal log, so
// `trackstar report` shows them in its refusal section. Nothing here allocates on the click path.
import Atomics
import TrackstarCore
import TrackstarStore

/// A loop's click-issue counters: an open-addressing table of `capacity` entries, each key
/// (offer, affiliate, reason) claimed once and never moved. Invariants: only the owning loop writes;
/// an entry's key words are written before its `tag` (release), and readers load the tag first
/// (acquire), so a reader that sees a tag sees its key. Counts are relaxed (single writer).
/// Keys that find no free entry within `maxProbes` are counted per reason in `overflow`.
final class ClickIssueTable: @unchecked Sendable {
    static let capacity = 1024
    static let maxProbes = 16
    /// Per entry: [key: offer << 32 | affiliate, tag: reason + 1 (0: free), count].
    let words: UnsafeMutablePointer<UInt64.AtomicRepresentation>
    let overflow: UnsafeMutablePointer<UInt64.AtomicRepresentation>
    static var reasonSlots: Int { RefusalReason.allCases.count + 1 }

    init() {
        words = .allocate(capacity: 3 * ClickIssueTable.capacity)
        words.initialize(repeating: .init(0), count: 3 * ClickIssueTable.capacity)
        overflow = .allocate(capacity: ClickIssueTable.reasonSlots)
        overflow.initialize(repeating: .init(0), count: ClickIssueTable.reasonSlots)
    }

    deinit { words.deallocate(); overflow.deallocate() }

    /// Owner loop: one more click of this offer, affiliate and reason.
    func count(offer: UInt32, affiliate: UInt32, reason: RefusalReason) {
        let key = UInt64(offer) << 32 | UInt64(affiliate)
        let tag = UInt64(reason.rawValue) + 1
        var i = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15 ^ tag &* 0xC2B2_AE3D_27D4_EB4F) >> 54)  // 10 bits
        for _ in 0..<ClickIssueTable.maxProbes {
            let entry = words + 3 * i
            let entryTag = UnsafeAtomic<UInt64>(at: entry + 1)
            let seen = entryTag.load(ordering: .relaxed)  // the owner wrote it: no ordering needed
            if seen == 0 {
                UnsafeAtomic<UInt64>(at: entry).store(key, ordering: .relaxed)
                entryTag.store(tag, ordering: .releasing)  // publishes the key to readers
                LoopMetrics.bump(entry + 2)
                return
            }
            if seen == tag && UnsafeAtomic<UInt64>(at: entry).load(ordering: .relaxed) == key {
                LoopMetrics.bump(entry + 2)
                return
            }
            i = (i + 1) & (ClickIssueTable.capacity - 1)
        }
        LoopMetrics.bump(overflow + Int(reason.rawValue))
    }

    /// Any thread: every (offer, affiliate, reason, count) claimed so far; overflow as offer nil.
    func snapshot() -> [(offer: UInt32?, affiliate: UInt32?, reason: RefusalReason, count: UInt64)] {
        var out: [(offer: UInt32?, affiliate: UInt32?, reason: RefusalReason, count: UInt64)] = []
        for i in 0..<ClickIssueTable.capacity {
            let entry = words + 3 * i
            let tag = UnsafeAtomic<UInt64>(at: entry + 1).load(ordering: .acquiring)  // pairs with the releasing store
            guard tag != 0, let reason = RefusalReason(rawValue: UInt16(tag - 1)) else { continue }
            let key = UnsafeAtomic<UInt64>(at: entry).load(ordering: .relaxed)
            out.append((UInt32(key >> 32), UInt32(truncatingIfNeeded: key), reason, LoopMetrics.read(entry + 2)))
        }
        for reason in RefusalReason.allCases {
            let n = LoopMetrics.read(overflow + Int(reason.rawValue))
            if n > 0 { out.append((nil, nil, reason, n)) }
        }
        return out
    }
}

extension RequestHandler {
    /// Counts a click issue and appends it to the refusal log (offer, affiliate, reason, the raw
    /// query), so the click's value as sent is kept even when the click record holds it cut.
    func noteClickIssue(_ exchange: Exchange, _ reason: RefusalReason, status: HTTPStatus) {
        metrics.clickIssues.count(offer: exchange.offerID, affiliate: exchange.affiliateID, reason: reason)
        logRefusal(exchange, status, reason)
    }

    /// The issue a lenient parameter change is logged under.
    static func clickReason(_ change: ParamError) -> RefusalReason {
        switch change {
        case .tooLong: .clickValueCut
        case .conflicting: .clickRepeatedParameter
        case .malformedEncoding: .clickMalformedEncoding
        }
    }
}

extension MetricsWriter {
    /// `trackstar_click_issues_total{offer,affiliate,reason}`, summed over the loops.
    func writeClickIssues(_ w: inout ByteWriter) {
        var totals: [String: UInt64] = [:]
        for loop in engine.metrics {
            for (offer, affiliate, reason, count) in loop.clickIssues.snapshot() {
                let labels = PrometheusText.labels(["offer": offer.map(String.init) ?? "other", "affiliate": affiliate.map(String.init) ?? "other",
                                                     "reason": "\(reason.name)"])
                totals[labels, default: 0] &+= count
            }
        }
        metric(&w, "trackstar_click_issues_total", "counter",
               "Clicks recorded with a value changed, or sent to the fallback or refused, by offer, affiliate and reason (offer and affiliate \"other\": beyond the table).",
               totals.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }
}
