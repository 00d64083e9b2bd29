// A conversion's current status and its transitions. The status a conversion was recorded with stays
// in its record (byte 57); byte 58 of the record is the conversion's state word, changed only by
// compare-and-swap, and every change is also a transition record of its own in the conversion log.
//
// Invariants: a state word is 0 until the first transition (old records hold 0 there too); after it,
// `version << 2 | status`, the version counting the transitions won so far; bit 7 (`busy`) is set by
// the winner of a compare-and-swap until its transition record is in the log, and waiters spin on
// it. The checksum reads the word as 0, so the sealed record stays valid while the word changes.
// Recovery rebuilds every word from the transition records (highest version wins): the log is the
// truth, the word a cache of it.
import Atomics
import TrackstarCore

/// What a record in a conversion log is (byte 59; 0 in records written before transitions existed).
public enum ConversionRecordKind: UInt8, Sendable {
    case conversion = 0, transition = 1
}

/// A conversion's state word, decoded.
public struct ConversionState: Equatable, Sendable {
    /// Set while the winning update appends its transition record.
    public static let busy: UInt8 = 0x80
    /// Versions fit in five bits; the state machine allows at most two transitions (`canChange`).
    public static let maxVersion = 31

    public var status: ConversionStatus
    /// Transitions won so far (0: as recorded).
    public var version: Int

    public init(status: ConversionStatus, version: Int) { self.status = status; self.version = version }

    /// The state of a word as read (without the busy bit) for a record recorded with `recorded`.
    public init(word: UInt8, recorded: ConversionStatus) {
        let plain = word & ~ConversionState.busy
        if plain == 0 { self.init(status: recorded, version: 0); return }
        self.init(status: ConversionStatus(rawValue: plain & 3) ?? .approved, version: Int(plain >> 2))
    }

    /// The word that holds this state.
    public var word: UInt8 { version == 0 ? 0 : UInt8(version << 2) | status.rawValue }
}

extension ConversionStatus {
    /// The state machine: pending → approved, pending → rejected, approved → rejected (a reversal or
    /// chargeback). Rejected is final: a rejected conversion is never approved again (send a new
    /// conversion instead), so a conversion changes at most twice.
    public func canChange(to next: ConversionStatus) -> Bool {
        switch (self, next) {
        case (.pending, .approved), (.pending, .rejected), (.approved, .rejected): true
        default: false
        }
    }
}

extension ConversionRecord {
    /// Byte 59: what the record is.
    public static func kind(_ p: UnsafeRawPointer) -> ConversionRecordKind {
        ConversionRecordKind(rawValue: p.load(fromByteOffset: 59, as: UInt8.self)) ?? .conversion
    }

    /// A conversion's state word (byte 58), changed only with atomic operations, by any loop.
    public static func state(_ p: UnsafeMutableRawPointer) -> UnsafeAtomic<UInt8> {
        UnsafeAtomic(at: (p + 58).assumingMemoryBound(to: UInt8.AtomicRepresentation.self))
    }

    /// A conversion's current state (acquiring: pairs with the releasing store that clears `busy`).
    public static func currentState(_ p: UnsafeMutableRawPointer) -> ConversionState {
        ConversionState(word: state(p).load(ordering: .acquiring), recorded: status(p))
    }

    /// Calls `body` with the 88 header bytes the checksum covers, byte 58 read as 0 in a conversion
    /// (its state word changes after sealing) and as written in a transition. Byte 58 of a
    /// conversion is never read here, so the copy does not race with a compare-and-swap.
    static func withHeaderWords<T>(_ p: UnsafeRawPointer, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &words) { out in
            out.baseAddress!.copyMemory(from: p, byteCount: 58)
            let kind = p.load(fromByteOffset: 59, as: UInt8.self)
            out[58] = kind == ConversionRecordKind.conversion.rawValue ? 0 : p.load(fromByteOffset: 58, as: UInt8.self)
            out[59] = kind
            (out.baseAddress! + 60).copyMemory(from: p + 60, byteCount: 28)
            return body(UnsafeRawBufferPointer(out))
        }
    }
}

/// A transition record, in the conversion log beside the conversions (same 96-byte layout, kind 1):
/// `conversionID:8 | timeMillis:8 | txidHash:8 | amount:8 | payout:8 | revenue:8 | offerID:4 | affID:4
///  | event:1 | status:1 (new) | change:1 | kind:1 | currency:4 | varOffset:8 | varLength:4
///  | payoutCurrency:4 | reserved:8 | checksum:8`, where `change` is `version << 2 | previous status`.
/// txid hash, payout, revenue, offer, affiliate, event and payout currency are the conversion's;
/// `amount` is the one the update carried (`noAmount` if none, or if unchanged). Variable bytes:
/// the actor (`TransitionActor`) then its detail: a postback's peer address (16 bytes, high then
/// low word) or the operator's reason (UTF-8).
public enum TransitionRecord {
    /// The conversion this transition changed (its public id).
    public static func conversionID(_ p: UnsafeRawPointer) -> UInt64 { p.load(fromByteOffset: 0, as: UInt64.self) }
    public static func previousStatus(_ p: UnsafeRawPointer) -> ConversionStatus {
        ConversionStatus(rawValue: p.load(fromByteOffset: 58, as: UInt8.self) & 3) ?? .approved
    }
    /// The conversion's version after this transition (1 for its first).
    public static func version(_ p: UnsafeRawPointer) -> Int { Int(p.load(fromByteOffset: 58, as: UInt8.self) >> 2) }
    /// The state this transition left the conversion in.
    public static func state(_ p: UnsafeRawPointer) -> ConversionState {
        ConversionState(status: ConversionRecord.status(p), version: version(p))
    }

    /// Writes a transition of `conversion` (its record) into `p`; seal it after the variable bytes.
    public static func write(_ p: UnsafeMutableRawPointer, conversionID: UInt64, of conversion: UnsafeRawPointer, timeMillis: Int64,
                             previous: ConversionStatus, next: ConversionState, amount: Int64, currency: UInt32,
                             varOffset: UInt64, varLength: Int) {
        ConversionRecord.write(p, .init(
            clickRef: conversionID, timeMillis: timeMillis, txidHash: ConversionRecord.txidHash(conversion), amount: amount,
            payout: ConversionRecord.payout(conversion), revenue: ConversionRecord.revenue(conversion),
            offerID: ConversionRecord.offerID(conversion), affID: ConversionRecord.affID(conversion),
            event: UInt8(truncatingIfNeeded: ConversionRecord.event(conversion)), status: next.status, currency: currency,
            varOffset: varOffset, varLength: varLength, payoutCurrency: ConversionRecord.payoutCurrency(conversion)))
        p.storeBytes(of: UInt8(next.version << 2) | previous.rawValue, toByteOffset: 58, as: UInt8.self)
        p.storeBytes(of: ConversionRecordKind.transition.rawValue, toByteOffset: 59, as: UInt8.self)
    }
}

/// Who made a transition: the first variable byte of a transition record.
public enum TransitionActor: UInt8, Sendable {
    case postback = 1, `operator` = 2

    public var name: String { self == .postback ? "postback" : "operator" }
}
