// Order-id trimming and the ISO 4217 table: the pure parts of issue 20's items 5 and 8.
import Testing
import TrackstarCore

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
