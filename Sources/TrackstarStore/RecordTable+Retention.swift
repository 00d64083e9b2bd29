// Retention: whole old segments give their disk space back while the process keeps running. A
// retired segment's file is renamed `*.retired` and its blocks are punched out (FALLOC_FL_PUNCH_HOLE),
// so the mapping stays valid — a reader racing with retirement reads zeros, never unmapped memory —
// and the file itself is deleted at the next start.
import Atomics
import CTrackstarShims
#if canImport(Glibc)
import Glibc
#endif

extension RecordTable {
    /// Records below this sequence are retired (any thread; relaxed is enough: readers that miss a
    /// fresh value read zeros from the punched mapping, which every reader treats as "gone").
    public var retiredCount: UInt64 { retired.load(ordering: .relaxed) }

    /// Any thread except the owner's appends: retires record segment `segment` (which must be full and
    /// below every segment still appended to) and any arena segment wholly below `keepBytesFrom`.
    /// Returns what it did, for the log.
    public func retire(segment: Int, keepBytesFrom: UInt64) -> String? {
        guard directory != nil, segment < maxSegments, recordFiles[segment] >= 0 else { return nil }
        let end = UInt64(segment + 1) * UInt64(recordsPerSegment)
        guard end <= publishedCount else { return nil }
        retired.store(max(retired.load(ordering: .relaxed), end), ordering: .relaxed)
        var done = [punch(path(segment: segment, bytes: false), fd: recordFiles[segment], size: stride * recordsPerSegment)]
        let lastByteSegment = byteSegment(keepBytesFrom)
        for b in 0..<min(lastByteSegment, maxSegments) where byteFiles[b] >= 0 && !byteRetired(b) {
            done.append(punch(path(segment: b, bytes: true), fd: byteFiles[b], size: byteSegmentSize))
            markByteRetired(b)
        }
        return "retired " + done.joined(separator: ", ")
    }

    /// Renames the file aside and frees its blocks; the mapping stays and reads zeros.
    func punch(_ path: String, fd: Int32, size: Int) -> String {
        rename(path, path + ".retired")
        if CTrackstar_punchHole(fd, off_t(size)) != 0 { return "\(path) (renamed; punch failed: \(String(cString: strerror(errno))))" }
        return path
    }

    /// The first record segment still on disk (after earlier retirements), for recovery.
    public var firstMappedRecordSegment: Int {
        for s in 0..<maxSegments where recordSegments[s] != nil { return s }
        return 0
    }

    /// Deletes `*.retired` files left by retirement before the last stop (start-up only).
    public func removeRetiredFiles() -> [String] {
        guard let directory else { return [] }
        var removed: [String] = []
        for entry in SegmentDirectory.entries(directory) where entry.hasPrefix(name + "-") && entry.hasSuffix(".retired") {
            if unlink(directory + "/" + entry) == 0 { removed.append(directory + "/" + entry) }
        }
        return removed
    }
}

extension RecordTable {
    func byteRetired(_ segment: Int) -> Bool { retiredByteSegments.contains(segment) }
    func markByteRetired(_ segment: Int) { retiredByteSegments.insert(segment) }
}
