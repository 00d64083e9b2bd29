// TOML strings: basic ("…" with escapes), literal ('…'), and their multi-line forms, checked byte by
// byte for the control characters TOML forbids.

import TrackstarCore

extension TOMLParser {
    // MARK: Strings

    mutating func parseBasicString() throws(TOMLSyntaxError) -> String {
        if startsHere(TOMLByte.tripleQuote) { return try parseMultilineString(literal: false) }
        pos += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek(), c != TOMLByte.lf, c != TOMLByte.cr || peek(1) != TOMLByte.lf else {
                throw fail("the string is not closed; add the closing \" on the same line (or use \"\"\" for several lines)")
            }
            pos += 1
            if c == TOMLByte.quote { return String(decoding: out, as: UTF8.self) }
            if c == TOMLByte.backslash { try appendEscape(to: &out); continue }
            try checkStringByte(c)
            out.append(c)
        }
    }

    mutating func parseLiteralString() throws(TOMLSyntaxError) -> String {
        if startsHere(TOMLByte.tripleApostrophe) { return try parseMultilineString(literal: true) }
        pos += 1
        let start = pos
        while true {
            guard let c = peek(), c != TOMLByte.lf, c != TOMLByte.cr || peek(1) != TOMLByte.lf else {
                throw fail("the string is not closed; add the closing ' on the same line (or use ''' for several lines)")
            }
            if c == TOMLByte.apostrophe { break }
            try checkStringByte(c)
            pos += 1
        }
        pos += 1
        return String(decoding: bytes[start..<(pos - 1)], as: UTF8.self)
    }

    /// `"""…"""` or `'''…'''`; a line break right after the opening delimiter is dropped.
    mutating func parseMultilineString(literal: Bool) throws(TOMLSyntaxError) -> String {
        let delimiter = literal ? TOMLByte.apostrophe : TOMLByte.quote
        let unterminated = TOMLSyntaxError(line: line, message: "the multi-line string is not closed; add the closing "
            + (literal ? "'''" : "\"\"\""))
        pos += 3
        _ = consumeNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek() else { throw unterminated }
            if c == delimiter, let run = try closingRun(of: delimiter) {
                out.append(contentsOf: repeatElement(delimiter, count: run - 3))
                pos += run
                return String(decoding: out, as: UTF8.self)
            }
            if consumeNewline() { out.append(TOMLByte.lf); continue }
            pos += 1
            if c == TOMLByte.backslash, !literal {
                if skipLineEndingBackslash() { continue }
                try appendEscape(to: &out)
                continue
            }
            try checkStringByte(c)
            out.append(c)
        }
    }

    /// The length of a run of 3 to 5 delimiters that closes a multi-line string, or nil.
    func closingRun(of delimiter: UInt8) throws(TOMLSyntaxError) -> Int? {
        var run = 0
        while peek(run) == delimiter { run += 1 }
        if run < 3 { return nil }
        if run > 5 { throw fail("too many quotes in a row at the end of a multi-line string; escape some of them") }
        return run
    }

    /// After a `\` at the end of a line: skips the line break and the whitespace that follows.
    mutating func skipLineEndingBackslash() -> Bool {
        var p = pos
        while p < bytes.count, bytes[p] == TOMLByte.space || bytes[p] == TOMLByte.tab { p += 1 }
        guard p < bytes.count, bytes[p] == TOMLByte.lf || (bytes[p] == TOMLByte.cr && p + 1 < bytes.count && bytes[p + 1] == TOMLByte.lf)
        else { return false }
        pos = p
        while true {
            if consumeNewline() { continue }
            guard let c = peek(), c == TOMLByte.space || c == TOMLByte.tab else { return true }
            pos += 1
        }
    }

    func checkStringByte(_ c: UInt8) throws(TOMLSyntaxError) {
        if (c < 0x20 && c != TOMLByte.tab) || c == 0x7F {
            let hex = String(c, radix: 16, uppercase: true)
            throw fail("control character U+\(hex.count < 2 ? "0" + hex : hex) in a string; write it as an escape such as \\n or \\t")
        }
    }

    /// Reads the escape after a `\` and appends the character it stands for.
    mutating func appendEscape(to out: inout [UInt8]) throws(TOMLSyntaxError) {
        guard let c = peek() else { throw fail("the string ends in the middle of an escape") }
        pos += 1
        switch c {
        case TOMLByte.letterB: out.append(0x08)
        case TOMLByte.letterT: out.append(TOMLByte.tab)
        case TOMLByte.letterN: out.append(TOMLByte.lf)
        case TOMLByte.letterF: out.append(0x0C)
        case TOMLByte.letterR: out.append(TOMLByte.cr)
        case TOMLByte.quote, TOMLByte.backslash: out.append(c)
        case TOMLByte.letterU: try appendUnicodeEscape(digits: 4, to: &out)
        case TOMLByte.upperU: try appendUnicodeEscape(digits: 8, to: &out)
        default:
            let shown = (0x21..<0x7F).contains(c) ? "\\" + String(Unicode.Scalar(c)) : "\\ followed by a blank or line break"
            throw fail("invalid escape \(shown) in a string; valid escapes are "
                + "\\\" \\\\ \\n \\t \\r \\b \\f \\uXXXX \\UXXXXXXXX (or use a 'literal string')")
        }
    }

    mutating func appendUnicodeEscape(digits: Int, to out: inout [UInt8]) throws(TOMLSyntaxError) {
        let end = pos + digits
        guard end <= bytes.count, bytes[pos..<end].allSatisfy(TOMLByte.isHexDigit),
              let code = UInt32(String(decoding: bytes[pos..<end], as: UTF8.self), radix: 16)
        else { throw fail("a \\u escape needs 4 hex digits and \\U needs 8, e.g. \\u00E9") }
        guard let scalar = Unicode.Scalar(code) else {
            throw fail("\\u escape \(String(code, radix: 16, uppercase: true)) is not a valid Unicode scalar value")
        }
        pos = end
        out.append(contentsOf: Character(scalar).utf8)
    }
}
