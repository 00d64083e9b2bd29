// Golden fixture of status updates in a conversion log (Tests/Fixtures/golden/transitions): a
// pending conversion whose state word says "rejected, version 2" and its two transition records
// (pending → approved by a postback, approved → rejected by an operator). The state machine's rules
// and the state word's encoding are checked here too, without a server.
import Atomics
import Foundation
import Testing
import TrackstarCore
import TrackstarStore
import TrackstarTestSupport

/// What the transitions fixture holds.
enum GoldenTransitions {
    static var conversion: ConversionRecord.Fields { ConversionRecord.Fields(
        clickRef: 5, timeMillis: 1_790_000_600_000, txidHash: 0x5555_6666_7777_8888, amount: 10_000_000, payout: 2_500_000,
        revenue: 4_000_000, offerID: 10, affID: 7, event: 0, status: .pending, currency: GoldenStore.currency("USD"),
        varOffset: 0, varLength: 0, payoutCurrency: GoldenStore.currency("EUR")) }
    static let txid = "lead-9"
    /// (time, previous, next, amount, actor, detail)
    static var transitions: [(Int64, ConversionStatus, ConversionState, Int64, TransitionActor, [UInt8])] { [
        (1_790_000_700_000, .pending, ConversionState(status: .approved, version: 1), 12_000_000, .postback,
         withUnsafeBytes(of: (UInt64(0), UInt64(0x0000_FFFF_7F00_0001))) { Array($0) }),
        (1_790_000_800_000, .approved, ConversionState(status: .rejected, version: 2), ConversionRecord.noAmount, .operator,
         Array("chargeback #77".utf8)),
    ] }
}

@Suite("golden transition fixtures", .serialized)
struct GoldenTransitionTests {
    @Test func transitionRecordsReadBackEveryField() throws {
        let data = try Golden.copyToTemporary("transitions")
        defer { Golden.remove(data) }
        let table = ShardLayout.conversionTable(dataDir: data, shard: 0)
        _ = try table.mapExisting()
        let conversion = try #require(table.slot(0))
        let txid = try #require(table.checkedBytes(at: ConversionRecord.varOffset(conversion), count: ConversionRecord.varLength(conversion)))
        // The state word changed after sealing; the checksum still verifies.
        #expect(ConversionRecord.storedChecksum(conversion) == ConversionRecord.checksum(conversion, variable: txid))
        #expect(ConversionRecord.kind(conversion) == .conversion && ConversionRecord.status(conversion) == .pending)
        #expect(ConversionRecord.currentState(conversion) == ConversionState(status: .rejected, version: 2))
        for (i, expected) in GoldenTransitions.transitions.enumerated() {
            let p = try #require(table.slot(UInt64(i + 1)))
            let variable = try #require(table.checkedBytes(at: ConversionRecord.varOffset(p), count: ConversionRecord.varLength(p)))
            #expect(ConversionRecord.storedChecksum(p) == ConversionRecord.checksum(p, variable: variable), "transition \(i) checksum")
            #expect(ConversionRecord.kind(p) == .transition)
            #expect(TransitionRecord.conversionID(p) == 1)
            #expect(ConversionRecord.timeMillis(p) == expected.0)
            #expect(TransitionRecord.previousStatus(p) == expected.1)
            #expect(TransitionRecord.state(p) == expected.2)
            #expect(ConversionRecord.amount(p) == expected.3)
            #expect(ConversionRecord.payout(p) == GoldenTransitions.conversion.payout)
            #expect(ConversionRecord.txidHash(p) == GoldenTransitions.conversion.txidHash)
            #expect(Array(variable) == [expected.4.rawValue] + expected.5)
        }
        #expect(SegmentDirectory.size(Golden.path("transitions/shard-0/conversions-000000.rec")) == 3 * ConversionRecord.stride)
    }

