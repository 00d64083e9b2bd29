// A shard's records: fixed-size slots indexed by sequence, plus an arena of variable bytes, both in
// segments that never move — files mapped MAP_SHARED under the data dir, or anonymous memory when no
// directory is given. One thread (the owning loop) appends; any thread reads what is published.

import Atomics
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// Fixed-stride records with a variable-byte arena. Invariants:
/// - Only the owner thread calls `reserveRecord`, `reserveBytes`, `publish` and `takeDirtyFiles`.
/// - A record with sequence < `publishedCount` (acquire load) is complete and never changes again,
///   except for words its writers update atomically (the conversion counter of a click slot).
/// - Segment pointers are written by the owner before the release store of the count that first
///   covers them, so a reader that saw the count also sees the pointer.
public final class RecordTable: @unchecked Sendable {
    public let stride: Int
    /// Both powers of two: a sequence's segment and slot (an offset's segment and place) are a shift
    /// and a mask, not a division, on the click path and the exporter's reads.
    public let recordsPerSegment: Int
    public let byteSegmentSize: Int
    private let recordShift: UInt64, byteShift: UInt64
    let maxSegments: Int
    /// Where segment files live, and their name prefix; nil for anonymous memory.
    public let directory: String?
    public let name: String
    let recordSegments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    let byteSegments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    let recordFiles: UnsafeMutablePointer<Int32>
    let byteFiles: UnsafeMutablePointer<Int32>
    let published = ManagedAtomic<UInt64>(0)
    /// Records below this were retired (see RecordTable+Retention.swift).
    let retired = ManagedAtomic<UInt64>(0)
    /// Arena segments already retired (only the retention thread touches this).
    var retiredByteSegments = Set<Int>()
    /// Owner-only cursors.
    var nextSequence: UInt64 = 0
    var nextByteOffset: UInt64 = 0
    /// Lowest record and byte segments written since the last `takeDirtyFiles`.
    var dirtyRecordSegment = 0
    var dirtyByteSegment = 0
    /// The last failure to create a segment (disk full, permissions), for the log.
    public private(set) var lastError: StoreError?
    /// Set (by any thread) after a failed sync: the kernel may have dropped the pages it could not
    /// write, so nothing appended from then on could be trusted; `reserveRecord` refuses.
    let writesStopped = ManagedAtomic<Bool>(false)

    /// - Parameters:
    ///   - stride: bytes per record, a multiple of 8.
    ///   - recordsPerSegment: slots per segment (file).
    ///   - byteSegmentSize: bytes of variable data per segment; no record's bytes straddle two.
    ///   - directory: where segment files go (`NAME-000000.rec`, `NAME-000000.bytes`); nil for memory.
    public init(stride: Int, recordsPerSegment: Int = 1 << 18, byteSegmentSize: Int = 16 << 20,
                maxSegments: Int = 1 << 16, directory: String? = nil, name: String = "records") {
        precondition(stride % 8 == 0 && recordsPerSegment > 0 && byteSegmentSize > 0
                     && recordsPerSegment & (recordsPerSegment - 1) == 0 && byteSegmentSize & (byteSegmentSize - 1) == 0)
        self.stride = stride
        self.recordsPerSegment = recordsPerSegment
        self.byteSegmentSize = byteSegmentSize
        recordShift = UInt64(recordsPerSegment.trailingZeroBitCount)
        byteShift = UInt64(byteSegmentSize.trailingZeroBitCount)
        self.maxSegments = maxSegments
        self.directory = directory
        self.name = name
        recordSegments = .allocate(capacity: maxSegments)
        recordSegments.initialize(repeating: nil, count: maxSegments)
        byteSegments = .allocate(capacity: maxSegments)
        byteSegments.initialize(repeating: nil, count: maxSegments)
        recordFiles = .allocate(capacity: maxSegments)
        recordFiles.initialize(repeating: -1, count: maxSegments)
        byteFiles = .allocate(capacity: maxSegments)
        byteFiles.initialize(repeating: -1, count: maxSegments)
    }

