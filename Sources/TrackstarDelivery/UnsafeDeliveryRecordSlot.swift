// The bytes of one delivery record in its slot of the log's mapped `RecordTable`, and of its variable
// text in the table's arena: the only code in TrackstarDelivery that reads or writes them (`DeliveryLog`
// goes through it). The mapping itself is the table's (TrackstarStore).
//
// Invariants:
// - `base` points at `DeliveryRecord.stride` (64) bytes of a mapped record segment, 8-byte aligned
//   (segments are page-aligned and the stride is 64). It stays valid while the log's table is open:
//   only the archive is ever pruned (RecordTable retirement), and a retired segment stays mapped
//   and reads as zeros, never as unmapped memory.
// - Layout (host byte order; changing it is a format change, see GoldenDeliveryTests): conversionID
//   at 0, timeMillis 8, nextMillis 16, variable offset 24, variable length 32 (UInt32),
//   latencyMicros 36, affID 40 (UInt32), httpStatus 44, curlCode 46 (UInt16), kind 48, outcome 49,
//   attempt 50 (UInt8), flags 51 (bit 0: carried by compaction; 0 in logs written
//   before compaction existed), 52..<56 unused, checksum 56 (UInt64).
// - The checksum covers bytes 0..<56 and the variable bytes, and is stored last: 0 means the slot was
//   never written, and a slot whose checksum matches is complete.
// - Only the log's writer (the dispatcher thread, or the CLI holding the log's lock) stores into a
//   slot or the arena, and only into ones it reserved and has not yet published.
import TrackstarCore
import TrackstarStore

/// One record slot of the delivery log's table.
struct UnsafeDeliveryRecordSlot {
    let base: UnsafeMutableRawPointer

    /// The checksum stored in the slot (0: never written).
    var storedChecksum: UInt64 { base.load(fromByteOffset: 56, as: UInt64.self) }

    /// Writes `record` and where its variable bytes are (not the checksum: see `seal`).
    func store(_ record: DeliveryRecord, varOffset: UInt64, varLength: Int) {
        base.storeBytes(of: record.conversionID, toByteOffset: 0, as: UInt64.self)
        base.storeBytes(of: record.timeMillis, toByteOffset: 8, as: Int64.self)
        base.storeBytes(of: record.nextMillis, toByteOffset: 16, as: Int64.self)
        base.storeBytes(of: varOffset, toByteOffset: 24, as: UInt64.self)
        base.storeBytes(of: UInt32(varLength), toByteOffset: 32, as: UInt32.self)
        base.storeBytes(of: record.latencyMicros, toByteOffset: 36, as: UInt32.self)
        base.storeBytes(of: record.affID, toByteOffset: 40, as: UInt32.self)
        base.storeBytes(of: record.httpStatus, toByteOffset: 44, as: UInt16.self)
        base.storeBytes(of: record.curlCode, toByteOffset: 46, as: UInt16.self)
        base.storeBytes(of: record.kind.rawValue, toByteOffset: 48, as: UInt8.self)
        base.storeBytes(of: record.outcome?.rawValue ?? 0, toByteOffset: 49, as: UInt8.self)
        base.storeBytes(of: record.attempt, toByteOffset: 50, as: UInt8.self)
        base.storeBytes(of: UInt8(record.carried ? 1 : 0), toByteOffset: 51, as: UInt8.self)
    }

    /// The record and where its variable bytes are; nil when the kind byte is not a known kind.
    func load() -> (DeliveryRecord, varOffset: UInt64, varLength: Int)? {
        guard let kind = DeliveryRecordKind(rawValue: base.load(fromByteOffset: 48, as: UInt8.self)) else { return nil }
        var record = DeliveryRecord(kind: kind, conversionID: base.load(fromByteOffset: 0, as: UInt64.self),
                                    timeMillis: base.load(fromByteOffset: 8, as: Int64.self))
        record.nextMillis = base.load(fromByteOffset: 16, as: Int64.self)
        record.latencyMicros = base.load(fromByteOffset: 36, as: UInt32.self)
        record.affID = base.load(fromByteOffset: 40, as: UInt32.self)
        record.httpStatus = base.load(fromByteOffset: 44, as: UInt16.self)
        record.curlCode = base.load(fromByteOffset: 46, as: UInt16.self)
        record.outcome = AttemptOutcome(rawValue: base.load(fromByteOffset: 49, as: UInt8.self))
        record.attempt = base.load(fromByteOffset: 50, as: UInt8.self)
        record.carried = base.load(fromByteOffset: 51, as: UInt8.self) & 1 != 0
        return (record, base.load(fromByteOffset: 24, as: UInt64.self), Int(base.load(fromByteOffset: 32, as: UInt32.self)))
    }

    /// The checksum of the slot's first 56 bytes and `variable`.
    func checksum(variable: UnsafeRawBufferPointer) -> UInt64 {
        let h = Checksum.update(0x6465_6c69_7665_7279, UnsafeRawBufferPointer(start: base, count: 56))
        return Checksum.finish(Checksum.update(h, variable))
    }

    /// Stores the checksum, last: the record is complete from here on.
    func seal(variable: UnsafeRawBufferPointer) {
        base.storeBytes(of: checksum(variable: variable), toByteOffset: 56, as: UInt64.self)
    }

    /// Copies `text` into reserved arena bytes at `bytes`, which hold at least `text.count`.
    static func copy(_ text: [UInt8], to bytes: UnsafeMutableRawPointer) {
        text.withUnsafeBytes { bytes.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// A record's variable bytes as its endpoint and detail (split at the first newline).
    static func text(_ bytes: UnsafeRawBufferPointer) -> (endpoint: String, detail: String) {
        let newline = bytes.firstIndex(of: 0x0A) ?? bytes.count
        let endpoint = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<newline]), as: UTF8.self)
        let detail = newline < bytes.count
            ? String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(newline + 1)...]), as: UTF8.self) : ""
        return (endpoint, detail)
    }
}
