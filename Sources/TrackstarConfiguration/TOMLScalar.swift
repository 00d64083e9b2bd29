// TOML's bare values: booleans, integers (decimal, hex, octal, binary, underscores between digits),
// floats (with inf and nan), and dates, which the configuration refuses by name; and the ASCII bytes
// the parser compares against.

import TrackstarCore

extension TOMLParser {
    // MARK: Numbers, booleans and dates

    mutating func parseScalar(name: String) throws(TOMLSyntaxError) -> TOMLValue {
        let start = pos
        while let c = peek(), TOMLByte.isLetter(c) || TOMLByte.isDigit(c) || [TOMLByte.underscore, TOMLByte.plus, TOMLByte.minus, TOMLByte.dot, TOMLByte.colon].contains(c) {
            pos += 1
        }
        guard pos > start else { throw fail("expected a value for \(name), found \(describeHere())") }
        let token = Array(bytes[start..<pos])
        switch TOMLScalar.parse(token) {
        case .success(let value): return value
        case .failure(let refusal): pos = start; throw fail(refusal.message)
        }
    }
}

/// Classifies and converts a bare token: boolean, integer, float, or a refused date.
enum TOMLScalar {
    struct Refusal: Error { let message: String }

    static func parse(_ token: [UInt8]) -> Result<TOMLValue, Refusal> {
        let text = String(decoding: token, as: UTF8.self)
        switch text {
        case "true": return .success(.boolean(true))
        case "false": return .success(.boolean(false))
        case "inf", "+inf": return .success(.float(.infinity, text: text))
        case "-inf": return .success(.float(-.infinity, text: text))
        case "nan", "+nan", "-nan": return .success(.float(.nan, text: text))
        default: break
        }
        if looksLikeDate(token) {
            return .failure(Refusal(message: "dates and times are not supported (\(text)); write the value as a quoted string"))
        }
        if token.count > 2, token[0] == TOMLByte.digit0, [TOMLByte.letterX, TOMLByte.letterO, TOMLByte.letterB].contains(token[1]) {
            return radixInteger(token, text: text)
        }
        if let value = decimal(token, text: text) { return value }
        if token.allSatisfy({ TOMLByte.isLetter($0) || $0 == TOMLByte.underscore || $0 == TOMLByte.minus }) {
            return .failure(Refusal(message: "\(text) is not a value; put text in quotes: \"\(text)\""))
        }
        return .failure(Refusal(message: "\(text) is not a valid number, boolean or string"))
    }

    static func looksLikeDate(_ t: [UInt8]) -> Bool {
        if t.contains(TOMLByte.colon) { return true }
        return t.count >= 10 && t[0..<4].allSatisfy(TOMLByte.isDigit) && t[4] == TOMLByte.minus
            && t[5..<7].allSatisfy(TOMLByte.isDigit) && t[7] == TOMLByte.minus
    }

    /// A run of digits where each `_` sits between two digits.
    static func isDigitRun(_ s: ArraySlice<UInt8>, _ isDigit: (UInt8) -> Bool = TOMLByte.isDigit) -> Bool {
        guard let first = s.first, let last = s.last, isDigit(first), isDigit(last) else { return false }
        var previousWasUnderscore = false
        for c in s {
            if c == TOMLByte.underscore {
                if previousWasUnderscore { return false }
                previousWasUnderscore = true
            } else if isDigit(c) {
                previousWasUnderscore = false
            } else {
                return false
            }
        }
        return true
    }

    static func withoutUnderscores(_ s: some Collection<UInt8>) -> String {
        String(decoding: s.filter { $0 != TOMLByte.underscore }, as: UTF8.self)
    }