    deinit {
        for i in 0..<maxSegments {
            release(recordSegments[i], fd: recordFiles[i], bytes: stride * recordsPerSegment)
            release(byteSegments[i], fd: byteFiles[i], bytes: byteSegmentSize)
        }
        recordSegments.deallocate(); byteSegments.deallocate()
        recordFiles.deallocate(); byteFiles.deallocate()
    }

    func release(_ base: UnsafeMutableRawPointer?, fd: Int32, bytes: Int) {
        guard let base else { return }
        if fd >= 0 { SegmentFile(base: base, fd: fd, size: bytes).unmap() } else { MappedMemory.release(base, bytes: bytes) }
    }

    /// Records readers may see.
    public var publishedCount: UInt64 {
        // Acquiring pairs with the owner's releasing store in `publish`: every byte of a record
        // below the count was written before it.
        published.load(ordering: .acquiring)
    }

    /// Path of a segment file.
    public func path(segment: Int, bytes: Bool) -> String {
        let digits = String(segment)
        return "\(directory ?? "")/\(name)-\(String(repeating: "0", count: max(0, 6 - digits.count)))\(digits).\(bytes ? "bytes" : "rec")"
    }

    /// Maps a new segment (a file when backed by a directory); nil on failure, with `lastError` set.
    func mapNew(segment: Int, bytes: Bool) -> (UnsafeMutableRawPointer, Int32)? {
        let size = bytes ? byteSegmentSize : stride * recordsPerSegment
        guard directory != nil else {
            guard let p = MappedMemory.allocate(bytes: size) else {
                lastError = StoreError("mmap of \(size) bytes failed: \(String(cString: strerror(errno)))")
                return nil
            }
            return (p, -1)
        }
        switch SegmentFile.open(path(segment: segment, bytes: bytes), size: size, create: true) {
        case .success(let (file, _)):
            lastError = nil
            return (file.base, file.fd)
        case .failure(let error):
            lastError = error
            return nil
        }
    }

    /// Owner: the next sequence and zeroed memory for its record, or nil when storage is exhausted.
    public func reserveRecord() -> (sequence: UInt64, record: UnsafeMutableRawPointer)? {
        // Relaxed: the flag is a fact of its own; an append racing with `stopWrites` is covered by
        // its durability barrier, which fails too (see LoopServer.finishBarrier).
        guard !writesStopped.load(ordering: .relaxed) else { return nil }
        let sequence = nextSequence
        let segment = recordSegment(sequence)
        guard segment < maxSegments else { return nil }
        if recordSegments[segment] == nil {
            guard let (p, fd) = mapNew(segment: segment, bytes: false) else { return nil }
            recordSegments[segment] = p
            recordFiles[segment] = fd
        }
        nextSequence += 1
        let index = recordIndex(sequence)
        return (sequence, recordSegments[segment]! + index * stride)
    }

    /// Owner: gives back the record just reserved (its bytes could not be placed).
    public func unreserveRecord() { nextSequence -= 1 }

    /// Owner: `count` bytes of arena and their global offset, or nil when storage is exhausted.
    public func reserveBytes(_ count: Int) -> (offset: UInt64, bytes: UnsafeMutableRawPointer)? {
        precondition(count <= byteSegmentSize)
        var offset = nextByteOffset
        var within = byteWithin(offset)
        if within + count > byteSegmentSize {  // start the next segment rather than straddle
            offset += UInt64(byteSegmentSize - within)
            within = 0
        }
        let segment = byteSegment(offset)
        guard segment < maxSegments else { return nil }
        if byteSegments[segment] == nil {
            guard let (p, fd) = mapNew(segment: segment, bytes: true) else { return nil }
            byteSegments[segment] = p
            byteFiles[segment] = fd
        }
        nextByteOffset = offset + UInt64(count)
        return (offset, byteSegments[segment]! + within)
    }

    /// Owner: makes every record below `count` visible to readers.
    public func publish(count: UInt64) {
        // Releasing: orders the record's stores (and any new segment pointer) before the count.
        published.store(count, ordering: .releasing)
    }

