// Reopening a table's segment files after a restart: map what is on disk, let the caller validate
// records, then restore the cursors so appends continue after the last good record.
#if canImport(Glibc)
import Glibc
#endif

extension RecordTable {
    /// Maps every segment file of this table found in `directory`. Returns notes on files that were
    /// shorter than a segment (extended with zeros: their tail is cut by record validation).
    public func mapExisting() throws(StoreError) -> [String] {
        guard let directory else { return [] }
        var notes: [String] = []
        for entry in SegmentDirectory.entries(directory) where entry.hasPrefix(name + "-") {
            let isBytes = entry.hasSuffix(".bytes")
            guard isBytes || entry.hasSuffix(".rec"),
                  let number = Int(entry.dropFirst(name.count + 1).prefix { $0.isNumber }), number < maxSegments else { continue }
            let size = isBytes ? byteSegmentSize : stride * recordsPerSegment
            switch SegmentFile.open(directory + "/" + entry, size: size, create: false) {
            case .failure(let error):
                throw error
            case .success(let (file, extendedFrom)):
                if let extendedFrom {
                    notes.append("\(directory)/\(entry) was \(extendedFrom) bytes, shorter than a segment (\(size)); extended with zeros")
                }
                if isBytes { byteSegments[number] = file.base; byteFiles[number] = file.fd }
                else { recordSegments[number] = file.base; recordFiles[number] = file.fd }
            }
        }
        return notes
    }

    /// Number of record segments mapped from the lowest to the highest present (gaps read as nil).
    public var mappedRecordSegmentEnd: Int {
        var end = 0
        for s in 0..<maxSegments where recordSegments[s] != nil { end = s + 1 }
        return end
    }

    /// A record's memory, published or not, if its segment is mapped (recovery and inspection).
    public func slot(_ sequence: UInt64) -> UnsafeMutableRawPointer? {
        let segment = recordSegment(sequence)
        guard segment < maxSegments, let base = recordSegments[segment] else { return nil }
        return base + recordIndex(sequence) * stride
    }

    /// Arena bytes if they lie inside one mapped segment (recovery validates offsets with this).
    public func checkedBytes(at offset: UInt64, count: Int) -> UnsafeRawBufferPointer? {
        let segment = byteSegment(offset)
        let within = byteWithin(offset)
        guard count >= 0, segment < maxSegments, within + count <= byteSegmentSize,
              let base = byteSegments[segment] else { return nil }
        return UnsafeRawBufferPointer(start: base + within, count: count)
    }

    /// Sets the cursors after recovery and publishes `count` records.
    public func restore(count: UInt64, byteEnd: UInt64) {
        retired.store(UInt64(firstMappedRecordSegment) * UInt64(recordsPerSegment), ordering: .relaxed)
        nextSequence = count
        nextByteOffset = byteEnd
        dirtyRecordSegment = recordSegment(count)
        dirtyByteSegment = byteSegment(byteEnd)
        publish(count: count)
    }

    /// Zeroes the record at `sequence` (cutting a torn tail so it is not re-read next time).
    public func erase(_ sequence: UInt64) {
        guard let p = slot(sequence) else { return }
        p.initializeMemory(as: UInt8.self, repeating: 0, count: stride)
    }
}

extension RecordTable {
    /// Unmaps a damaged record segment and renames its file aside (recovery's quarantine).
    public func quarantine(segment: Int, renamingTo newPath: String) {
        guard segment < maxSegments, let base = recordSegments[segment] else { return }
        release(base, fd: recordFiles[segment], bytes: stride * recordsPerSegment)
        recordSegments[segment] = nil
        recordFiles[segment] = -1
        rename(path(segment: segment, bytes: false), newPath)
    }

    /// The end of the highest mapped arena segment: fresh bytes after it touch nothing old.
    public var mappedByteEnd: UInt64 {
        var end = 0
        for s in 0..<maxSegments where byteSegments[s] != nil { end = s + 1 }
        return UInt64(end) * UInt64(byteSegmentSize)
    }
}
