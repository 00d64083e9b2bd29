// A bounded writer over caller-owned memory: responses and redirect URLs are built in pre-sized
// buffers with it, so the request paths never allocate. Past the capacity it stops and remembers.

/// Appends bytes to a fixed region of memory; sets `overflowed` instead of writing past the end.
public struct ByteWriter {
    public let base: UnsafeMutableRawPointer
    public let capacity: Int
    // Stored under other names so the inlinable appends below can set them; `count` and
    // `overflowed` stay read-only outside.
    @usableFromInline var written_: Int = 0
    @usableFromInline var overflowed_ = false
    /// Bytes written so far.
    public var count: Int { written_ }
    /// True once an append did not fit; the content is then incomplete and must not be sent.
    public var overflowed: Bool { overflowed_ }

    @inlinable
    public init(base: UnsafeMutableRawPointer, capacity: Int) {
        self.base = base; self.capacity = capacity
    }

    /// The bytes written so far.
    public var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    // The appends are inlinable: callgrind showed each response making a dozen or more calls to
    // them from other modules, at ~15 instructions of call overhead each.

    /// Reserves `n` bytes and returns where they start, or nil (and marks overflow) if they do not fit.
    @inlinable @inline(__always)
    public mutating func reserve(_ n: Int) -> UnsafeMutableRawPointer? {
        guard !overflowed_, n <= capacity - written_ else { overflowed_ = true; return nil }
        defer { written_ += n }
        return base + written_
    }

    /// Moves the write position back to `position` (an earlier `count`), to patch or drop a tail.
    public mutating func truncate(to position: Int) { written_ = position; overflowed_ = false }

    @inlinable @inline(__always)
    public mutating func append(_ byte: UInt8) {
        reserve(1)?.storeBytes(of: byte, as: UInt8.self)
    }

