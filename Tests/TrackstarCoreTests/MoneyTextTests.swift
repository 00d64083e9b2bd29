// Order-id trimming and the ISO 4217 table: the pure parts of issue 20's items 5 and 8.
import Testing
@testable import TrackstarCore

@Suite("order ids and currency codes")
struct MoneyTextTests {
    func trimmed(_ text: String) -> String {
        Array(text.utf8).withUnsafeBytes { String(decoding: OrderID.trimmed($0), as: UTF8.self) }
    }

    @Test(arguments: [
        "Order-77", " Order-77", "Order-77 ", "Order-77\t", "\r\nOrder-77\r\n", "\u{200B}Order-77", "Order-77\u{200B}",
        "\u{200C}Order-77\u{200D}", "\u{FEFF}Order-77", "\u{00A0}Order-77\u{00A0}", "\u{2060}\u{3000}Order-77\u{202F}",
        "\u{2028}Order-77\u{2029}\u{205F}", "\u{1680}\u{180E}Order-77\u{0085}\u{200E}\u{200F}", " \t\u{200B} \u{FEFF}Order-77 \u{200B}\t ",
    ])
    func invisibleEndsAreTrimmed(spelled: String) {
        #expect(trimmed(spelled) == "Order-77", "\(Array(spelled.unicodeScalars))")
    }

    /// The fast path (visible ASCII at both ends: nothing to trim) agrees with the general loop for
    /// every first and last byte, around a visible core and around nothing.
    @Test func fastPathAgreesWithTheLoop() {
        for first in 0...255 {
            for last in [0x00, 0x09, 0x20, 0x21, 0x41, 0x7E, 0x7F, 0x80, 0x85, 0xA0, 0xBF, 0xC2, 0xE2, 0xEF, 0xFF] {
                for core: [UInt8] in [[], Array("x".utf8), Array("Order-77".utf8), [0xE2, 0x80, 0x8B]] {
                    let bytes = [UInt8(first)] + core + [UInt8(last)]
                    bytes.withUnsafeBytes { raw in
                        let fast = OrderID.trimmed(raw), slow = OrderID.trimmedSlowly(raw)
                        #expect(fast.baseAddress == slow.baseAddress && fast.count == slow.count, "\(bytes)")
                    }
                }
            }
        }
    }

    @Test func insideAndCaseAreKept() {
        #expect(trimmed("Order 77") == "Order 77")
        #expect(trimmed("Order\u{200B}77") == "Order\u{200B}77")
        #expect(trimmed(" order-77 ") == "order-77")
        #expect(trimmed("  \u{200B} ") == "")
        #expect(trimmed("") == "")
        #expect(trimmed("é") == "é")                  // C3 A9: not white space
        #expect(trimmed("x\u{2030}") == "x\u{2030}")  // E2 80 B0 (per mille) is visible
        #expect(trimmed("\u{00A1}x") == "\u{00A1}x")  // C2 A1 is visible
    }

    @Test func iso4217() {
        for code in ["EUR", "USD", "JPY", "GBP", "CHF", "XAU", "ZWG", "XCG", "SLE"] { #expect(ISO4217.contains(code), "\(code)") }
        for code in ["XYZ", "ABC", "XXX", "XTS", "HRK", "usd", "EU", "EURO", ""] { #expect(!ISO4217.contains(code), "\(code)") }
    }
}
