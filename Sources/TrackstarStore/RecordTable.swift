// A shard's records: fixed-size slots indexed by sequence, plus an arena of variable bytes, both in
// segments that never move. One thread (the owning loop) appends; any thread reads what is published.

import Atomics

/// Fixed-stride records with a variable-byte arena. Invariants:
/// - Only the owner thread calls `reserveRecord`, `reserveBytes` and `publish`.
/// - A record with sequence < `publishedCount` (acquire load) is complete and never changes again,
///   except for words its writers update atomically (the conversion counter of a click slot).
/// - Segment pointers are written by the owner before the release store of the count that first
///   covers them, so a reader that saw the count also sees the pointer.
public final class RecordTable: @unchecked Sendable {
    public let stride: Int
    public let recordsPerSegment: Int
    public let byteSegmentSize: Int
    let maxSegments: Int
    let recordSegments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    let byteSegments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    let published = ManagedAtomic<UInt64>(0)
    /// Owner-only cursors.
    var nextSequence: UInt64 = 0
    var nextByteOffset: UInt64 = 0

    /// - Parameters:
    ///   - stride: bytes per record, a multiple of 8.
    ///   - recordsPerSegment: slots mapped at a time.
    ///   - byteSegmentSize: bytes of variable data mapped at a time; no record's bytes straddle two.
    public init(stride: Int, recordsPerSegment: Int = 1 << 20, byteSegmentSize: Int = 64 << 20, maxSegments: Int = 1 << 14) {
        precondition(stride % 8 == 0 && recordsPerSegment > 0 && byteSegmentSize > 0)
        self.stride = stride
        self.recordsPerSegment = recordsPerSegment
        self.byteSegmentSize = byteSegmentSize
        self.maxSegments = maxSegments
        recordSegments = .allocate(capacity: maxSegments)
        recordSegments.initialize(repeating: nil, count: maxSegments)
        byteSegments = .allocate(capacity: maxSegments)
        byteSegments.initialize(repeating: nil, count: maxSegments)
    }

    deinit {
        for i in 0..<maxSegments {
            if let p = recordSegments[i] { MappedMemory.release(p, bytes: stride * recordsPerSegment) }
            if let p = byteSegments[i] { MappedMemory.release(p, bytes: byteSegmentSize) }
        }
        recordSegments.deallocate()
        byteSegments.deallocate()
    }

    /// Records readers may see.
    public var publishedCount: UInt64 {
        // Acquiring pairs with the owner's releasing store in `publish`: every byte of a record
        // below the count was written before it.
        published.load(ordering: .acquiring)
    }

    /// Owner: the next sequence and zeroed memory for its record, or nil when memory is exhausted.
    public func reserveRecord() -> (sequence: UInt64, record: UnsafeMutableRawPointer)? {
        let sequence = nextSequence
        let segment = Int(sequence / UInt64(recordsPerSegment))
        guard segment < maxSegments else { return nil }
        if recordSegments[segment] == nil {
            guard let p = MappedMemory.allocate(bytes: stride * recordsPerSegment) else { return nil }
            recordSegments[segment] = p
        }
        nextSequence += 1
        let index = Int(sequence % UInt64(recordsPerSegment))
        return (sequence, recordSegments[segment]! + index * stride)
    }

    /// Owner: `count` bytes of arena and their global offset, or nil when memory is exhausted.
    public func reserveBytes(_ count: Int) -> (offset: UInt64, bytes: UnsafeMutableRawPointer)? {
        precondition(count <= byteSegmentSize)
        var offset = nextByteOffset
        var within = Int(offset % UInt64(byteSegmentSize))
        if within + count > byteSegmentSize {  // start the next segment rather than straddle
            offset += UInt64(byteSegmentSize - within)
            within = 0
        }
        let segment = Int(offset / UInt64(byteSegmentSize))
        guard segment < maxSegments else { return nil }
        if byteSegments[segment] == nil {
            guard let p = MappedMemory.allocate(bytes: byteSegmentSize) else { return nil }
            byteSegments[segment] = p
        }
        nextByteOffset = offset + UInt64(count)
        return (offset, byteSegments[segment]! + within)
    }

    /// Owner: makes every record below `count` visible to readers.
    public func publish(count: UInt64) {
        // Releasing: orders the record's stores (and any new segment pointer) before the count.
        published.store(count, ordering: .releasing)
    }

    /// Any thread: the record at `sequence` if it is published.
    @inline(__always)
    public func record(_ sequence: UInt64) -> UnsafeMutableRawPointer? {
        guard sequence < publishedCount else { return nil }
        let segment = Int(sequence / UInt64(recordsPerSegment))
        let index = Int(sequence % UInt64(recordsPerSegment))
        return recordSegments[segment]! + index * stride
    }

    /// Any thread: `count` arena bytes at `offset`, which a published record points to.
    @inline(__always)
    public func bytes(at offset: UInt64, count: Int) -> UnsafeRawBufferPointer {
        let segment = Int(offset / UInt64(byteSegmentSize))
        let within = Int(offset % UInt64(byteSegmentSize))
        return UnsafeRawBufferPointer(start: byteSegments[segment]! + within, count: count)
    }

    /// Owner: the sequence the next record will get.
    public var reservedCount: UInt64 { nextSequence }
}