    static func radixInteger(_ token: [UInt8], text: String) -> Result<TOMLValue, Refusal> {
        let (radix, isDigit): (Int, (UInt8) -> Bool) = switch token[1] {
        case TOMLByte.letterX: (16, TOMLByte.isHexDigit)
        case TOMLByte.letterO: (8, { $0 >= TOMLByte.digit0 && $0 <= TOMLByte.digit0 + 7 })
        default: (2, { $0 == TOMLByte.digit0 || $0 == TOMLByte.digit0 + 1 })
        }
        let digits = token[2...]
        guard isDigitRun(digits, isDigit) else {
            return .failure(Refusal(message: "\(text) is not a valid base-\(radix) integer"))
        }
        guard let value = Int64(withoutUnderscores(digits), radix: radix) else {
            return .failure(Refusal(message: "\(text) is too large for a 64-bit integer"))
        }
        return .success(.integer(value))
    }

    /// A decimal integer or float, or nil when the token is neither.
    static func decimal(_ token: [UInt8], text: String) -> Result<TOMLValue, Refusal>? {
        var body = token[...]
        if let sign = body.first, sign == TOMLByte.plus || sign == TOMLByte.minus { body = body.dropFirst() }
        let exponentAt = body.firstIndex { $0 == TOMLByte.letterE || $0 == TOMLByte.upperE }
        let mantissa = body[..<(exponentAt ?? body.endIndex)]
        let dotAt = mantissa.firstIndex(of: TOMLByte.dot)
        let integerPart = mantissa[..<(dotAt ?? mantissa.endIndex)]
        guard isDigitRun(integerPart) else { return nil }
        if integerPart.count > 1, integerPart.first == TOMLByte.digit0 {
            return .failure(Refusal(message: "\(text): leading zeros are not allowed in numbers"))
        }
        if let dotAt, !isDigitRun(mantissa[(dotAt + 1)...]) { return nil }
        if let exponentAt {
            var exponent = body[(exponentAt + 1)...]
            if let sign = exponent.first, sign == TOMLByte.plus || sign == TOMLByte.minus { exponent = exponent.dropFirst() }
            guard isDigitRun(exponent) else { return nil }
        }
        let clean = withoutUnderscores(token)
        if dotAt == nil, exponentAt == nil {
            guard let value = Int64(clean) else {
                return .failure(Refusal(message: "\(text) is too large for a 64-bit integer"))
            }
            return .success(.integer(value))
        }
        guard let value = Double(clean) else { return nil }
        return .success(.float(value, text: clean))
    }
}

/// ASCII bytes the parser compares against.
enum TOMLByte {
    static let tab = UInt8(ascii: "\t"), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r"), space = UInt8(ascii: " ")
    static let quote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'"), backslash = UInt8(ascii: "\\")
    static let hash = UInt8(ascii: "#"), equals = UInt8(ascii: "="), dot = UInt8(ascii: "."), comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":"), underscore = UInt8(ascii: "_"), plus = UInt8(ascii: "+"), minus = UInt8(ascii: "-")
    static let lbracket = UInt8(ascii: "["), rbracket = UInt8(ascii: "]"), lbrace = UInt8(ascii: "{"), rbrace = UInt8(ascii: "}")
    static let digit0 = UInt8(ascii: "0")
    static let letterB = UInt8(ascii: "b"), letterT = UInt8(ascii: "t"), letterN = UInt8(ascii: "n")
    static let letterF = UInt8(ascii: "f"), letterR = UInt8(ascii: "r"), letterU = UInt8(ascii: "u"), upperU = UInt8(ascii: "U")
    static let letterX = UInt8(ascii: "x"), letterO = UInt8(ascii: "o"), letterE = UInt8(ascii: "e"), upperE = UInt8(ascii: "E")
    static let tripleQuote: [UInt8] = [quote, quote, quote]
    static let tripleApostrophe: [UInt8] = [apostrophe, apostrophe, apostrophe]

    static func isDigit(_ c: UInt8) -> Bool { c >= digit0 && c <= UInt8(ascii: "9") }
    static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
    static func isHexDigit(_ c: UInt8) -> Bool { isDigit(c) || ((c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "f")) }
}
