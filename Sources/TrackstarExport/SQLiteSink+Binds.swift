// Binding the SQLite sink's multi-row inserts (conversions, refusals) without redoing what a parameter
// already holds. SQLite keeps a statement's bindings across `sqlite3_reset`, and a text bound
// `SQLITE_STATIC` is read from its memory when the statement steps, so binding the same address and
// length again (or the same integer) changes nothing: `CachedBinds` skips it. Callgrind
// (`ExportFigures`): a conversion made 33 bind calls at ~180 instructions each; the empty subs, static
// names, interned event, scratch click ID and currencies, and repeated integers are now skipped.
import CSQLite
import TrackstarCore
import TrackstarStore

/// A statement's bindings as last made through it, one slot per parameter. Exporter thread only;
/// every bind of the statement must go through it (a bind made around it would not be seen).
final class CachedBinds {
    let statement: SQLiteStatement
    private let handle: OpaquePointer
    /// Per parameter (index 1…count): the kind bound (0 unknown, 1 static text, 2 integer, 3 NULL),
    /// the text's address, and the text's length or the integer.
    private let kinds: UnsafeMutablePointer<UInt8>
    private let addresses: UnsafeMutablePointer<UnsafeRawPointer?>
    private let values: UnsafeMutablePointer<Int64>
    private let count: Int

    init(_ statement: SQLiteStatement) {
        self.statement = statement
        handle = statement.handle
        count = Int(sqlite3_bind_parameter_count(statement.handle)) + 1
        kinds = .allocate(capacity: count); kinds.initialize(repeating: 0, count: count)
        addresses = .allocate(capacity: count); addresses.initialize(repeating: nil, count: count)
        values = .allocate(capacity: count); values.initialize(repeating: 0, count: count)
    }

    deinit { kinds.deallocate(); addresses.deallocate(); values.deallocate() }

    /// Binds bytes as TEXT without copying them (the memory must hold them until the statement has run).
    @inline(__always)
    func text(_ index: Int32, _ bytes: UnsafeRawBufferPointer) {
        let start = bytes.count > 0 ? UnsafeRawPointer(bytes.baseAddress!) : UnsafeRawPointer(SQLiteStatement.empty.utf8Start)
        let i = Int(index)
        if kinds[i] == 1 && addresses[i] == start && values[i] == Int64(bytes.count) { return }
        sqlite3_bind_text(handle, index, start.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil)
        kinds[i] = 1; addresses[i] = start; values[i] = Int64(bytes.count)
    }

    @inline(__always)
    func text(_ index: Int32, _ name: StaticString) {
        text(index, UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    /// Binds bytes as TEXT, copied by SQLite (for memory that goes away before the statement runs).
    func copy(_ index: Int32, _ bytes: UnsafeRawBufferPointer) {
        statement.bindCopy(index, bytes)
        kinds[Int(index)] = 0
    }

    @inline(__always)
    func int(_ index: Int32, _ value: Int64) {
        let i = Int(index)
        if kinds[i] == 2 && values[i] == value { return }
        sqlite3_bind_int64(handle, index, value)
        kinds[i] = 2; values[i] = value
    }

    @inline(__always)
    func int(_ index: Int32, _ value: Int64?) {
        guard let value else {
            if kinds[Int(index)] == 3 { return }
            sqlite3_bind_null(handle, index)
            kinds[Int(index)] = 3
            return
        }
        int(index, value)
    }
}

extension SQLiteSink {
    /// Binds a conversion's row. No String is made: the click ID is written into `scratch` (which holds
    /// 64 bytes and outlives the statement's run), with the currencies and the country; `event` is the name.
    static func bind(_ row: ConversionRow, event: UnsafeRawBufferPointer, _ source: ExportSource, _ st: CachedBinds, _ base: Int32,
                     scratch: UnsafeMutableRawPointer) {
        let clickShard = Int(row.clickRef >> 40), clickSequence = row.clickRef & ClickID.maxSequence
        st.int(base + 1, Int64(row.conversionID)); st.int(base + 2, Int64(row.clickRef))
        if row.clickTimeMillis == 0 {
            st.text(base + 3, SQLiteStatement.empty)
        } else if source.writeClickID(shard: clickShard, sequence: clickSequence, mintMillis: row.clickTimeMillis,
                                      into: scratch.assumingMemoryBound(to: UInt8.self)) {
            st.text(base + 3, UnsafeRawBufferPointer(start: scratch, count: ClickID.textLength))
        } else {  // a source without a writer (tests): a String's bytes, copied by SQLite
            source.withClickID(shard: clickShard, sequence: clickSequence, mintMillis: row.clickTimeMillis) { st.copy(base + 3, $0) }
        }
        st.int(base + 4, row.clickTimeMillis); st.int(base + 5, row.timeMillis)
        st.int(base + 6, Int64(row.offerID)); st.int(base + 7, Int64(row.affID))
        let click = row.click
        st.text(base + 8, click.sub1); st.text(base + 9, click.sub2); st.text(base + 10, click.sub3)
        st.text(base + 11, click.sub4); st.text(base + 12, click.sub5); st.text(base + 13, click.affClickID)
        st.text(base + 14, click.source)
        st.text(base + 15, event); st.int(base + 16, Int64(row.eventIndex))
        st.text(base + 17, row.status.name); st.int(base + 18, row.amount)
        st.int(base + 19, row.payout); st.int(base + 20, row.revenue)
        SQLiteSink.bindCurrency(row.currency, st, base + 21, scratch + 32)
        st.text(base + 22, row.txid)
        SQLiteSink.bindCurrency(row.amountCurrency, st, base + 23, scratch + 36)
        st.int(base + 24, Int64(row.version))
        st.text(base + 25, row.extras)
        // The click's columns `EnrichmentColumns.conversions`, in order (the country from the scratch slot).
        let head = row.clickEnrichment, tail = row.clickEnrichmentTail
        (scratch + 40).storeBytes(of: head.country.littleEndian, as: UInt16.self)
        st.text(base + 26, UnsafeRawBufferPointer(start: scratch + 40, count: head.country == 0 ? 0 : 2))
        st.int(base + 27, Int64(tail.asn)); st.text(base + 28, head.device.name)
        st.text(base + 29, tail.os); st.text(base + 30, tail.browser)
        st.text(base + 31, tail.traffic.reason.name); st.int(base + 32, Int64(tail.traffic.smartlink))
    }

    /// Three currency letters ('' when unset), copied to `at` and bound from there.
    static func bindCurrency(_ c: (UInt8, UInt8, UInt8), _ st: CachedBinds, _ index: Int32, _ at: UnsafeMutableRawPointer) {
        at.storeBytes(of: c.0, toByteOffset: 0, as: UInt8.self); at.storeBytes(of: c.1, toByteOffset: 1, as: UInt8.self)
        at.storeBytes(of: c.2, toByteOffset: 2, as: UInt8.self)
        st.text(index, UnsafeRawBufferPointer(start: at, count: c.0 == 0 ? 0 : 3))
    }

    static func bind(_ row: RefusalRow, _ st: CachedBinds, _ base: Int32) {
        st.int(base + 1, Int64(row.ref)); st.int(base + 2, row.timeMillis); st.text(base + 3, row.reason.name)
        st.int(base + 4, Int64(row.httpStatus)); st.int(base + 5, Int64(row.offerID)); st.int(base + 6, Int64(row.affID))
        st.text(base + 7, row.params)
    }
}
