// Listed networks as 128-bit address ranges (IPv4 as IPv4-mapped): sorted, overlapping and adjacent
// ones merged, and membership by binary search, without allocating (`[bots] networks`, read by BotRules).
import TrackstarConfiguration

/// An inclusive range of 128-bit addresses (IPv4 IPv4-mapped), compared as (high, low) pairs.
struct AddressRange: Sendable, Equatable {
    var firstHigh: UInt64, firstLow: UInt64, lastHigh: UInt64, lastLow: UInt64

    init(firstHigh: UInt64, firstLow: UInt64, lastHigh: UInt64, lastLow: UInt64) {
        self.firstHigh = firstHigh; self.firstLow = firstLow; self.lastHigh = lastHigh; self.lastLow = lastLow
    }

    /// The addresses of `network`.
    init(_ network: CIDR) {
        let prefix = network.prefixLength
        let highMask: UInt64 = prefix >= 64 ? .max : (prefix == 0 ? 0 : ~(UInt64.max >> UInt64(prefix)))
        let lowMask: UInt64 = prefix <= 64 ? 0 : (prefix >= 128 ? .max : ~(UInt64.max >> UInt64(prefix - 64)))
        firstHigh = network.address.0 & highMask
        firstLow = network.address.1 & lowMask
        lastHigh = firstHigh | ~highMask
        lastLow = firstLow | ~lowMask
    }

    private static func less(_ aHigh: UInt64, _ aLow: UInt64, _ bHigh: UInt64, _ bLow: UInt64) -> Bool {
        aHigh < bHigh || (aHigh == bHigh && aLow < bLow)
    }

    /// Sorted by first address, overlapping and adjacent ranges joined.
    static func merged(_ ranges: [AddressRange]) -> [AddressRange] {
        let sorted = ranges.sorted { less($0.firstHigh, $0.firstLow, $1.firstHigh, $1.firstLow) }
        var result: [AddressRange] = []
        for range in sorted {
            if var last = result.last {
                // Joins when range.first <= last.last + 1 (the sum carried by hand; the top address
                // has no successor and joins everything after it).
                let (nextLow, carry) = last.lastLow.addingReportingOverflow(1)
                let nextHigh = last.lastHigh &+ (carry ? 1 : 0)
                let atTop = last.lastHigh == .max && last.lastLow == .max
                let touches = atTop || !less(nextHigh, nextLow, range.firstHigh, range.firstLow)
                if touches {
                    if less(last.lastHigh, last.lastLow, range.lastHigh, range.lastLow) {
                        last.lastHigh = range.lastHigh; last.lastLow = range.lastLow
                    }
                    result[result.count - 1] = last
                    continue
                }
            }
            result.append(range)
        }
        return result
    }

    /// Whether any of `sorted` (merged) holds the address: the last range starting at or before it.
    static func contains(_ sorted: [AddressRange], high: UInt64, low: UInt64) -> Bool {
        sorted.withUnsafeBufferPointer { ranges in
            var lowIndex = 0, highIndex = ranges.count
            while lowIndex < highIndex {
                let middle = (lowIndex + highIndex) >> 1
                if less(high, low, ranges[middle].firstHigh, ranges[middle].firstLow) { highIndex = middle } else { lowIndex = middle + 1 }
            }
            guard lowIndex > 0 else { return false }
            let range = ranges[lowIndex - 1]
            return !less(range.lastHigh, range.lastLow, high, low)
        }
    }
}
