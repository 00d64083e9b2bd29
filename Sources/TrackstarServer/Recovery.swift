// Start-up recovery: map every shard's segment files, validate each record's checksum, cut a torn
// tail (saying how much and where), refuse to start on corruption before the tail, and rebuild the
// conversion index by replaying the conversion logs.
import TrackstarCore
import TrackstarIO
import TrackstarStore

/// Choices an operator can make about damaged data.
public struct RecoveryOptions: Sendable {
    /// Start even when a record before the tail is corrupt: the damaged segment file is renamed
    /// `*.quarantined` and its records become unavailable; appends continue after it.
    public var quarantineDamaged = false
    /// Report only (`trackstar inspect`): change nothing, record damage instead of stopping.
    var inspectOnly = false
    public init(quarantineDamaged: Bool = false) { self.quarantineDamaged = quarantineDamaged }
}

/// One recovery run over a data dir's tables.
struct Recovery {
    let dataDir: String
    let clicks: [RecordTable]
    let conversions: [RecordTable]
    let refusals: [RecordTable]
    let options: RecoveryOptions
    var notes: [String] = []
    /// Damage found (inspect mode): corrupt records before a tail, damaged manifests.
    var damage: [String] = []
    /// The manifest recovery started from.
    var manifest: Manifest?

    init(dataDir: String, clicks: [RecordTable], conversions: [RecordTable], refusals: [RecordTable], options: RecoveryOptions) {
        self.dataDir = dataDir; self.clicks = clicks; self.conversions = conversions; self.refusals = refusals
        self.options = options
    }

