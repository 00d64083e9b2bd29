// The durable delivery log: append-only record tables under data_dir/deliveries, written only by
// the dispatcher thread. Every job ("queued", with its rendered URL), every attempt (time, HTTP
// status, latency, a short response excerpt) and every pause or resume of an endpoint is a record,
// sealed with a checksum. The live generation rebuilds the dispatcher's state at a restart;
// compaction moves finished history to the archive (DeliveryGeneration, DeliveryCompaction).
import TrackstarCore
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

/// What a delivery record says.
public enum DeliveryRecordKind: UInt8, Sendable {
    /// A conversion's postback was planned: endpoint and URL in the variable bytes.
    case queued = 1
    /// One attempt finished: endpoint and a response excerpt (or curl's error) in the variable bytes.
    case attempt = 2
    /// An endpoint was paused after too many consecutive failures (endpoint in the variable bytes).
    case pause = 3
    /// An endpoint was resumed by an operator.
    case resume = 4
    /// A postback that had failed for good was queued again by an operator's retry request:
    /// endpoint and URL (the stored one, or re-rendered from the current configuration) as in `queued`.
    case requeued = 5
    /// An operator's retry request was carried out: its id, the count re-queued and the selection in
    /// the detail. Written after the `requeued` records it covers, so a request repeated with the
    /// same id does nothing more (see `DeliveryRetry`).
    case retryRequest = 6
    /// A conversion whose affiliate is not in the configuration (removed): recorded and reported, but
    /// no postback is sent. Written once per conversion, so the warning and the count are too.
    case skipped = 7
    /// Counts carried into a new generation by compaction (`DeliveryLedger+Carry`): the subject in
    /// `attempt` (1 endpoint, 2 affiliate, 3 totals), the numbers as `name=value` words in the detail.
    case tally = 8
}

/// How an attempt ended.
public enum AttemptOutcome: UInt8, Sendable {
    case delivered = 1
    /// Failed; another attempt is scheduled at `nextMillis`.
    case retry = 2
    /// Failed for good: the partner answered 4xx (other than 408 and 429).
    case failed = 3
    /// Failed, and that was the last attempt allowed.
    case gaveUp = 4

    public var name: String {
        switch self {
        case .delivered: "delivered"
        case .retry: "retry"
        case .failed: "failed"
        case .gaveUp: "gave_up"
        }
    }
    public var isFinal: Bool { self != .retry }
}

/// One delivery log record: 64 bytes, the checksum stored last; the layout is `UnsafeDeliveryRecordSlot`'s.
public struct DeliveryRecord: Sendable {
    public static let stride = 64
    public var kind: DeliveryRecordKind
    /// The conversion's public id (0 for pause/resume).
    public var conversionID: UInt64
    public var timeMillis: Int64
    /// queued: when the first attempt is due; attempt with outcome retry: when the next is due.
    public var nextMillis: Int64 = 0
    public var affID: UInt32 = 0
    public var latencyMicros: UInt32 = 0
    /// The HTTP status answered (0: no answer, see `curlCode`).
    public var httpStatus: UInt16 = 0
    public var curlCode: UInt16 = 0
    public var outcome: AttemptOutcome? = nil
    /// 1-based attempt number (a carried `queued` or `requeued` record: the attempts made so far).
    public var attempt: UInt8 = 0
    /// Written by compaction into a new generation: a copy of state whose history is in the archive
    /// (a pending job, a pause, a recent failure, a retry request) or a tally. History readers skip
    /// it; a restart replays it as the live state.
    public var carried = false

    public init(kind: DeliveryRecordKind, conversionID: UInt64, timeMillis: Int64) {
        self.kind = kind; self.conversionID = conversionID; self.timeMillis = timeMillis
    }
}

/// A record as read back, with its variable text split into endpoint and detail (URL or excerpt).
public struct DeliveryEntry: Sendable {
    public var record: DeliveryRecord
    public var endpoint: String
    public var detail: String
    /// The record's place in the log it was read from (or appended to).
    public var sequence: UInt64 = 0

    public init(record: DeliveryRecord, endpoint: String, detail: String, sequence: UInt64 = 0) {
        self.record = record; self.endpoint = endpoint; self.detail = detail; self.sequence = sequence
    }
}

