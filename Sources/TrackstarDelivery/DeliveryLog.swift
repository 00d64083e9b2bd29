// The durable delivery log: one append-only record table under data_dir/deliveries, written only by
// the dispatcher thread. Every job ("queued", with its rendered URL), every attempt (time, HTTP
// status, latency, a short response excerpt) and every pause or resume of an endpoint is a record,
// sealed with a checksum. A restart rebuilds the dispatcher's whole state from it, and
// `trackstar deliveries` reads it without the server.
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
    /// 1-based attempt number.
    public var attempt: UInt8 = 0

    public init(kind: DeliveryRecordKind, conversionID: UInt64, timeMillis: Int64) {
        self.kind = kind; self.conversionID = conversionID; self.timeMillis = timeMillis
    }
}

/// A record as read back, with its variable text split into endpoint and detail (URL or excerpt).
public struct DeliveryEntry: Sendable {
    public var record: DeliveryRecord
    public var endpoint: String
    public var detail: String
}

/// The log's table and its reading and writing.
public final class DeliveryLog: @unchecked Sendable {  // appends on the dispatcher thread only
    let table: RecordTable
    public let directory: String
    /// Records found valid at open; later appends follow them.
    public private(set) var count: UInt64 = 0
    /// Notes from opening (a torn tail cut), for the start-up log.
    public private(set) var notes: [String] = []
    private var syncedCount: UInt64 = 0

    public static func directory(dataDir: String) -> String { dataDir + "/deliveries" }

    /// The writer's lock on the log (flock on `deliveries/lock`), or -1 for a reader.
    private var lockFD: Int32 = -1

    /// Opens (creating the directory) and validates every record. A writer takes the log's lock
    /// (failing if another process holds it) and cuts a torn tail; a reader (`writer: false`)
    /// changes nothing on disk, so it may read the log of a running server.
    public init(dataDir: String, writer: Bool = true) throws(StoreError) {
        directory = DeliveryLog.directory(dataDir: dataDir)
        try SegmentDirectory.create(directory)
        if writer {
            lockFD = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard lockFD >= 0 else { throw StoreError("cannot open \(directory)/lock: \(String(cString: strerror(errno)))") }
            guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
                close(lockFD)
                throw StoreError("\(directory) is in use by another process (a running trackstar server?)")
            }
        }
        table = RecordTable(stride: DeliveryRecord.stride, recordsPerSegment: 1 << 16, byteSegmentSize: 8 << 20,
                            directory: directory, name: "deliveries")
        notes = try table.mapExisting()
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
                notes.append("delivery log: cut a torn tail at record \(sequence) of \(directory)")
                var cut = sequence
                while cut < limit, let q = table.slot(cut), UnsafeDeliveryRecordSlot(base: q).storedChecksum != 0 {
                    table.erase(cut); cut += 1
                }
                break
            }
            byteEnd = max(byteEnd, offset + UInt64(length))
            sequence += 1
        }
        table.restore(count: sequence, byteEnd: byteEnd)
        count = sequence
        syncedCount = sequence
    }

    deinit { if lockFD >= 0 { close(lockFD) } }

    /// Appends a record with `endpoint` and `detail` as its variable bytes (detail cut at 1 KiB).
    /// Returns false when the disk refuses (full): the caller keeps the job in memory and retries.
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

    /// Calls `body` for every record in order.
    public func forEach(from start: UInt64 = 0, _ body: (DeliveryEntry) -> Void) {
        var sequence = start
        let end = table.publishedCount
        while sequence < end {
            if let p = table.record(sequence), let (record, offset, length) = UnsafeDeliveryRecordSlot(base: p).load() {
                let (endpoint, detail) = UnsafeDeliveryRecordSlot.text(table.bytes(at: offset, count: length))
                body(DeliveryEntry(record: record, endpoint: endpoint, detail: detail))
            }
            sequence += 1
        }
    }
}
