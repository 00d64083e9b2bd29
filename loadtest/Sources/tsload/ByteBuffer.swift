// A fixed-capacity byte buffer over raw memory: requests are assembled in it and written with one call.

/// Raw bytes with a fill count. The owner allocates and frees `base`; appends never grow it, so callers
/// check `room` before appending a request.
struct ByteBuffer {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(byteCount: capacity, alignment: 16)
    }

    /// Frees the memory; the buffer must not be used afterwards.
    func free() { base.deallocate() }

    var room: Int { capacity - count }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawPointer, _ length: Int) {
        (base + count).copyMemory(from: bytes, byteCount: length)
        count += length
    }

    @inline(__always)
    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0.baseAddress!, $0.count) }
    }

    @inline(__always)
    mutating func append(byte: UInt8) {
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Appends `value` in decimal.
    mutating func appendDecimal(_ value: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, filled from the end
        withUnsafeMutableBytes(of: &digits) { scratch in
            var v = UInt64(value)
            var i = scratch.count
            repeat {
                i -= 1
                scratch[i] = UInt8(truncatingIfNeeded: 48 &+ v % 10)
                v /= 10
            } while v > 0
            append(scratch.baseAddress! + i, scratch.count - i)
        }
    }

    /// Drops the first `length` bytes, moving the rest to the front.
    mutating func consume(_ length: Int) {
        if length < count { base.copyMemory(from: base + length, byteCount: count - length) }
        count -= length
    }
}
