// Parsers for the value syntaxes a Trackstar config uses: durations ("1h30m"), money read exactly
// into micros ("2.50") and names; listen addresses and IP networks are in ConfigParse+Addresses.swift,
// URL templates with {macro} placeholders in ConfigParse+URLTemplate.swift. Each failure message says
// how to write the value instead.

import TrackstarCore

/// Why a config value was refused; `message` says what is wrong and how to write it instead.
public struct ConfigValueError: Error, Sendable, Equatable {
    /// What is wrong and how to fix it, without the key name (the loader adds that).
    public var message: String
    /// A refusal with `message`.
    public init(_ message: String) { self.message = message }
}

/// Parsers for config value syntaxes, shared by the loader and anything else reading such values.
public enum ConfigParse {
    /// Macros an offer's `url` and `fallback_url` may use.
    public static let offerURLMacros = Macro.clickMacros.map(\.name)

    /// Macros an affiliate's `postback_url` may use.
    public static let postbackURLMacros = Macro.postbackMacros.map(\.name) + Macro.postbackMacros.map { "raw:" + $0.name }

    // MARK: Durations

    /// The longest duration any setting takes: 100 years. Durations are added to the current time at
    /// run time (deadlines, windows); this bound keeps every such sum far from Int64's limit.
    public static let maxDurationMillis: Int64 = 36_500 * 86_400_000

