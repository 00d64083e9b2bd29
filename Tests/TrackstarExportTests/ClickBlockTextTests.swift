// The click block's unchecked writer (`BlockCursor`) writes what the checked writers write: numbers
// as `ByteWriter.appendDecimal`, addresses as `RowText.format`, texts as `appendJSONEscaped`.
import Testing
import TrackstarCore
import TrackstarStore
@testable import TrackstarExport
import TrackstarTestSupport

@Suite struct ClickBlockTextTests {
    /// Runs `write` on a cursor and `expected` on a ByteWriter over two buffers; returns both texts.
    static func both(_ write: (inout BlockCursor) -> Void, _ expected: (inout ByteWriter) -> Void) -> (String, String) {
        let out = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
        let reference = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
        defer { out.deallocate(); reference.deallocate() }
        var c = BlockCursor(p: out, pairs: ClickBlockText.digitPairs)
        write(&c)
        var w = ByteWriter(base: reference, capacity: 4096)
        expected(&w)
        return (String(decoding: UnsafeRawBufferPointer(start: out, count: c.p - out), as: UTF8.self),
                String(decoding: w.written, as: UTF8.self))
    }

    /// Every digit count and its edges (10^n - 1, 10^n, 10^n + 1), the largest value, and random ones.
    @Test func decimalsAreAppendDecimals() {
        var values: [UInt64] = [0, 1, 9, 10, 11, 99, 100, 101, UInt64.max, UInt64.max - 1, 1_767_225_600_000, 1 << 40 | 12_345]
        var power: UInt64 = 10
        for _ in 1...19 {
            values += [power - 1, power, power + 1]
            if power <= UInt64.max / 10 { power *= 10 }
        }
        var random = SplitMix64(state: 19)
        for _ in 0..<2000 { values.append(random.next() >> (random.next() % 64)) }
        for value in values {
            let (got, expected) = ClickBlockTextTests.both({ $0.decimal(value) }, { $0.appendDecimal(value) })
            #expect(got == expected, "\(value)")
        }
    }

    /// IPv4 with every octet value in every position, the unknown address, and IPv6.
    @Test func addressesAreRowTextFormats() {
        var peers: [(high: UInt64, low: UInt64)] = [(0, 0), (0x2001_0db8_0000_0000, 1), (0, 1), (0xfe80_0000_0000_0000, 0xffff_c000_0207)]
        for octet in UInt64(0)...255 {
            peers.append((0, 0xffff_0000_0000 | octet << 24 | (255 - octet) << 16 | octet % 10 << 8 | (octet * 7) % 256))
        }
        for peer in peers {
            let (got, expected) = ClickBlockTextTests.both({ $0.address(peer) }, { w in RowText.withIP(peer) { w.append($0) } })
            #expect(got == expected, "\(peer)")
        }
    }

    /// Texts of 0–24 bytes, with a byte to escape (or a high byte) at every position or none.
    @Test func textsAreEscapedAsTheEscaperDoes() {
        for length in 0...24 {
            for at in -1..<length {
                for special: UInt8 in [0x22, 0x5C, 0x01, 0x7F, 0x1F, 0x00, 0xC3] {
                    var text = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
                    if at >= 0 { text[at] = special }
                    text.withUnsafeBytes { bytes in
                        let (got, expected) = ClickBlockTextTests.both({ $0.string(bytes) }, { w in
                            w.append(",\""); w.appendJSONEscaped(bytes); w.append(UInt8(ascii: "\""))
                        })
                        #expect(got == expected, "\(length) \(at) \(special)")
                    }
                }
            }
        }
    }
}
