// Start-up recovery of a data dir's logs: map every shard's segment files, validate each record's
// checksum from the manifest's trusted position (or a full scan), cut a torn tail (saying how much and
// where), and refuse to start on corruption before the tail, or quarantine the damaged segment when
// asked. Rebuilding the indexes from the recovered logs is the server's part (Engine+Replay.swift).
import TrackstarCore

/// Choices an operator can make about damaged data.
public struct RecoveryOptions: Sendable {
    /// Start even when a record before the tail is corrupt: the damaged segment file is renamed
    /// `*.quarantined` and its records become unavailable; appends continue after it.
    public var quarantineDamaged = false
    /// Report only (`trackstar inspect`): change nothing, record damage instead of stopping.
    public var inspectOnly = false
    public init(quarantineDamaged: Bool = false, inspectOnly: Bool = false) {
        self.quarantineDamaged = quarantineDamaged
        self.inspectOnly = inspectOnly
    }
}

/// Why recovery will not go on: what was found, where, and what the operator can do.
public struct RecoveryError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One recovery run over a data dir's tables (one click, conversion and refusal table per shard).
public struct Recovery {
    public let dataDir: String
    public let clicks: [RecordTable]
    public let conversions: [RecordTable]
    public let refusals: [RecordTable]
    public let options: RecoveryOptions
    /// What was done, for the log: cut tails, quarantined segments, removed retired files, counts.
    public private(set) var notes: [String] = []
    /// Damage found (inspect mode): corrupt records before a tail, damaged manifests.
    public private(set) var damage: [String] = []
    /// The manifest recovery started from.
    public private(set) var manifest: Manifest?

    public init(dataDir: String, clicks: [RecordTable], conversions: [RecordTable], refusals: [RecordTable], options: RecoveryOptions) {
        self.dataDir = dataDir; self.clicks = clicks; self.conversions = conversions; self.refusals = refusals
        self.options = options
    }

    /// Recovers every shard; returns notes for the log, throws on damage it will not repair.
    public mutating func run() throws(RecoveryError) -> [String] {
        let found = Manifest.load(from: dataDir)
        for damaged in found.damaged {
            notes.append("manifest \(damaged.path) is damaged (\(damaged.reason)); using the other copy or a full scan")
            damage.append("manifest \(damaged.path): \(damaged.reason)")
        }
        if found.manifest == nil && !found.damaged.isEmpty && !options.quarantineDamaged && !options.inspectOnly {
            throw RecoveryError("""
                every manifest in \(dataDir) is damaged: \(found.damaged.map { "\($0.path): \($0.reason)" }.joined(separator: "; ")).
                Records may still be intact. Check the disk, then move the manifest files aside \
                (mv \(dataDir)/manifest* /tmp/) to rebuild from a full scan of the segments.
                """)
        }
        manifest = found.manifest
        for shard in 0..<clicks.count {
            let position = manifest.flatMap { shard < $0.shards.count ? $0.shards[shard] : nil } ?? ShardPosition()
            try recoverShard(shard, trusted: position)
        }
        if manifest == nil && clicks.contains(where: { $0.reservedCount > 0 }) {
            notes.append("no manifest in \(dataDir): every record was verified by a full scan")
        }
        return notes
    }

    mutating func recoverShard(_ shard: Int, trusted: ShardPosition) throws(RecoveryError) {
        let clicks = self.clicks[shard], conversions = self.conversions[shard], refusals = self.refusals[shard]
        if !options.inspectOnly {
            for table in [clicks, conversions, refusals] { notes += table.removeRetiredFiles().map { "removed retired segment \($0)" } }
        }
        do {
            notes += try clicks.mapExisting()
            notes += try conversions.mapExisting()
            notes += try refusals.mapExisting()
        } catch {
            throw RecoveryError("shard \(shard): \(error.description)")
        }
        let clickEnd = try scan(clicks, trusted: trusted.clicks, layout: .clicks)
        let conversionEnd = try scan(conversions, trusted: trusted.conversions, layout: .conversions)
        let refusalEnd = try scan(refusals, trusted: 0, layout: .refusals)
        clicks.restore(count: clickEnd.count, byteEnd: clickEnd.byteEnd)
        conversions.restore(count: conversionEnd.count, byteEnd: conversionEnd.byteEnd)
        refusals.restore(count: refusalEnd.count, byteEnd: refusalEnd.byteEnd)
        if clickEnd.count > 0 || conversionEnd.count > 0 {
            notes.append("shard \(shard): \(clickEnd.count) clicks, \(conversionEnd.count) conversions recovered")
        }
    }

    /// How to read one kind of record.
    enum Layout {
        case clicks, conversions, refusals

        func stored(_ p: UnsafeRawPointer) -> UInt64 {
            switch self {
            case .clicks: ClickSlot.storedChecksum(p)
            case .conversions: ConversionRecord.storedChecksum(p)
            case .refusals: RefusalRecord.storedChecksum(p)
            }
        }

        func variable(_ p: UnsafeRawPointer) -> (UInt64, Int) {
            switch self {
            case .clicks: (ClickSlot.varOffset(p), ClickSlot.varLength(p))
            case .conversions: (ConversionRecord.varOffset(p), ConversionRecord.varLength(p))
            case .refusals: (RefusalRecord.varOffset(p), RefusalRecord.varLength(p))
            }
        }