    /// The segment of record `sequence`, and its slot there.
    @inline(__always) func recordSegment(_ sequence: UInt64) -> Int { Int(sequence >> recordShift) }
    @inline(__always) func recordIndex(_ sequence: UInt64) -> Int { Int(truncatingIfNeeded: sequence & (UInt64(recordsPerSegment) - 1)) }
    /// The arena segment of byte `offset`, and its place there.
    @inline(__always) func byteSegment(_ offset: UInt64) -> Int { Int(offset >> byteShift) }
    @inline(__always) func byteWithin(_ offset: UInt64) -> Int { Int(truncatingIfNeeded: offset & (UInt64(byteSegmentSize) - 1)) }

    /// Any thread: the record at `sequence` if it is published.
    @inline(__always)
    public func record(_ sequence: UInt64) -> UnsafeMutableRawPointer? {
        guard sequence < publishedCount, sequence >= retiredCount else { return nil }
        let segment = recordSegment(sequence)
        let index = recordIndex(sequence)
        guard let base = recordSegments[segment] else { return nil }
        return base + index * stride
    }

    /// Any thread: `count` arena bytes at `offset`, which a published record points to.
    @inline(__always)
    public func bytes(at offset: UInt64, count: Int) -> UnsafeRawBufferPointer {
        let segment = byteSegment(offset)
        let within = byteWithin(offset)
        return UnsafeRawBufferPointer(start: byteSegments[segment]! + within, count: count)
    }

    /// Owner: the sequence the next record will get.
    public var reservedCount: UInt64 { nextSequence }
    /// Owner: where the next arena bytes go.
    public var byteEnd: UInt64 { nextByteOffset }

    /// Owner: the descriptors of files written since the last call, for a durability barrier
    /// (`fdatasync` on a worker thread flushes pages dirtied through the mapping too).
    public func takeDirtyFiles(into files: inout FileList) {
        guard directory != nil else { return }
        let currentRecord = recordSegment(nextSequence)
        let currentBytes = byteSegment(nextByteOffset)
        for s in dirtyRecordSegment...currentRecord where s < maxSegments && recordFiles[s] >= 0 { files.append(recordFiles[s]) }
        for s in dirtyByteSegment...currentBytes where s < maxSegments && byteFiles[s] >= 0 { files.append(byteFiles[s]) }
        dirtyRecordSegment = currentRecord
        dirtyByteSegment = currentBytes
    }

    /// Any thread: fdatasyncs (through `sync`) the files holding records below `count` and arena
    /// bytes below `byteEnd` (both as published), for a snapshot. Returns the first failure. The
    /// last two segments of each kind, where the appends since the last sync are, are first written
    /// back in steps (`SegmentFile.writeBackInSteps`); older ones are only fdatasynced.
    public func syncPublished(count: UInt64, byteEnd: UInt64,
                              using sync: (Int32) -> Int32 = { fdatasync($0) }) -> StoreError? {
        guard directory != nil, count > 0 else { return nil }
        let lastRecord = recordSegment(count - 1)
        for s in 0...lastRecord where recordFiles[s] >= 0 {
            if s + 1 >= lastRecord { SegmentFile.writeBackInSteps(recordFiles[s], size: stride * recordsPerSegment) }
            if sync(recordFiles[s]) != 0 { return StoreError("fdatasync \(path(segment: s, bytes: false)): \(String(cString: strerror(errno)))") }
        }
        guard byteEnd > 0 else { return nil }
        let lastBytes = byteSegment(byteEnd - 1)
        for s in 0...lastBytes where byteFiles[s] >= 0 {
            if s + 1 >= lastBytes { SegmentFile.writeBackInSteps(byteFiles[s], size: byteSegmentSize) }
            if sync(byteFiles[s]) != 0 { return StoreError("fdatasync \(path(segment: s, bytes: true)): \(String(cString: strerror(errno)))") }
        }
        return nil
    }

    /// Any thread: refuse every append from now on (after a failed sync; see `writesStopped`).
    public func stopWrites() { writesStopped.store(true, ordering: .relaxed) }

    /// Whether `stopWrites` was called.
    public var writesAreStopped: Bool { writesStopped.load(ordering: .relaxed) }
}
