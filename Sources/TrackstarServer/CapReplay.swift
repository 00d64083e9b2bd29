// Cap counters restored from the logs at start-up (issue 14): every click that reached its record
// offer's landing page and every conversion that was not rejected counts again, in the day and month
// of its own time in its offer's zone, so counts after kill -9 equal those before it. Also the
// conversion-cap check of the postback path and the /s/{slug} path match.
import TrackstarCore
import TrackstarStore

extension Engine {
    /// Counts every click and conversion still in the logs into the cap lines of `catalog`.
    /// Lifetime totals count what the logs still hold (clicks stay for the longest click_lifetime
    /// plus retention_grace; see docs/architecture.md "Caps").
    func replayCaps(_ catalog: Catalog) -> [String] {
        var clicks = 0, conversions = 0
        for table in self.clicks {
            var sequence = table.retiredCount
            while sequence < table.reservedCount {
                defer { sequence += 1 }
                guard let slot = table.record(sequence), let caps = catalog.offer(ClickSlot.offerID(slot))?.caps, caps.hasClickCaps else { continue }
                let bytes = table.bytes(at: ClickSlot.varOffset(slot), count: ClickSlot.varLength(slot))
                guard ClickSlot.traffic(bytes).countsAgainstCaps else { continue }
                caps.replay(.dailyClicks, affiliate: ClickSlot.affID(slot), timeMillis: ClickSlot.mintMillis(slot))
                clicks += 1
            }
        }
        for table in self.conversions {
            var sequence = table.retiredCount
            while sequence < table.reservedCount {
                defer { sequence += 1 }
                guard let record = table.record(sequence), ConversionRecord.kind(record) == .conversion,
                      ConversionRecord.status(record) != .rejected,
                      let caps = catalog.offer(ConversionRecord.offerID(record))?.caps, caps.hasConversionCaps else { continue }
                caps.replay(.dailyConversions, affiliate: ConversionRecord.affID(record), timeMillis: ConversionRecord.timeMillis(record))
                conversions += 1
            }
        }
        if clicks + conversions == 0 { return [] }
        return ["caps: \(clicks) clicks and \(conversions) conversions counted again from the logs"]
    }
}

extension RequestHandler {
    /// Whether this conversion is past one of its offer's (or the affiliate's) conversion caps; when
    /// not, it has taken a unit of each. A conversion sent as rejected takes none.
    @inline(__always)
    func conversionCapped(_ request: ConversionRequest, affID: UInt32, nowMillis: Int64) -> Bool {
        guard request.status != .rejected, let caps = request.offer.caps, caps.hasConversionCaps else { return false }
        return !caps.take(.dailyConversions, affiliate: affID, nowMillis: nowMillis)
    }
}

extension Route {
    /// The slug of a `/s/{slug}` path (1 or more bytes after the prefix, no further `/`).
    @inline(__always)
    static func smartLinkSlug(_ path: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard path.count > 3, path[0] == UInt8(ascii: "/"), path[1] == UInt8(ascii: "s"), path[2] == UInt8(ascii: "/") else { return nil }
        return UnsafeRawBufferPointer(rebasing: path[3...])
    }
}