        func computed(_ p: UnsafeRawPointer, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
            switch self {
            case .clicks: ClickSlot.checksum(p, variable: bytes)
            case .conversions: ConversionRecord.checksum(p, variable: bytes)
            case .refusals: RefusalRecord.checksum(p, variable: bytes)
            }
        }
    }

    /// Where a valid log ends.
    struct LogEnd { var count: UInt64; var byteEnd: UInt64 }

    /// Is the record at `sequence` written and intact? nil when it was never written (all zero).
    func check(_ table: RecordTable, _ sequence: UInt64, _ layout: Layout) -> (valid: Bool, byteEnd: UInt64)? {
        guard let p = table.slot(sequence) else { return nil }
        let stored = layout.stored(p)
        if stored == 0 { return nil }
        let (offset, length) = layout.variable(p)
        guard let bytes = table.checkedBytes(at: offset, count: length) else { return (false, 0) }
        if layout.computed(p, bytes) == stored { return (true, offset + UInt64(length)) }
        // A click whose personal data was being wiped: its checksum is already the wiped one.
        let wiping = layout == .clicks && ClickSlot.wipedChecksum(p, variable: bytes) == stored
        return (wiping, offset + UInt64(length))
    }

    /// Validates records from the start; at the first bad or unwritten one decides: torn tail (cut it)
    /// or corruption (stop, or quarantine when asked).
    mutating func scan(_ table: RecordTable, trusted: UInt64, layout: Layout) throws(RecoveryError) -> LogEnd {
        // Retention may have removed the oldest segments: the log starts at the first one present.
        var end = LogEnd(count: UInt64(table.firstMappedRecordSegment * table.recordsPerSegment), byteEnd: 0)
        while let (valid, byteEnd) = check(table, end.count, layout), valid {
            end.count += 1
            end.byteEnd = byteEnd
        }
        let limit = UInt64(table.mappedRecordSegmentEnd * table.recordsPerSegment)
        var lastWritten: UInt64?
        var goodAfter = 0
        var s = end.count
        while s < limit {
            if let (valid, _) = check(table, s, layout) {
                lastWritten = s
                if valid { goodAfter += 1 }
            }
            s += 1
        }
        if goodAfter > 0 || end.count < trusted {
            return try corrupt(table, at: end.count, goodAfter: goodAfter, trusted: trusted, end: end)
        }
        if let lastWritten {
            if !options.inspectOnly { for cut in end.count...lastWritten { table.erase(cut) } }
            let records = lastWritten - end.count + 1
            notes.append("\(options.inspectOnly ? "found" : "cut") a torn tail of \(records) record\(records == 1 ? "" : "s") (\(records * UInt64(table.stride)) bytes) "
                + "at \(location(table, end.count))")
        }
        return end
    }

    /// A bad record before the tail: stop with what to do, or quarantine its segment.
    mutating func corrupt(_ table: RecordTable, at sequence: UInt64, goodAfter: Int, trusted: UInt64, end: LogEnd) throws(RecoveryError) -> LogEnd {
        let place = location(table, sequence)
        let why = goodAfter > 0 ? "followed by \(goodAfter) intact records" : "below the snapshot's durable count \(trusted)"
        if options.inspectOnly {
            damage.append("corrupt record at \(place), \(why)")
            return end
        }
        guard options.quarantineDamaged else {
            throw RecoveryError("""
                corrupt record at \(place), \(why). Trackstar will not start and drop good records.
                Check the disk; run `trackstar inspect \(dataDir)` for every damaged place;
                to start anyway without that segment, run `trackstar serve --quarantine-damaged` \
                (its records become unavailable; everything else is kept).
                """)
        }
        return quarantine(table, at: sequence, end: end)
    }

    /// Renames the damaged record segment aside; appends continue in the next segment.
    mutating func quarantine(_ table: RecordTable, at sequence: UInt64, end: LogEnd) -> LogEnd {
        let segment = table.recordSegment(sequence)
        let path = table.path(segment: segment, bytes: false)
        table.quarantine(segment: segment, renamingTo: path + ".quarantined")
        notes.append("quarantined \(path) as \(path).quarantined after a corrupt record at \(location(table, sequence))")
        // Records after the damaged segment may be intact: keep scanning from the next one.
        var next = LogEnd(count: UInt64(segment + 1) * UInt64(table.recordsPerSegment), byteEnd: end.byteEnd)
        while let (valid, byteEnd) = check(table, next.count, Layout(table)), valid {
            next.count += 1
            next.byteEnd = byteEnd
        }
        // Fresh arena bytes start past anything the damaged segment may reference.
        next.byteEnd = table.mappedByteEnd
        return next
    }

    func location(_ table: RecordTable, _ sequence: UInt64) -> String {
        let segment = table.recordSegment(sequence)
        let offset = table.recordIndex(sequence) * table.stride
        return "\(table.path(segment: segment, bytes: false)) offset \(offset) (record \(sequence))"
    }
}

extension Recovery.Layout {
    init(_ table: RecordTable) { self = Recovery.Layout(rawName: table.name) }

    init(rawName: String) {
        switch rawName {
        case "clicks": self = .clicks
        case "conversions": self = .conversions
        default: self = .refusals
        }
    }
}