    /// Recovers every shard; returns notes for the log, throws on damage it will not repair.
    mutating func run() throws(StartupError) -> [String] {
        let found = Manifest.load(from: dataDir)
        for damaged in found.damaged {
            notes.append("manifest \(damaged.path) is damaged (\(damaged.reason)); using the other copy or a full scan")
            damage.append("manifest \(damaged.path): \(damaged.reason)")
        }
        if found.manifest == nil && !found.damaged.isEmpty && !options.quarantineDamaged && !options.inspectOnly {
            throw StartupError("""
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

    mutating func recoverShard(_ shard: Int, trusted: ShardPosition) throws(StartupError) {
        let clicks = self.clicks[shard], conversions = self.conversions[shard], refusals = self.refusals[shard]
        if !options.inspectOnly {
            for table in [clicks, conversions, refusals] { notes += table.removeRetiredFiles().map { "removed retired segment \($0)" } }
        }
        do {
            notes += try clicks.mapExisting()
            notes += try conversions.mapExisting()
            notes += try refusals.mapExisting()
        } catch {
            throw StartupError("shard \(shard): \(error.description)")
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
    mutating func scan(_ table: RecordTable, trusted: UInt64, layout: Layout) throws(StartupError) -> LogEnd {
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
    mutating func corrupt(_ table: RecordTable, at sequence: UInt64, goodAfter: Int, trusted: UInt64, end: LogEnd) throws(StartupError) -> LogEnd {
        let place = location(table, sequence)
        let why = goodAfter > 0 ? "followed by \(goodAfter) intact records" : "below the snapshot's durable count \(trusted)"
        if options.inspectOnly {
            damage.append("corrupt record at \(place), \(why)")
            return end
        }
        guard options.quarantineDamaged else {
            throw StartupError("""
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
        let segment = Int(sequence / UInt64(table.recordsPerSegment))
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
        let segment = Int(sequence / UInt64(table.recordsPerSegment))
        let offset = Int(sequence % UInt64(table.recordsPerSegment)) * table.stride
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

extension Engine {
    /// Rebuilds the conversion index (order ids and click+event pairs) from every conversion log,
    /// skipping keys whose expiry has passed (see `OfferRuntime.keyExpiry`). Starts at each log's
    /// first segment still on disk: retired conversions hold no live key (`conversionCutoff`), so
    /// the work follows the live window, not the history.
    func replayConversions(nowMillis: Int64 = WallClock.nowMillis()) throws(StartupError) {
        let catalog = self.catalog
        resetConversionStates()
        index.enter(indexRecoveryParticipant)
        defer { index.leave(indexRecoveryParticipant) }
        for (shard, table) in conversions.enumerated() {
            var sequence = table.retiredCount
            while sequence < table.reservedCount {
                defer { sequence += 1 }
                guard let record = table.record(sequence) else { continue }  // quarantined
                if ConversionRecord.kind(record) == .transition { replayTransition(record); continue }
                let id = Engine.conversionID(shard: shard, sequence: sequence)
                let clickRef = ConversionRecord.clickRef(record)
                let clickShard = UInt8(clickRef >> 40), clickSequence = clickRef & ClickID.maxSequence
                let expires = keyExpiry(record, clickShard: clickShard, clickSequence: clickSequence, catalog: catalog)
                guard expires >= nowMillis else { continue }
                try restoreKey(Engine.eventKey(shard: clickShard, sequence: clickSequence, event: ConversionRecord.event(record)),
                               id: id, expires: expires, nowMillis: nowMillis)
                let txid = ConversionRecord.txidHash(record)
                if txid != 0 {
                    try restoreKey(txidKey(offer: ConversionRecord.offerID(record), txidHash: txid), id: id, expires: expires, nowMillis: nowMillis)
                }
            }
        }
    }

    /// Sets every conversion's state word back to "as recorded": a word the crash left changed (or
    /// `busy`) without its transition record in the log is undone; `replayTransition` redoes the rest.
    func resetConversionStates() {
        for table in conversions {
            var sequence = table.retiredCount
            while sequence < table.reservedCount {
                defer { sequence += 1 }
                guard let record = table.record(sequence), ConversionRecord.kind(record) == .conversion else { continue }
                // Relaxed: recovery runs before any loop starts; the loops' start orders it before them.
                ConversionRecord.state(record).store(0, ordering: .relaxed)
            }
        }
    }

    /// Applies a logged transition to its conversion's state word: the highest version wins, so the
    /// order in which shards' logs are read does not matter (each version was won by one update).
    func replayTransition(_ transition: UnsafeRawPointer) {
        guard let conversion = conversionRecord(TransitionRecord.conversionID(transition)),
              ConversionRecord.kind(conversion) == .conversion else { return }
        let word = ConversionRecord.state(conversion)
        // Relaxed: single-threaded here, as above.
        let current = ConversionState(word: word.load(ordering: .relaxed), recorded: ConversionRecord.status(conversion))
        let next = TransitionRecord.state(transition)
        if next.version > current.version { word.store(next.word, ordering: .relaxed) }
    }

    /// The keys' expiry as the loop computed it; the click's mint time is read from its slot while
    /// the slot exists (a retired click is past every lifetime, so only the order-id window counts).
    func keyExpiry(_ record: UnsafeRawPointer, clickShard: UInt8, clickSequence: UInt64, catalog: Catalog) -> Int64 {
        let time = ConversionRecord.timeMillis(record)
        let mint = Int(clickShard) < clicks.count ? clicks[Int(clickShard)].record(clickSequence).map { ClickSlot.mintMillis($0) } ?? 0 : 0
        guard let offer = catalog.offer(ConversionRecord.offerID(record)) else {
            return max(time + config.storage.txidWindowMillis, mint + catalog.maxLifetimeMillis)
        }
        return offer.keyExpiry(nowMillis: time, mintMillis: mint)
    }

    /// Points `key` at conversion `id` unless an earlier conversion holds it (multiple_conversions);
    /// grows the index in place when its newest generation is full.
    func restoreKey(_ key: UInt64, id: UInt64, expires: Int64, nowMillis: Int64) throws(StartupError) {
        for _ in 0..<3 {
            switch index.claim(key, expiresMillis: expires) {
            case .claimed(let entry): index.publish(entry: entry, value: id); return
            case .existing: return
            case .full:
                if let refusal = index.maintain(nowMillis: nowMillis).refusal { throw StartupError("during recovery: \(refusal)") }
            }
        }
        throw StartupError("the conversion index could not grow during recovery; raise storage.max_conversions")
    }
}
