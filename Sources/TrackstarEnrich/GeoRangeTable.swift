// The flat, immutable range tables a geo lookup binary-searches: IPv4 keyed by the 32-bit address,
// IPv6 by the high 64 bits (no network in the database is longer than /64; the loader checks), each
// with a 65,536-entry index on the key's top 16 bits so a search touches a few cache lines.
// Invariants: starts are strictly increasing, starts[0] == 0, index[b] is the last range whose start
// is <= b << shift and index[65536] == count - 1. Written once in init, read-only after: any thread.

/// One family's ranges in raw memory: starts, answer indices and the top-16-bit index.
final class GeoRangeStorage<Key: FixedWidthInteger & UnsignedInteger>: @unchecked Sendable {
    // @unchecked: the pointers are written only in init and freed in deinit; reads need no lock.
    private let starts: UnsafeMutablePointer<Key>
    private let values: UnsafeMutablePointer<UInt32>
    private let index: UnsafeMutablePointer<UInt32>
    /// Number of ranges.
    let count: Int
    private static var indexShift: Int { Key.bitWidth - 16 }

    /// Copies a flattened table (`starts[0]` must be 0) and builds its index.
    init(starts source: [UInt64], values sourceValues: [UInt32]) {
        precondition(!source.isEmpty && source[0] == 0 && source.count == sourceValues.count)
        count = source.count
        starts = .allocate(capacity: count)
        values = .allocate(capacity: count)
        for i in 0..<count {
            starts[i] = Key(truncatingIfNeeded: source[i])
            values[i] = sourceValues[i]
        }
        index = .allocate(capacity: 65_537)
        var range = 0
        for bucket in 0..<65_536 {
            let bucketStart = Key(truncatingIfNeeded: bucket) << Self.indexShift
            while range + 1 < count, starts[range + 1] <= bucketStart { range += 1 }
            index[bucket] = UInt32(range)
        }
        index[65_536] = UInt32(count - 1)
    }

    deinit {
        starts.deallocate()
        values.deallocate()
        index.deallocate()
    }

    /// Bytes held: starts, values and the index.
    var bytes: Int { count * (MemoryLayout<Key>.stride + 4) + 65_537 * 4 }

    /// The answer index of the range holding `key`: the last start <= key, searched within its bucket.
    @inline(__always)
    func valueIndex(_ key: Key) -> UInt32 {
        let bucket = Int(truncatingIfNeeded: key >> Self.indexShift)
        var low = Int(index[bucket])        // starts[low] <= key
        var high = Int(index[bucket + 1])   // the answer is at most here
        while low < high {
            let middle = (low + high + 1) >> 1
            if starts[middle] <= key { low = middle } else { high = middle - 1 }
        }
        return values[low]
    }
}

/// The distinct answers the ranges point at, index 0 being `GeoAnswer.unknown`; read-only after init.
final class GeoAnswerStorage: @unchecked Sendable {
    // @unchecked: written only in init, freed in deinit.
    private let answers: UnsafeMutablePointer<GeoAnswer>
    /// Number of distinct answers.
    let count: Int

    /// Copies `source` (whose first element must be the unknown answer).
    init(_ source: [GeoAnswer]) {
        precondition(source.first == .unknown)
        count = source.count
        answers = .allocate(capacity: count)
        answers.initialize(from: source, count: count)
    }

    deinit { answers.deallocate() }

    /// Bytes held.
    var bytes: Int { count * MemoryLayout<GeoAnswer>.stride }

    /// The answer at `index` (an index a range table returned).
    @inline(__always)
    subscript(index: UInt32) -> GeoAnswer { answers[Int(index)] }
}