    /// Old records (state and kind bytes 0) read as conversions as recorded, and a changed state word
    /// does not change a conversion's checksum while a transition's byte 58 does.
    @Test func stateWordIsOutsideAConversionsChecksumOnly() throws {
        let record = UnsafeMutableRawPointer.allocate(byteCount: ConversionRecord.stride, alignment: 8)
        defer { record.deallocate() }
        record.initializeMemory(as: UInt8.self, repeating: 0, count: ConversionRecord.stride)
        ConversionRecord.write(record, GoldenTransitions.conversion)
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        let sealed = ConversionRecord.checksum(record, variable: none)
        #expect(ConversionRecord.currentState(record) == ConversionState(status: .pending, version: 0))
        ConversionRecord.state(record).store(ConversionState(status: .approved, version: 1).word | ConversionState.busy, ordering: .relaxed)
        #expect(ConversionRecord.checksum(record, variable: none) == sealed)
        #expect(ConversionRecord.currentState(record) == ConversionState(status: .approved, version: 1))
        record.storeBytes(of: UInt8(1), toByteOffset: 59, as: UInt8.self)  // as a transition, byte 58 counts
        #expect(ConversionRecord.checksum(record, variable: none) != sealed)
    }

    @Test func theStateMachineAllowsThreeChanges() {
        let all: [ConversionStatus] = [.approved, .pending, .rejected]
        var allowed: [String] = []
        for from in all { for to in all where from.canChange(to: to) { allowed.append("\(from.name)>\(to.name)") } }
        #expect(allowed.sorted() == ["approved>rejected", "pending>approved", "pending>rejected"])
        for version in 1...ConversionState.maxVersion {
            for status in all {
                let state = ConversionState(status: status, version: version)
                #expect(ConversionState(word: state.word, recorded: .approved) == state)
                #expect(ConversionState(word: state.word | ConversionState.busy, recorded: .pending) == state)
            }
        }
    }

    /// The generator: TRACKSTAR_WRITE_GOLDEN=1 swift test --filter GoldenTransitionTests/writeFixtures.
    @Test(.enabled(if: Golden.shouldWrite, "set TRACKSTAR_WRITE_GOLDEN=1 to regenerate the fixtures"))
    func writeFixtures() throws {
        let scratch = try Golden.scratchDirectory()
        defer { Golden.remove(scratch) }
        try SegmentDirectory.create(ShardLayout.directory(dataDir: scratch, shard: 0))
        let table = ShardLayout.conversionTable(dataDir: scratch, shard: 0)
        let txid = Array(GoldenTransitions.txid.utf8)
        let (sequence, record) = try #require(table.reserveRecord())
        let (offset, bytes) = try #require(table.reserveBytes(txid.count))
        txid.withUnsafeBytes { bytes.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        var fields = GoldenTransitions.conversion
        fields.varOffset = offset
        fields.varLength = txid.count
        ConversionRecord.write(record, fields)
        ConversionRecord.seal(record, variable: UnsafeRawBufferPointer(start: bytes, count: txid.count))
        table.publish(count: sequence + 1)
        for (time, previous, next, amount, actor, detail) in GoldenTransitions.transitions {
            let (sequence, slot) = try #require(table.reserveRecord())
            let (offset, bytes) = try #require(table.reserveBytes(1 + detail.count))
            bytes.storeBytes(of: actor.rawValue, as: UInt8.self)
            detail.withUnsafeBytes { (bytes + 1).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            TransitionRecord.write(slot, conversionID: 1, of: record, timeMillis: time, previous: previous, next: next, amount: amount,
                                   currency: fields.currency, varOffset: offset, varLength: 1 + detail.count)
            ConversionRecord.seal(slot, variable: UnsafeRawBufferPointer(start: bytes, count: 1 + detail.count))
            table.publish(count: sequence + 1)
            ConversionRecord.state(record).store(next.word, ordering: .relaxed)
        }
        try Golden.copyPrefix(of: table.path(segment: 0, bytes: false), count: 3 * table.stride,
                              to: "transitions/shard-0/conversions-000000.rec")
        try Golden.copyPrefix(of: table.path(segment: 0, bytes: true), count: Int(table.byteEnd),
                              to: "transitions/shard-0/conversions-000000.bytes")
    }
}
