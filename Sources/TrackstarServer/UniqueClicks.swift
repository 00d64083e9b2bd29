// Unique clicks: a click is unique when no click with the same (offer, client address, user agent)
// was recorded within the offer's `unique_window`. Exact up to fingerprint collisions (40 stored bits
// plus the home slot), lock-free across loops, in a `FingerprintWindow` sized up front from
// `[storage] unique_clicks_per_window` and the longest window: about 14 bytes per click in it.
import TrackstarCore
import TrackstarStore

/// The shared unique-click table and its fingerprint key.
final class UniqueClicks: @unchecked Sendable {  // the table synchronises itself; the rest is immutable
    let table: FingerprintWindow
    let key: SipHashKey

    /// - Parameters:
    ///   - longestWindowMillis: the longest `unique_window` of any offer at start: the table covers
    ///     it (a reload that asks more is held to it until a restart).
    ///   - clicksPerWindow: the clicks within that window the table is sized for.
    init?(longestWindowMillis: Int64, clicksPerWindow: Int, key: SipHashKey) {
        guard let table = FingerprintWindow(windowMillis: longestWindowMillis, expectedPerWindow: clicksPerWindow) else { return nil }
        self.table = table
        self.key = key
    }

    /// The stored fingerprint of a click: keyed (the key is secret), never 0.
    @inline(__always)
    func fingerprint(offer: UInt32, high: UInt64, low: UInt64, userAgent: UnsafeRawBufferPointer) -> UInt64 {
        let agent = Checksum.finish(Checksum.update(0x756e_6971_7565, userAgent))
        let keyed = SipHashKey(k0: key.k0 ^ agent, k1: key.k1 ^ UInt64(offer))
        return sipHash24(key: keyed, high, low) | 1
    }

    /// What `record` decided.
    enum Outcome { case unique, repeated, indexFull }

    /// Records a click at `nowMillis` and says whether it is unique (no click with its fingerprint
    /// less than `windowMillis` before). Allocates nothing, takes no lock.
    @inline(__always)
    func record(_ fingerprint: UInt64, windowMillis: Int64, nowMillis: Int64) -> Outcome {
        switch table.record(fingerprint, windowMillis: windowMillis, nowMillis: nowMillis) {
        case .unique: .unique
        case .repeated: .repeated
        case .full: .indexFull
        }
    }

    /// Recovery: puts a recorded click back (nothing is decided; its flag is in its record).
    /// False when the table is full.
    func restore(_ fingerprint: UInt64, atMillis: Int64, nowMillis: Int64) -> Bool {
        table.restore(fingerprint, atMillis: atMillis, nowMillis: nowMillis)
    }
}

extension Engine {
    /// Rebuilds the unique table from the click logs: every enriched click younger than the longest
    /// window, newest first per shard until the first older one (clicks are in mint order). Runs
    /// before the loops start.
    func replayUniqueClicks(nowMillis: Int64 = WallClock.nowMillis()) -> [String] {
        let cutoff = nowMillis - unique.table.windowMillis
        var restored = 0, full = false
        for table in clicks {
            var sequence = table.reservedCount
            while sequence > 0 {
                sequence -= 1
                guard let slot = table.record(sequence) else { continue }  // quarantined
                let mint = ClickSlot.mintMillis(slot)
                if mint < cutoff { break }
                guard ClickSlot.enrichment(slot).enriched else { continue }
                let bytes = table.bytes(at: ClickSlot.varOffset(slot), count: ClickSlot.varLength(slot))
                let fingerprint = ClickSlot.enrichmentTail(bytes).fingerprint
                guard fingerprint != 0 else { continue }
                if unique.restore(fingerprint, atMillis: mint, nowMillis: nowMillis) { restored += 1 } else { full = true }
            }
        }
        var notes: [String] = []
        if restored > 0 { notes.append("unique clicks: \(restored) recent clicks put back in the unique table") }
        if full { notes.append("unique clicks: the unique table was full during recovery (raise storage.unique_clicks_per_window); some repeats will count as unique") }
        return notes
    }
}