    @inlinable @inline(__always)
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let dst = reserve(bytes.count), let src = bytes.baseAddress else { return }
        dst.copyMemory(from: src, byteCount: bytes.count)
    }

    @inlinable @inline(__always)
    public mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends the decimal digits of `value`.
    public mutating func appendDecimal(_ value: UInt64) {
        // The digit count from comparisons, then one division per digit (not two).
        var digits = 1
        var power: UInt64 = 10
        while digits < 20 && value >= power { digits += 1; power = power &* 10 }
        guard let dst = reserve(digits) else { return }
        var rest = value
        var i = digits - 1
        while i > 0 {
            let quotient = rest / 10
            dst.storeBytes(of: UInt8(truncatingIfNeeded: rest &- quotient &* 10) &+ 48, toByteOffset: i, as: UInt8.self)
            rest = quotient
            i -= 1
        }
        dst.storeBytes(of: UInt8(truncatingIfNeeded: rest) &+ 48, as: UInt8.self)
    }

    /// Appends a signed decimal.
    public mutating func appendDecimal(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude)
    }

    /// The one money formatter: appends micros as a decimal amount with no trailing zeros beyond
    /// `minimumFractionDigits` (at most 6): 2_500_000 → "2.5", 4_000_000 → "4"; with 2, "2.50" and
    /// "4.00", and 1_234_567 → "1.234567" either way. `MoneyText` gives it to String-building code.
    public mutating func appendMicros(_ micros: Int64, minimumFractionDigits: Int = 0) {
        if micros < 0 { append(UInt8(ascii: "-")) }
        let magnitude = micros.magnitude
        appendDecimal(magnitude / 1_000_000)
        var fraction = magnitude % 1_000_000
        var digitsLeft = min(minimumFractionDigits, 6)
        guard fraction != 0 || digitsLeft > 0 else { return }
        append(UInt8(ascii: "."))
        var divisor: UInt64 = 100_000
        while fraction != 0 || digitsLeft > 0 {
            append(UInt8(truncatingIfNeeded: fraction / divisor) + 48)
            fraction %= divisor
            divisor /= 10
            digitsLeft -= 1
        }
    }

    /// Appends `bytes` percent-encoded: everything but RFC 3986 unreserved characters becomes %XX.
    public mutating func appendPercentEncoded(_ bytes: UnsafeRawBufferPointer) {
        appendEscaping(bytes, keep: ByteWriter.isUnreserved)
    }

    /// Appends a value for a `{raw:NAME}` partner macro: printable ASCII passes as it is (so an id the
    /// partner gave already percent-encoded arrives unchanged), but the bytes that change a URL's
    /// structure (`&`, `=`, `#`, `?`, `+`, space), control bytes, DEL and non-ASCII become %XX, so a
    /// shopper's value can never add parameters to the partner's URL.
    public mutating func appendRawURLValue(_ bytes: UnsafeRawBufferPointer) {
        appendEscaping(bytes, keep: ByteWriter.isRawURLSafe)
    }

    /// The one percent-encoder: bytes `keep` accepts are copied, the others written as %XX.
    @inline(__always)
    mutating func appendEscaping(_ bytes: UnsafeRawBufferPointer, keep: (UInt8) -> Bool) {
        // With room for the worst case (3 bytes a byte), write through one pointer and check nothing
        // per byte; otherwise byte by byte, which stops exactly where the room ends.
        guard !overflowed_, bytes.count <= (capacity - written_) / 3 else { return appendEscapingSlowly(bytes, keep: keep) }
        var p = base + written_
        for byte in bytes {
            if keep(byte) {
                p.storeBytes(of: byte, as: UInt8.self)
                p += 1
            } else {
                p.storeBytes(of: UInt8(ascii: "%"), as: UInt8.self)
                ByteWriter.storeHex(byte, at: p + 1)
                p += 3
            }
        }
        written_ = p - base
    }

    @inline(__always)
    mutating func appendEscapingSlowly(_ bytes: UnsafeRawBufferPointer, keep: (UInt8) -> Bool) {
        for byte in bytes {
            if keep(byte) { append(byte) } else { appendEscape(byte, prefix: UInt8(ascii: "%")) }
        }
    }

    /// The byte-by-byte path alone (the tests compare it with the fast one).
    mutating func appendPercentEncodedSlowly(_ bytes: UnsafeRawBufferPointer) {
        appendEscapingSlowly(bytes, keep: ByteWriter.isUnreserved)
    }

    /// Appends `bytes` as the inside of a JSON string (quotes not included).
    public mutating func appendJSONEscaped(_ bytes: UnsafeRawBufferPointer) {
        // Most values (click IDs, event names) need no escape: one check eight bytes a step, one copy.
        // (Only when it fits: a value that does not is written byte by byte up to the end, as always.)
        if !overflowed_, bytes.count <= capacity - written_, !ByteWriter.needsJSONEscape(bytes) { return append(bytes) }
        // As above, with room for the worst case (6 bytes a byte).
        guard !overflowed_, bytes.count <= (capacity - written_) / 6 else { return appendJSONEscapedSlowly(bytes) }
        var p = base + written_
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                p.storeBytes(of: UInt8(ascii: "\\"), as: UInt8.self)
                p.storeBytes(of: byte, toByteOffset: 1, as: UInt8.self)
                p += 2
            case 0..<0x20, 0x7f:
                p.copyMemory(from: ByteWriter.unicodeEscapePrefix.utf8Start, byteCount: 4)
                ByteWriter.storeHex(byte, at: p + 4)
                p += 6
            default:
                p.storeBytes(of: byte, as: UInt8.self)
                p += 1
            }
        }
        written_ = p - base
    }

    mutating func appendJSONEscapedSlowly(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                append(UInt8(ascii: "\\")); append(byte)
            case 0..<0x20, 0x7f:
                append(ByteWriter.unicodeEscapePrefix); appendHex(byte)
            default:
                append(byte)
            }
        }
    }

    static var unicodeEscapePrefix: StaticString { "\\u00" }

    /// True when some byte is a control byte, DEL, '"' or '\\'.
    static func needsJSONEscape(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i + 8 <= bytes.count {
            if wordNeedsJSONEscape(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { return true }
            i += 8
        }
        while i < bytes.count {
            let b = bytes[i]
            if b < 0x20 || b == 0x7F || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { return true }
            i += 1
        }
        return false
    }

    /// True when one of the eight bytes of `word` is a control byte, DEL, '"' or '\\' (the check of
    /// `needsJSONEscape`, and of the exporter's click blocks, eight bytes a step).
    @inlinable @inline(__always)
    public static func wordNeedsJSONEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, high: UInt64 = 0x8080_8080_8080_8080, low = ones &* 0x7F
        // Bit 7 of each byte of `(x & 0x7F) + 0x7F | x` is clear exactly where x is zero (no carries).
        @inline(__always) func nonzero(_ x: UInt64) -> UInt64 { ((x & low) &+ low) | x }
        // Below 0x20: bit 7 clear after adding 0x60 to the low seven bits, for bytes under 0x80.
        let control = ~(((word & low) &+ ones &* 0x60) | word) & high
        let special = ~(nonzero(word ^ ones &* 0x7F) & nonzero(word ^ ones &* 0x22) & nonzero(word ^ ones &* 0x5C)) & high
        return control | special != 0
    }

    /// Writes the two upper-case hex digits of `byte` at `p`.
    @inline(__always)
    static func storeHex(_ byte: UInt8, at p: UnsafeMutableRawPointer) {
        let hex = UnsafeRawPointer(StaticString("0123456789ABCDEF").utf8Start)
        p.storeBytes(of: hex.load(fromByteOffset: Int(byte >> 4), as: UInt8.self), as: UInt8.self)
        p.storeBytes(of: hex.load(fromByteOffset: Int(byte & 15), as: UInt8.self), toByteOffset: 1, as: UInt8.self)
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

    /// Bytes a `{raw:NAME}` value keeps: printable ASCII except the ones that end or split a query
    /// parameter (`&`, `=`, `+`), start a query or fragment (`?`, `#`), and space.
    @inline(__always)
    public static func isRawURLSafe(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "&"), UInt8(ascii: "="), UInt8(ascii: "#"), UInt8(ascii: "?"), UInt8(ascii: "+"): false
        default: b > 0x20 && b < 0x7F
        }
    }

    /// RFC 3986 unreserved characters: the bytes percent-encoding leaves as they are.
    @inline(__always)
    public static func isUnreserved(_ b: UInt8) -> Bool {
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

extension ByteWriter {
    /// A table of every two-digit string over `alphabet` (its length the radix), two bytes each, the
    /// first digit first: entry v is `alphabet[v / radix]`, `alphabet[v % radix]`. Allocated once by its
    /// user (a `static let`) and never freed; writers take two digits a step from it.
    public static func digitPairs(_ alphabet: StaticString) -> UnsafeRawPointer {
        let radix = alphabet.utf8CodeUnitCount, digits = UnsafeRawPointer(alphabet.utf8Start)
        let table = UnsafeMutableRawPointer.allocate(byteCount: 2 * radix * radix, alignment: 2)
        for value in 0..<radix * radix {
            table.storeBytes(of: digits.load(fromByteOffset: value / radix, as: UInt8.self), toByteOffset: 2 * value, as: UInt8.self)
            table.storeBytes(of: digits.load(fromByteOffset: value % radix, as: UInt8.self), toByteOffset: 2 * value + 1, as: UInt8.self)
        }
        return UnsafeRawPointer(table)
    }
}
