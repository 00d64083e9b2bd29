// The ISO 4217 currency codes a postback's `currency` and an offer's `currency` may name. Three
// letters alone are not enough: `XYZ` or a typo must be refused, not stored as money.

/// Membership in ISO 4217's list of currency codes, answered from a bit per three-letter combination.
public enum ISO4217 {
    /// Active codes of ISO 4217 (list one, as published by SIX, 2025), including the fund and
    /// precious-metal codes and the recent ZWG (2024) and XCG (2025); without `XTS` (reserved for
    /// testing) and `XXX` ("no currency"), which name no money a conversion could be paid in.
    public static let codes: StaticString = """
        AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP \
        BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR \
        FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES \
        KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR \
        MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF \
        SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS \
        UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF \
        XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL
        """

    /// One bit per combination of three letters A–Z (26³ bits), built once from `codes`.
    static let table: [UInt64] = {
        var bits = [UInt64](repeating: 0, count: (26 * 26 * 26 + 63) / 64)
        let text = UnsafeRawBufferPointer(start: codes.utf8Start, count: codes.utf8CodeUnitCount)
        var i = 0
        while i + 3 <= text.count {
            if let n = number(text[i], text[i + 1], text[i + 2]) { bits[n >> 6] |= 1 << UInt64(n & 63) }
            i += 4
        }
        return bits
    }()

    /// The index of three upper-case letters, or nil.
    @inline(__always)
    static func number(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> Int? {
        guard (65...90).contains(a), (65...90).contains(b), (65...90).contains(c) else { return nil }
        return (Int(a) - 65) * 676 + (Int(b) - 65) * 26 + (Int(c) - 65)
    }

    /// Whether the three upper-case letters are an ISO 4217 code.
    public static func contains(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> Bool {
        guard let n = number(a, b, c) else { return false }
        return table[n >> 6] & (1 << UInt64(n & 63)) != 0
    }

    /// Whether `text` is an ISO 4217 code (upper case).
    public static func contains(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.count == 3 && contains(bytes[0], bytes[1], bytes[2])
    }
}
