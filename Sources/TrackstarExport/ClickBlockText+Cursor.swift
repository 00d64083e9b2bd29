// The write position of a click block's text (ClickBlockText.swift): plain stores into room the
// buffer made for the click's worst case beforehand, so no write checks a bound. Numbers go out two
// digits a step from a table, short texts as one or two overlapping loads, and separators with the
// quote that follows them as one 16-bit store.
import TrackstarCore
import TrackstarStore

/// A position in reserved memory (exporter thread only). Every method writes at `p` and moves it on;
/// the caller guarantees the room (`ClickBlockText.worstCase`).
struct BlockCursor {
    var p: UnsafeMutableRawPointer
    /// "00" … "99", two bytes each (`ClickBlockText.digitPairs`).
    let pairs: UnsafeRawPointer

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        p.storeBytes(of: b, as: UInt8.self)
        p += 1
    }

    /// Two bytes in one store.
    @inline(__always)
    mutating func two(_ a: UInt8, _ b: UInt8) {
        p.storeBytes(of: UInt16(a) | UInt16(b) << 8, as: UInt16.self)
        p += 2
    }

    @inline(__always)
    mutating func bytes(_ source: UnsafeRawPointer, _ n: Int) {
        p.copyMemory(from: source, byteCount: n)
        p += n
    }

    /// The decimal digits of `value`: the count from its bit length (×1233/4096 is log10 2 from below,
    /// then one comparison), then two digits a step from the right.
    @inline(__always)
    mutating func decimal(_ value: UInt64) {
        if value < 10 { byte(UInt8(truncatingIfNeeded: value) &+ 48); return }
        let guess = ((64 - value.leadingZeroBitCount) &* 1233) >> 12
        let digits = value >= BlockCursor.power(guess) ? guess + 1 : guess
        var at = p + digits, rest = value
        while rest >= 100 {
            let quotient = rest / 100
            at -= 2
            at.storeBytes(of: pairs.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: rest &- quotient &* 100) &* 2, as: UInt16.self),
                          as: UInt16.self)
            rest = quotient
        }
        if rest >= 10 {
            (at - 2).storeBytes(of: pairs.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: rest) &* 2, as: UInt16.self), as: UInt16.self)
        } else {
            (at - 1).storeBytes(of: UInt8(truncatingIfNeeded: rest) &+ 48, as: UInt8.self)
        }
        p += digits
    }

    /// `value` in decimal, with a minus sign when negative.
    @inline(__always)
    mutating func signed(_ value: Int64) {
        if value < 0 { byte(UInt8(ascii: "-")) }
        decimal(value.magnitude)
    }

    /// 10^n for n in 1...19 (a switch compiles to a table; a global array would be a lazy-init call per access).
    @inline(__always)
    static func power(_ n: Int) -> UInt64 {
        var result: UInt64 = 10
        switch n {
        case 1: result = 10
        case 2: result = 100
        case 3: result = 1_000
        case 4: result = 10_000
        case 5: result = 100_000
        case 6: result = 1_000_000
        case 7: result = 10_000_000
        case 8: result = 100_000_000
        case 9: result = 1_000_000_000
        case 10: result = 10_000_000_000
        case 11: result = 100_000_000_000
        case 12: result = 1_000_000_000_000
        case 13: result = 10_000_000_000_000
        case 14: result = 100_000_000_000_000
        case 15: result = 1_000_000_000_000_000
        case 16: result = 10_000_000_000_000_000
        case 17: result = 100_000_000_000_000_000
        case 18: result = 1_000_000_000_000_000_000
        default: result = 10_000_000_000_000_000_000
        }
        return result
    }

    /// `,"text"` with JSON escapes. A text of eight or more bytes is checked and copied eight bytes a
    /// step, its last few as the eight ending it (rewriting some already copied, unchanged); a shorter
    /// one as two overlapping loads of 4 or 2 bytes (or one byte), so every byte loaded is the text's
    /// and the 8-byte check (`ByteWriter.wordNeedsJSONEscape`) sees each of them. Only a text with a
    /// byte to escape goes through `ByteWriter.appendJSONEscaped`, from the step that found it on.
    @inline(__always)
    mutating func string(_ text: UnsafeRawBufferPointer) {
        two(UInt8(ascii: ","), UInt8(ascii: "\""))
        let n = text.count
        if n > 0, let source = text.baseAddress {
            var i = 0
            if n >= 8 {
                while i + 8 <= n {
                    let word = source.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                    if ByteWriter.wordNeedsJSONEscape(word) { break }
                    p.storeBytes(of: word, toByteOffset: i, as: UInt64.self)
                    i += 8
                }
                if i < n && (i + 8 > n) {
                    let word = source.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
                    if !ByteWriter.wordNeedsJSONEscape(word) { p.storeBytes(of: word, toByteOffset: n - 8, as: UInt64.self); i = n }
                }
            } else if n >= 4 {
                let low = source.loadUnaligned(as: UInt32.self), high = source.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
                if !ByteWriter.wordNeedsJSONEscape(UInt64(low) | UInt64(high) << 32) {
                    p.storeBytes(of: low, as: UInt32.self); p.storeBytes(of: high, toByteOffset: n - 4, as: UInt32.self)
                    i = n
                }
            } else if n >= 2 {
                let low = source.loadUnaligned(as: UInt16.self), high = source.loadUnaligned(fromByteOffset: n - 2, as: UInt16.self)
                let both = UInt64(low) | UInt64(high) << 16
                if !ByteWriter.wordNeedsJSONEscape(both | both << 32) {
                    p.storeBytes(of: low, as: UInt16.self); p.storeBytes(of: high, toByteOffset: n - 2, as: UInt16.self)
                    i = n
                }
            } else {
                let b = source.load(as: UInt8.self)
                if !ByteWriter.wordNeedsJSONEscape(UInt64(b) &* 0x0101_0101_0101_0101) { p.storeBytes(of: b, as: UInt8.self); i = n }
            }
            p += i
            if i < n {  // the rest the careful way (room: 6 bytes a byte, reserved)
                var w = ByteWriter(base: p, capacity: (n - i) * 6)
                w.appendJSONEscaped(UnsafeRawBufferPointer(rebasing: text[i...]))
                p += w.count
            }
        }
        byte(UInt8(ascii: "\""))
    }

    /// An address's text (`RowText.format`'s): IPv4 here, an octet at most two steps from the digit
    /// table; the unknown address as nothing; IPv6 through `RowText.format` (`inet_ntop`).
    @inline(__always)
    mutating func address(_ peer: (high: UInt64, low: UInt64)) {
        guard peer.high == 0 && peer.low >> 32 == 0xffff else {
            p += RowText.format(peer, into: UnsafeMutableRawBufferPointer(start: p, count: 48))
            return
        }
        octet(UInt8(truncatingIfNeeded: peer.low >> 24)); byte(UInt8(ascii: "."))
        octet(UInt8(truncatingIfNeeded: peer.low >> 16)); byte(UInt8(ascii: "."))
        octet(UInt8(truncatingIfNeeded: peer.low >> 8)); byte(UInt8(ascii: "."))
        octet(UInt8(truncatingIfNeeded: peer.low))
    }

    @inline(__always)
    mutating func octet(_ value: UInt8) {
        if value >= 100 {
            let hundreds = value / 100
            byte(hundreds &+ 48)
            p.storeBytes(of: pairs.loadUnaligned(fromByteOffset: Int(value &- hundreds &* 100) &* 2, as: UInt16.self), as: UInt16.self)
            p += 2
        } else if value >= 10 {
            p.storeBytes(of: pairs.loadUnaligned(fromByteOffset: Int(value) &* 2, as: UInt16.self), as: UInt16.self)
            p += 2
        } else {
            byte(value &+ 48)
        }
    }

    /// `,"name"` for a static name (none needs an escape).
    @inline(__always)
    mutating func name(_ text: StaticString) {
        two(UInt8(ascii: ","), UInt8(ascii: "\""))
        let n = text.utf8CodeUnitCount
        if n > 0 { bytes(UnsafeRawPointer(text.utf8Start), n) }
        byte(UInt8(ascii: "\""))
    }
}
