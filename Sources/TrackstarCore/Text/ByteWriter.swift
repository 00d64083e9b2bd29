// A bounded writer over caller-owned memory: responses and redirect URLs are built in pre-sized
// buffers with it, so the request paths never allocate. Past the capacity it stops and remembers.

/// Appends bytes to a fixed region of memory; sets `overflowed` instead of writing past the end.
public struct ByteWriter {
    public let base: UnsafeMutableRawPointer
    public let capacity: Int
    public private(set) var count = 0
    /// True once an append did not fit; the content is then incomplete and must not be sent.
    public private(set) var overflowed = false

    @inlinable
    public init(base: UnsafeMutableRawPointer, capacity: Int) {
        self.base = base; self.capacity = capacity
    }

    /// The bytes written so far.
    public var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Reserves `n` bytes and returns where they start, or nil (and marks overflow) if they do not fit.
    @inline(__always)
    public mutating func reserve(_ n: Int) -> UnsafeMutableRawPointer? {
        guard !overflowed, n <= capacity - count else { overflowed = true; return nil }
        defer { count += n }
        return base + count
    }

    /// Moves the write position back to `position` (an earlier `count`), to patch or drop a tail.
    public mutating func truncate(to position: Int) { count = position; overflowed = false }

    @inline(__always)
    public mutating func append(_ byte: UInt8) {
        reserve(1)?.storeBytes(of: byte, as: UInt8.self)
    }

    @inline(__always)
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let dst = reserve(bytes.count), let src = bytes.baseAddress else { return }
        dst.copyMemory(from: src, byteCount: bytes.count)
    }

    @inline(__always)
    public mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends the decimal digits of `value`.
    public mutating func appendDecimal(_ value: UInt64) {
        var digits = 1
        var rest = value
        while rest >= 10 { rest /= 10; digits += 1 }
        guard let dst = reserve(digits) else { return }
        rest = value
        for i in stride(from: digits - 1, through: 0, by: -1) {
            dst.storeBytes(of: UInt8(truncatingIfNeeded: rest % 10) + 48, toByteOffset: i, as: UInt8.self)
            rest /= 10
        }
    }

    /// Appends a signed decimal.
    public mutating func appendDecimal(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude)
    }

    /// Appends micros as a decimal amount with no trailing zeros: 2_500_000 → "2.5", 4_000_000 → "4".
    public mutating func appendMicros(_ micros: Int64) {
        if micros < 0 { append(UInt8(ascii: "-")) }
        let magnitude = micros.magnitude
        appendDecimal(magnitude / 1_000_000)
        var fraction = magnitude % 1_000_000
        guard fraction != 0 else { return }
        append(UInt8(ascii: "."))
        var divisor: UInt64 = 100_000
        while fraction != 0 {
            append(UInt8(truncatingIfNeeded: fraction / divisor) + 48)
            fraction %= divisor
            divisor /= 10
        }
    }

    /// Appends `bytes` percent-encoded: everything but RFC 3986 unreserved characters becomes %XX.
    public mutating func appendPercentEncoded(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            if ByteWriter.isUnreserved(byte) {
                append(byte)
            } else {
                appendEscape(byte, prefix: UInt8(ascii: "%"))
            }
        }
    }

    /// Appends `bytes` as the inside of a JSON string (quotes not included).
    public mutating func appendJSONEscaped(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                append(UInt8(ascii: "\\")); append(byte)
            case 0..<0x20, 0x7f:
                append("\\u00"); appendHex(byte)
            default:
                append(byte)
            }
        }
    }

    @inline(__always)
    mutating func appendEscape(_ byte: UInt8, prefix: UInt8) {
        append(prefix); appendHex(byte)
    }

    @inline(__always)
    mutating func appendHex(_ byte: UInt8) {
        let hex: StaticString = "0123456789ABCDEF"
        hex.withUTF8Buffer { table in
            append(table[Int(byte >> 4)]); append(table[Int(byte & 15)])
        }
    }

    @inline(__always)
    static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