/// One table of delivery records: a generation of the live log, or the archive.
public final class DeliveryLog: @unchecked Sendable {  // appends on the dispatcher thread only
    let table: RecordTable
    /// `data_dir/deliveries`: the lock, the positions file, the generation file.
    public let directory: String
    /// Where this table's segment files are (the generation's directory, or the archive's).
    public let tableDirectory: String
    /// The live generation this log is (0: the files directly under `directory`).
    public let generation: UInt64
    /// Where the archive's committed records end, as the generation file says (see DeliveryGeneration).
    public let archiveExtent: DeliveryGeneration
    /// Records found valid at open; later appends follow them.
    public private(set) var count: UInt64 = 0
    /// Notes from opening (a torn tail cut), for the start-up log.
    public internal(set) var notes: [String] = []
    private var syncedCount: UInt64 = 0
    /// The writer's lock on the log directory, nil for a reader; handed on from generation to generation.
    let lock: DeliveryLock?

    public static func directory(dataDir: String) -> String { dataDir + "/deliveries" }

    /// A table in `tableDirectory` (created if missing), mapped but not yet validated (`restore`);
    /// `name` prefixes its segment files (`failed` for a generation's index of failed postbacks).
    init(directory: String, tableDirectory: String, generation: DeliveryGeneration, lock: DeliveryLock?,
         name: String = "deliveries") throws(StoreError) {
        self.directory = directory
        self.tableDirectory = tableDirectory
        self.generation = generation.number
        self.archiveExtent = generation
        self.lock = lock
        if lock != nil { try SegmentDirectory.create(tableDirectory) }  // a reader creates nothing
        table = RecordTable(stride: DeliveryRecord.stride, recordsPerSegment: 1 << 16, byteSegmentSize: 8 << 20,
                            directory: tableDirectory, name: name)
        notes = try table.mapExisting()
    }

    /// Sets the append cursor after `count` records ending at arena byte `byteEnd` (all on disk).
    func restore(count: UInt64, byteEnd: UInt64) {
        table.restore(count: count, byteEnd: byteEnd)
        self.count = count
        syncedCount = count
    }

    /// Appends a record with `endpoint` and `detail` as its variable bytes (detail cut at 1 KiB).
    /// Returns false when the disk refuses (full): the caller keeps the job in memory and retries.
    /// The record's sequence is `count - 1` afterwards.
    @discardableResult
    public func append(_ record: DeliveryRecord, endpoint: String, detail: String) -> Bool {
        var text = Array(endpoint.utf8)
        text.append(0x0A)
        text.append(contentsOf: detail.utf8.prefix(1024))
        guard let (sequence, p) = table.reserveRecord() else { return false }
        guard let (offset, bytes) = table.reserveBytes(text.count) else { table.unreserveRecord(); return false }
        UnsafeDeliveryRecordSlot.copy(text, to: bytes)
        let slot = UnsafeDeliveryRecordSlot(base: p)
        slot.store(record, varOffset: offset, varLength: text.count)
        slot.seal(variable: UnsafeRawBufferPointer(start: bytes, count: text.count))
        table.publish(count: sequence + 1)
        count = sequence + 1
        return true
    }

    /// fdatasyncs what was appended since the last call (writer thread; nothing appended: no system call).
    public func sync() -> StoreError? {
        guard syncedCount < count else { return nil }
        let error = table.syncPublished(count: count, byteEnd: table.byteEnd)
        if error == nil { syncedCount = count }
        return error
    }

    /// Any thread: fdatasyncs the files holding the first `count` records and `byteEnd` arena bytes
    /// (values the writer read from `count` and `byteEnd` after appending).
    public func sync(count: UInt64, byteEnd: UInt64) -> StoreError? {
        table.syncPublished(count: count, byteEnd: byteEnd)
    }

    /// Where the arena's bytes end (writer thread).
    public var byteEnd: UInt64 { table.byteEnd }

    /// The record at `sequence`, if published.
    public func entry(at sequence: UInt64) -> DeliveryEntry? {
        guard let p = table.record(sequence), let (record, offset, length) = UnsafeDeliveryRecordSlot(base: p).load() else { return nil }
        let (endpoint, detail) = UnsafeDeliveryRecordSlot.text(table.bytes(at: offset, count: length))
        return DeliveryEntry(record: record, endpoint: endpoint, detail: detail, sequence: sequence)
    }

    /// The detail (for a `queued` or `requeued` record: the URL) of the record at `sequence`, "" if none.
    public func detail(at sequence: UInt64) -> String {
        guard let p = table.record(sequence), let (_, offset, length) = UnsafeDeliveryRecordSlot(base: p).load() else { return "" }
        return UnsafeDeliveryRecordSlot.text(table.bytes(at: offset, count: length)).detail
    }

    /// Calls `body` for every record in order (from `start`, before `end` when given).
    public func forEach(from start: UInt64 = 0, to end: UInt64? = nil, _ body: (DeliveryEntry) -> Void) {
        var sequence = start
        let end = min(end ?? .max, table.publishedCount)
        while sequence < end {
            if let entry = entry(at: sequence) { body(entry) }
            sequence += 1
        }
    }
}
