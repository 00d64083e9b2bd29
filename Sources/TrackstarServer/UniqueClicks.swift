// Unique clicks: a click is unique when no click with the same (offer, client address, user agent)
// was recorded within the offer's `unique_window`. Exact up to 64-bit fingerprint collisions, lock-
// free across loops, in a `ConcurrentIndex` of its own whose keys are (fingerprint, time bucket).
//
// Time is cut into buckets of one window W. The key of (fingerprint, bucket b) holds the latest click
// time in b (claimed by the first click, raised by the later ones). A click at time t in bucket b was
// preceded within W exactly when bucket b already has a click (any click in b is less than W before t)
// or bucket b-1's latest click is after t - W (earlier buckets end before t - W). A key is needed until
// bucket b+1 ends, which is its expiry, so the index forgets whole generations after two windows.
import TrackstarCore
import TrackstarStore

/// The shared unique-click index and its fingerprint key.
final class UniqueClicks: @unchecked Sendable {  // the index synchronises itself; the rest is immutable
    let index: ConcurrentIndex
    let key: SipHashKey

    /// - Parameters:
    ///   - participants: loops plus one for recovery (ids as the conversion index's).
    ///   - shortestWindowMillis: the shortest `unique_window` of any offer: generations rotate every
    ///     quarter of it (at most an hour), so expired keys are forgotten soon after their expiry.
    init?(participants: Int, shortestWindowMillis: Int64, maxEntries: Int, key: SipHashKey, nowMillis: Int64) {
        let rotation = min(max(250, shortestWindowMillis / 4), 3_600_000)
        let policy = IndexPolicy(initialCapacity: min(1 << 16, maxEntries), maxEntries: maxEntries, rotationMillis: rotation)
        guard let index = ConcurrentIndex(policy: policy, participants: participants, nowMillis: nowMillis) else { return nil }
        self.index = index
        self.key = key
    }

    /// The stored fingerprint of a click: keyed (the key is secret), never 0.
    @inline(__always)
    func fingerprint(offer: UInt32, high: UInt64, low: UInt64, userAgent: UnsafeRawBufferPointer) -> UInt64 {
        let agent = Checksum.finish(Checksum.update(0x756e_6971_7565, userAgent))
        let keyed = SipHashKey(k0: key.k0 ^ agent, k1: key.k1 ^ UInt64(offer))
        return sipHash24(key: keyed, high, low) | 1
    }

    /// The index key of a fingerprint in a bucket (bit 63 set, so never a marker key).
    @inline(__always)
    static func bucketKey(_ fingerprint: UInt64, bucket: Int64) -> UInt64 {
        var z = fingerprint &+ UInt64(bitPattern: bucket) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 31)) &* 0xBF58_476D_1CE4_E5B9
        return (z ^ (z >> 29)) | 1 << 63
    }

    /// What `record` decided.
    enum Outcome { case unique, repeated, indexFull }

    /// Records a click at `nowMillis` and says whether it is unique. One critical section of the
    /// index for `participant` (the loop's shard). Allocates nothing.
    func record(_ fingerprint: UInt64, windowMillis: Int64, nowMillis: Int64, participant: Int) -> Outcome {
        let window = max(1, windowMillis)
        let now = max(1, nowMillis)
        let bucket = now / window
        index.enter(participant)
        defer { index.leave(participant) }
        // Step 1: bucket b-1's latest click, if within the window.
        var seen = false
        if let latest = index.lookup(UniqueClicks.bucketKey(fingerprint, bucket: bucket - 1)) {
            seen = Int64(bitPattern: latest) > now - window
        }
        // Step 2: this bucket: first click claims, later ones raise the latest time.
        switch index.claim(UniqueClicks.bucketKey(fingerprint, bucket: bucket), expiresMillis: (bucket + 2) * window) {
        case .claimed(let entry):
            index.publish(entry: entry, value: UInt64(now))
            return seen ? .repeated : .unique
        case .existing(let entry, _):
            index.raise(entry: entry, to: UInt64(now))
            return .repeated
        case .full:
            return .indexFull
        }
    }
}

extension UniqueClicks {
    /// Recovery: puts a recorded click back (claim its bucket's key, or raise its latest time).
    /// Nothing is decided; the flag the click got is in its record. False when the index is full.
    func restore(_ fingerprint: UInt64, windowMillis: Int64, atMillis: Int64, nowMillis: Int64) -> Bool {
        let window = max(1, windowMillis)
        let bucket = max(1, atMillis) / window
        guard (bucket + 2) * window > nowMillis else { return true }  // expired: nothing to remember
        switch index.claim(UniqueClicks.bucketKey(fingerprint, bucket: bucket), expiresMillis: (bucket + 2) * window) {
        case .claimed(let entry): index.publish(entry: entry, value: UInt64(max(1, atMillis)))
        case .existing(let entry, _): index.raise(entry: entry, to: UInt64(max(1, atMillis)))
        case .full: return false
        }
        return true
    }
}

extension Engine {
    /// Rebuilds the unique index from the click logs: every enriched click younger than two of the
    /// longest windows (a key lives at most until its bucket's next one ends), newest first per
    /// shard until the first older one (clicks are in mint order). The window of a removed offer is
    /// the longest. Runs before the loops start, as the recovery participant.
    func replayUniqueClicks(nowMillis: Int64 = WallClock.nowMillis()) -> [String] {
        let catalog = self.catalog
        let cutoff = nowMillis - 2 * catalog.longestUniqueWindowMillis
        var restored = 0, full = false
        unique.index.enter(indexRecoveryParticipant)
        defer { unique.index.leave(indexRecoveryParticipant) }
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
                let window = catalog.offer(ClickSlot.offerID(slot))?.uniqueWindowMillis ?? catalog.longestUniqueWindowMillis
                var done = false
                for _ in 0..<3 where !done {  // a full newest generation: grow in place, as the conversion replay does
                    done = unique.restore(fingerprint, windowMillis: window, atMillis: mint, nowMillis: nowMillis)
                    if !done { _ = unique.index.maintain(nowMillis: nowMillis) }
                }
                if done { restored += 1 } else { full = true }
            }
        }
        var notes: [String] = []
        if restored > 0 { notes.append("unique clicks: \(restored) recent clicks put back in the unique index") }
        if full { notes.append("unique clicks: the unique index reached its memory guard during recovery; some repeats will count as unique") }
        return notes
    }
}
