// Byte layouts of click and conversion records in their shard tables. Each layout is written once by
// the owning loop and read by any loop after the table's count is published.
import Atomics
import TrackstarCore
import TrackstarStore

/// A click slot, 64 bytes:
/// `mintMillis:8 | offerID:4 | affID:4 | varOffset:8 | varLength:4 | reserved:4 | conversions:8 (atomic)
///  | peerHigh:8 | peerLow:8 | checksum:8`. The checksum covers the slot except the conversion
/// counter (it changes later) and the checksum itself, plus the variable bytes; 0 means never written.
/// Variable bytes: for each of sub1…sub5, aff_click_id, source, user agent: a 2-byte length, then bytes.
enum ClickSlot {
    static let stride = 64
    static let variableFields: [ParamField] = [.sub1, .sub2, .sub3, .sub4, .sub5, .affClickID, .source]

    static func mintMillis(_ p: UnsafeRawPointer) -> Int64 { p.load(fromByteOffset: 0, as: Int64.self) }
    static func offerID(_ p: UnsafeRawPointer) -> UInt32 { p.load(fromByteOffset: 8, as: UInt32.self) }
    static func affID(_ p: UnsafeRawPointer) -> UInt32 { p.load(fromByteOffset: 12, as: UInt32.self) }
    static func varOffset(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 16, as: UInt64.self) }
    static func varLength(_ p: UnsafeRawPointer) -> Int { Int(p.load(fromByteOffset: 24, as: UInt32.self)) }

    /// The click's conversion counter, changed only with atomic operations from any loop.
    static func conversions(_ p: UnsafeMutableRawPointer) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (p + 32).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    static func write(_ p: UnsafeMutableRawPointer, mintMillis: Int64, offerID: UInt32, affID: UInt32,
                      varOffset: UInt64, varLength: Int, peerHigh: UInt64, peerLow: UInt64) {
        p.storeBytes(of: mintMillis, toByteOffset: 0, as: Int64.self)
        p.storeBytes(of: offerID, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: affID, toByteOffset: 12, as: UInt32.self)
        p.storeBytes(of: varOffset, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: UInt32(varLength), toByteOffset: 24, as: UInt32.self)
        p.storeBytes(of: peerHigh, toByteOffset: 40, as: UInt64.self)
        p.storeBytes(of: peerLow, toByteOffset: 48, as: UInt64.self)
    }

    static func checksum(_ p: UnsafeRawPointer, variable: UnsafeRawBufferPointer) -> UInt64 {
        var h = Checksum.update(0x636c_6963_6b73, UnsafeRawBufferPointer(start: p, count: 32))
        h = Checksum.update(h, UnsafeRawBufferPointer(start: p + 40, count: 16))
        return Checksum.finish(Checksum.update(h, variable))
    }

    /// Seals a written slot: the checksum is stored last.
    static func seal(_ p: UnsafeMutableRawPointer, variable: UnsafeRawBufferPointer) {
        p.storeBytes(of: checksum(p, variable: variable), toByteOffset: 56, as: UInt64.self)
    }

    static func storedChecksum(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 56, as: UInt64.self) }
}

/// A conversion record, 96 bytes:
/// `clickRef:8 | timeMillis:8 | txidHash:8 | amount:8 | payout:8 | revenue:8 | offerID:4 | affID:4
///  | event:1 | status:1 | reserved:2 | currency:4 | varOffset:8 | varLength:4 | reserved:12 | checksum:8`.
/// Variable bytes: the raw txid. The checksum covers bytes 0..<88 and the variable bytes.
enum ConversionRecord {
    static let stride = 96
    /// `amount` when the postback carried none.
    static let noAmount = Int64.min

    static func clickRef(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 0, as: UInt64.self) }
    static func txidHash(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 16, as: UInt64.self) }
    static func payout(_ p: UnsafeRawPointer) -> Int64 { p.load(fromByteOffset: 32, as: Int64.self) }
    static func revenue(_ p: UnsafeRawPointer) -> Int64 { p.load(fromByteOffset: 40, as: Int64.self) }
    static func event(_ p: UnsafeRawPointer) -> Int { Int(p.load(fromByteOffset: 56, as: UInt8.self)) }
    static func status(_ p: UnsafeRawPointer) -> ConversionStatus {
        ConversionStatus(rawValue: p.load(fromByteOffset: 57, as: UInt8.self)) ?? .approved
    }

    struct Fields {
        var clickRef: UInt64
        var timeMillis: Int64
        var txidHash: UInt64
        var amount: Int64
        var payout: Int64
        var revenue: Int64
        var offerID: UInt32
        var affID: UInt32
        var event: UInt8
        var status: ConversionStatus
        var currency: UInt32
        var varOffset: UInt64
        var varLength: Int
    }

    static func write(_ p: UnsafeMutableRawPointer, _ f: Fields) {
        p.storeBytes(of: f.clickRef, toByteOffset: 0, as: UInt64.self)
        p.storeBytes(of: f.timeMillis, toByteOffset: 8, as: Int64.self)
        p.storeBytes(of: f.txidHash, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: f.amount, toByteOffset: 24, as: Int64.self)
        p.storeBytes(of: f.payout, toByteOffset: 32, as: Int64.self)
        p.storeBytes(of: f.revenue, toByteOffset: 40, as: Int64.self)
        p.storeBytes(of: f.offerID, toByteOffset: 48, as: UInt32.self)
        p.storeBytes(of: f.affID, toByteOffset: 52, as: UInt32.self)
        p.storeBytes(of: f.event, toByteOffset: 56, as: UInt8.self)
        p.storeBytes(of: f.status.rawValue, toByteOffset: 57, as: UInt8.self)
        p.storeBytes(of: f.currency, toByteOffset: 60, as: UInt32.self)
        p.storeBytes(of: f.varOffset, toByteOffset: 64, as: UInt64.self)
        p.storeBytes(of: UInt32(f.varLength), toByteOffset: 72, as: UInt32.self)
    }

    static func varOffset(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 64, as: UInt64.self) }
    static func varLength(_ p: UnsafeRawPointer) -> Int { Int(p.load(fromByteOffset: 72, as: UInt32.self)) }
    static func offerID(_ p: UnsafeRawPointer) -> UInt32 { p.load(fromByteOffset: 48, as: UInt32.self) }

    static func checksum(_ p: UnsafeRawPointer, variable: UnsafeRawBufferPointer) -> UInt64 {
        let h = Checksum.update(0x636f_6e76_6572_7473, UnsafeRawBufferPointer(start: p, count: 88))
        return Checksum.finish(Checksum.update(h, variable))
    }

    static func seal(_ p: UnsafeMutableRawPointer, variable: UnsafeRawBufferPointer) {
        p.storeBytes(of: checksum(p, variable: variable), toByteOffset: 88, as: UInt64.self)
    }

    static func storedChecksum(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 88, as: UInt64.self) }
}

/// A conversion's status as the advertiser reported it.
enum ConversionStatus: UInt8 {
    case approved = 0, pending = 1, rejected = 2

    var name: StaticString {
        switch self {
        case .approved: "approved"
        case .pending: "pending"
        case .rejected: "rejected"
        }
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) -> ConversionStatus? {
        for raw in UInt8(0)...2 {
            let status = ConversionStatus(rawValue: raw)!
            let name = status.name
            if name.utf8CodeUnitCount == bytes.count && memcmp(name.utf8Start, bytes.baseAddress!, bytes.count) == 0 {
                return status
            }
        }
        return nil
    }
}

#if canImport(Glibc)
import Glibc
#endif
