// Opening the delivery log: the live generation (validated record by record, a torn tail cut by the
// writer), and the archive (trusted up to the extent the generation file commits, anything after
// it cut by its writer). Readers change nothing on disk, so they may read a running server's log.
import TrackstarCore
import TrackstarStore

extension DeliveryLog {
    /// Opens the live generation (creating the directory) and validates every record. A writer
    /// takes the log's lock (failing if another process holds it), removes what an interrupted
    /// compaction left, and cuts a torn tail; a reader (`writer: false`) changes nothing on disk.
    public convenience init(dataDir: String, writer: Bool = true) throws(StoreError) {
        let directory = DeliveryLog.directory(dataDir: dataDir)
        var lock: DeliveryLock?
        var removed: [String] = []
        if writer {
            try SegmentDirectory.create(directory)
            lock = try DeliveryLock(directory: directory)
        }
        let generation = try DeliveryGeneration.load(directory)
        if writer { removed = DeliveryGeneration.removeStale(directory, live: generation.number) }
        try self.init(directory: directory, tableDirectory: DeliveryGeneration.tableDirectory(directory, number: generation.number),
                      generation: generation, lock: lock)
        if !removed.isEmpty { notes.append("delivery log: removed what an interrupted compaction left: \(removed.joined(separator: ", "))") }
        validate(writer: writer)
    }

    /// Finds the valid records (each checksum matches) and sets the append cursor after them; a
    /// writer zeroes a torn tail so it is not read again.
    func validate(writer: Bool) {
        var sequence: UInt64 = 0
        var byteEnd: UInt64 = 0
        let limit = UInt64(table.mappedRecordSegmentEnd) * UInt64(table.recordsPerSegment)
        while sequence < limit, let p = table.slot(sequence) {
            let slot = UnsafeDeliveryRecordSlot(base: p)
            let stored = slot.storedChecksum
            if stored == 0 { break }
            guard let (_, offset, length) = slot.load(), length <= 4096,
                  let variable = table.checkedBytes(at: offset, count: length),
                  slot.checksum(variable: variable) == stored else {
                guard writer else { break }  // a record being written right now, or a torn tail
                notes.append("delivery log: cut a torn tail at record \(sequence) of \(tableDirectory)")
                cutAfter(sequence, limit: limit)
                break
            }
            byteEnd = max(byteEnd, offset + UInt64(length))
            sequence += 1
        }
        restore(count: sequence, byteEnd: byteEnd)
    }

    /// Zeroes every written slot from `sequence` on.
    func cutAfter(_ sequence: UInt64, limit: UInt64) {
        var cut = sequence
        while cut < limit, let q = table.slot(cut), UnsafeDeliveryRecordSlot(base: q).storedChecksum != 0 {
            table.erase(cut); cut += 1
        }
    }

    /// The archive of `live`'s directory as far as `live`'s generation file commits it. A writer
    /// (given the live log's lock) first cuts what an interrupted compaction appended after that.
    static func archive(of live: DeliveryLog, writer: Bool) throws(StoreError) -> DeliveryLog {
        let extent = live.archiveExtent
        let archive = try DeliveryLog(directory: live.directory, tableDirectory: DeliveryGeneration.archiveDirectory(live.directory),
                                      generation: extent, lock: writer ? live.lock : nil)
        if writer {
            _ = archive.table.removeRetiredFiles()  // segments pruned before the last stop (their blocks are freed already)
            let limit = UInt64(archive.table.mappedRecordSegmentEnd) * UInt64(archive.table.recordsPerSegment)
            if extent.archiveCount < limit, let p = archive.table.slot(extent.archiveCount),
               UnsafeDeliveryRecordSlot(base: p).storedChecksum != 0 {
                archive.notes.append("delivery archive: cut records after \(extent.archiveCount) (a compaction that did not finish)")
                archive.cutAfter(extent.archiveCount, limit: limit)
            }
        }
        archive.restore(count: extent.archiveCount, byteEnd: extent.archiveByteEnd)
        return archive
    }
}

extension DeliveryLog {
    /// The archive's writer, after a compaction's switch: retires whole record segments whose last
    /// record is older than `cutoffMillis` (records are appended in time order), oldest first, with
    /// the arena segments only they use (RecordTable retirement: renamed `*.retired`, blocks freed,
    /// the files deleted at the next open). The segment holding the newest record stays. Returns
    /// the records retired; readers see the archive start after them.
    @discardableResult
    func prune(before cutoffMillis: Int64) -> UInt64 {
        let perSegment = UInt64(table.recordsPerSegment)
        var segment = table.retiredCount / perSegment
        var retired: UInt64 = 0
        while (segment + 1) * perSegment < count {
            let last = (segment + 1) * perSegment - 1
            guard let p = table.record(last), let (record, _, _) = UnsafeDeliveryRecordSlot(base: p).load(),
                  record.timeMillis < cutoffMillis,
                  let q = table.record(last + 1), let (_, keepBytesFrom, _) = UnsafeDeliveryRecordSlot(base: q).load(),
                  table.retire(segment: Int(segment), keepBytesFrom: keepBytesFrom) != nil else { break }
            retired += perSegment
            segment += 1
        }
        return retired
    }

    /// The first record still held (records before it were pruned by the archive's retention).
    public var firstRecord: UInt64 { table.retiredCount }
}