    /// Parses "250ms", "30s", "10m", "2h", "30d" or a combination such as "1h30m" into milliseconds.
    public static func durationMillis(_ text: String) -> Result<Int64, ConfigValueError> {
        let help = "write a whole number with a unit (ms, s, m, h, d), e.g. \"250ms\", \"30s\", \"10m\", \"2h\" or \"1h30m\""
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return .failure(ConfigValueError("the duration is empty; \(help)")) }
        var index = 0, total: Int64 = 0, previousRank = Int.max
        while index < bytes.count {
            let start = index
            while index < bytes.count, Byte.isDigit(bytes[index]) { index += 1 }
            guard index > start, let amount = Int64(String(decoding: bytes[start..<index], as: UTF8.self)) else {
                return .failure(ConfigValueError("\"\(text)\" is not a duration; \(help)"))
            }
            guard let unit = durationUnit(bytes, at: index) else {
                let what = index == bytes.count ? "has no unit" : "has an unknown unit"
                return .failure(ConfigValueError("\"\(text)\" \(what); \(help)"))
            }
            guard unit.rank < previousRank else {
                return .failure(ConfigValueError("\"\(text)\": write each unit once, largest first, e.g. \"1h30m\""))
            }
            let (part, overflow1) = amount.multipliedReportingOverflow(by: unit.millis)
            let (sum, overflow2) = total.addingReportingOverflow(part)
            guard !overflow1, !overflow2, sum <= maxDurationMillis else {
                return .failure(ConfigValueError("\"\(text)\" is too long a duration; at most 36500d (100 years)"))
            }
            total = sum
            previousRank = unit.rank
            index += unit.length
        }
        return .success(total)
    }

    private static func durationUnit(_ bytes: [UInt8], at index: Int) -> (millis: Int64, rank: Int, length: Int)? {
        guard index < bytes.count else { return nil }
        let next = index + 1 < bytes.count ? bytes[index + 1] : 0
        switch bytes[index] {
        case UInt8(ascii: "m") where next == UInt8(ascii: "s"): return (1, 0, 2)
        case UInt8(ascii: "s"): return (1000, 1, 1)
        case UInt8(ascii: "m"): return (60_000, 2, 1)
        case UInt8(ascii: "h"): return (3_600_000, 3, 1)
        case UInt8(ascii: "d"): return (86_400_000, 4, 1)
        default: return nil
        }
    }

    // MARK: Money

    /// Every amount, configured or sent in a postback, is below 10^12 units (10^18 micros): nine of
    /// them still add up within Int64, and no real payout comes near it.
    public static let maxAmountMicros: Int64 = 1_000_000_000_000 * 1_000_000

    /// Parses a decimal amount such as "2.50", "10", "-0.75" or "1.5e2" exactly (never through
    /// floating point) into micros; more than 6 significant decimal places is refused.
    public static func micros(_ text: String) -> Result<Micros, ConfigValueError> {
        guard let number = DecimalText(text) else {
            return .failure(ConfigValueError("\"\(text)\" is not an amount; write a decimal number such as 2.50"))
        }
        var digits = number.digits
        var scale = number.exponent + 6  // value in micros = digits × 10^scale
        if scale < 0 {
            let dropped = min(-scale, digits.count)
            guard digits.suffix(dropped).allSatisfy({ $0 == 0 }) else {
                return .failure(ConfigValueError("\(text) has more than 6 decimal places; amounts are kept in millionths"))
            }
            digits.removeLast(dropped)
            scale = 0
        }
        if digits.allSatisfy({ $0 == 0 }) { return .success(0) }
        digits += repeatElement(0, count: scale)
        var value: Int64 = 0
        for digit in digits {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return .failure(ConfigValueError("\(text) is too large an amount")) }
            value = sum
        }
        return .success(number.isNegative ? -value : value)
    }

    /// A decimal number split into its digits and a power of ten: value = digits × 10^exponent.
    private struct DecimalText {
        var isNegative = false
        var digits: [UInt8] = []
        var exponent = 0

        init?(_ text: String) {
            var rest = Array(text.utf8)[...]
            if let sign = rest.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                isNegative = sign == UInt8(ascii: "-")
                rest = rest.dropFirst()
            }
            let integer = Self.takeDigits(&rest)
            guard !integer.isEmpty else { return nil }
            digits = integer
            if rest.first == UInt8(ascii: ".") {
                rest = rest.dropFirst()
                let fraction = Self.takeDigits(&rest)
                guard !fraction.isEmpty else { return nil }
                digits += fraction
                exponent = -fraction.count
            }
            if let e = rest.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                rest = rest.dropFirst()
                var negative = false
                if let sign = rest.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                    negative = sign == UInt8(ascii: "-")
                    rest = rest.dropFirst()
                }
                let power = Self.takeDigits(&rest)
                guard (1...4).contains(power.count) else { return nil }
                let magnitude = power.reduce(0) { $0 * 10 + Int($1) }
                exponent += negative ? -magnitude : magnitude
            }
            guard rest.isEmpty else { return nil }
        }

        /// Removes leading ASCII digits from `rest`, returning their values.
        static func takeDigits(_ rest: inout ArraySlice<UInt8>) -> [UInt8] {
            let run = rest.prefix(while: Byte.isDigit)
            rest = rest.dropFirst(run.count)
            return run.map { $0 - UInt8(ascii: "0") }
        }
    }

    // MARK: Names

    /// Whether `name` is a valid event name: 1-64 characters of A-Z a-z 0-9 _ . -
    public static func isValidEventName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy {
            Byte.isDigit($0) || Byte.isLetter($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
    }

    /// The candidate within edit distance 2 of `word` (1 for words under 4 characters) that is
    /// closer than all others, if there is one.
    static func closestMatch(to word: String, in candidates: [String]) -> String? {
        let limit = word.utf8.count < 4 ? 1 : 2
        let scored = candidates.map { ($0, editDistance(Array(word.utf8), Array($0.utf8))) }.filter { $0.1 <= limit }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        return scored.count(where: { $0.1 == best.1 }) == 1 ? best.0 : nil
    }

    /// Levenshtein distance between two byte strings.
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var row = [i + 1]
            for (j, y) in b.enumerated() {
                row.append(min(previous[j + 1] + 1, row[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = row
        }
        return previous[b.count]
    }

    /// ASCII classes the value parsers use.
    enum Byte {
        static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
        static func isHexDigit(_ c: UInt8) -> Bool {
            isDigit(c) || ((c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "f"))
        }
    }
}
