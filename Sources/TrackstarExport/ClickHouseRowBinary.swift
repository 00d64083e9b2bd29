// ClickHouse's RowBinary format written into one raw buffer that a sink keeps from batch to batch:
// little-endian integers, strings as a LEB128 length and their bytes, copied straight from the views
// the rows hold into the mapped logs. Growing is the only allocation, and it stops once the buffer
// has reached the size of the largest insert (`[export] batch_bytes` plus one row).

/// A reusable RowBinary buffer. Invariants: `base` holds `capacity` bytes, of which the first `count`
/// are written; every put first makes room, so no write passes `capacity`. Exporter thread only.
final class RowBinary {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Bytes written since the last `removeAll()`.
    private(set) var count = 0

    init(capacity: Int = 1 << 16) {
        self.capacity = max(capacity, 64)
        base = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    /// The bytes written.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    var isEmpty: Bool { count == 0 }

    /// Forgets the bytes, keeping the memory for the next batch.
    func removeAll() { count = 0 }

    /// The address of `n` free bytes at the end (growing by doubling when short).
    @inline(__always)
    private func room(_ n: Int) -> UnsafeMutableRawPointer {
        if count + n > capacity { grow(to: count + n) }
        return base + count
    }

    private func grow(to needed: Int) {
        var size = capacity
        while size < needed { size *= 2 }
        let larger = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        larger.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = larger
        capacity = size
    }

    func uint8(_ v: UInt8) { room(1).storeBytes(of: v, as: UInt8.self); count += 1 }
    func uint16(_ v: UInt16) { room(2).storeBytes(of: v.littleEndian, as: UInt16.self); count += 2 }  // unaligned stores: fine on x86/arm64
    func uint32(_ v: UInt32) { room(4).storeBytes(of: v.littleEndian, as: UInt32.self); count += 4 }
    func uint64(_ v: UInt64) { room(8).storeBytes(of: v.littleEndian, as: UInt64.self); count += 8 }
    func int64(_ v: Int64) { uint64(UInt64(bitPattern: v)) }
    /// DateTime: Unix seconds as UInt32.
    func dateTime(_ millis: Int64) { uint32(UInt32(clamping: max(0, millis / 1000))) }

    /// A string's length (LEB128; one byte below 128, the common case).
    func length(_ n: Int) {
        if n < 0x80 { uint8(UInt8(truncatingIfNeeded: n)); return }
        let p = room(10)
        var v = UInt(n), at = 0
        while v >= 0x80 { p.storeBytes(of: UInt8(truncatingIfNeeded: v & 0x7f) | 0x80, toByteOffset: at, as: UInt8.self); v >>= 7; at += 1 }
        p.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: at, as: UInt8.self)
        count += at + 1
    }

    /// A string from bytes in place (a field of a mapped record, a scratch buffer).
    func string(_ raw: UnsafeRawBufferPointer) {
        let n = raw.count
        guard n > 0, let source = raw.baseAddress else { uint8(0); return }
        let p = room(n + 10)  // one reservation for the length and the bytes
        if n < 0x80 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: n), as: UInt8.self)
            (p + 1).copyMemory(from: source, byteCount: n)
            count += n + 1
        } else {
            length(n)
            (base + count).copyMemory(from: source, byteCount: n)
            count += n
        }
    }

    func string(_ text: StaticString) {
        string(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// A string from a Swift String (for the rare rows that have one: transitions' details).
    func string(_ text: String) {
        var text = text
        text.withUTF8 { string(UnsafeRawBufferPointer($0)) }
    }

    /// A string of at most `limit` (< 128) bytes written in place by `body`, which returns how many
    /// it wrote (a click ID's text, an address): no temporary buffer, no copy.
    func shortString(limit: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        precondition(limit < 0x80, "a short string's length is one byte")
        let p = room(limit + 1)
        let n = min(limit, max(0, body(UnsafeMutableRawBufferPointer(start: p + 1, count: limit))))
        p.storeBytes(of: UInt8(truncatingIfNeeded: n), as: UInt8.self)
        count += n + 1
    }
}
