// The recursive-descent TOML parser behind `TOML.parse`: records every key's line and resumes at the
// next statement after a syntax error. One type, longer than the house's ~400 lines because TOML's
// grammar is (basic and literal strings, multi-line strings, numbers, arrays, inline tables, each with
// its own scanner); splitting it would scatter one grammar over several files.

import TrackstarCore

/// A syntax error: the parser records it and resumes at the next statement.
struct TOMLSyntaxError: Error {
    let line: Int
    let message: String
}

// MARK: - Parser

struct TOMLParser {
    let bytes: [UInt8]
    var pos = 0
    var line = 1
    /// Arrays and inline tables open around the value being parsed. Bounded, with dotted keys, so a
    /// hostile file is a problem on its line rather than a stack overflow (found by fuzzing).
    var depth = 0
    static let maxDepth = 32
    static let maxKeyParts = 32
    var problems: [ConfigProblem] = []
    let root: TOMLTableBuilder
    /// The table that `key = value` lines go into: the last header's table.
    var current: TOMLTableBuilder

    init(_ text: String) {
        bytes = Array(text.utf8)
        root = TOMLTableBuilder(origin: .header, line: 0, path: "")
        current = root
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { pos = 3 }
    }

    mutating func parseDocument() {
        while skipTrivia() {
            do throws(TOMLSyntaxError) {
                if peek() == TOMLByte.lbracket {
                    try parseHeader()
                    try expectEndOfLine(after: "the table header")
                } else {
                    try parseKeyValue(into: current)
                    try expectEndOfLine(after: "the value")
                }
            } catch {
                problems.append(ConfigProblem(line: error.line, message: error.message))
                current.isIncomplete = true
                recover()
            }
        }
    }

    // MARK: Bytes and trivia

    func peek(_ offset: Int = 0) -> UInt8? {
        pos + offset < bytes.count ? bytes[pos + offset] : nil
    }

    mutating func eat(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        pos += 1
        return true
    }

    func startsHere(_ text: [UInt8]) -> Bool {
        bytes[pos...].starts(with: text)
    }

    mutating func skipBlanks() {
        while let c = peek(), c == TOMLByte.space || c == TOMLByte.tab { pos += 1 }
    }

    /// Consumes one line break (LF or CRLF), counting the line.
    mutating func consumeNewline() -> Bool {
        if peek() == TOMLByte.lf {
            pos += 1
        } else if peek() == TOMLByte.cr, peek(1) == TOMLByte.lf {
            pos += 2
        } else {
            return false
        }
        line += 1
        return true
    }

    mutating func skipComment() {
        while let c = peek(), c != TOMLByte.lf, !(c == TOMLByte.cr && peek(1) == TOMLByte.lf) { pos += 1 }
    }

    /// Skips blanks, comments and line breaks; returns false at the end of input.
    mutating func skipTrivia() -> Bool {
        while let c = peek() {
            if c == TOMLByte.space || c == TOMLByte.tab {
                pos += 1
            } else if c == TOMLByte.hash {
                skipComment()
            } else if !consumeNewline() {
                return true
            }
        }
        return false
    }

    mutating func expectEndOfLine(after what: String) throws(TOMLSyntaxError) {
        skipBlanks()
        if peek() == TOMLByte.hash { skipComment() }
        if peek() == nil || consumeNewline() { return }
        throw fail("unexpected \(describeHere()) after \(what); put each key = value or [table] on its own line")
    }

    /// Skips to the next line that looks like a statement, so one error does not cascade.
    mutating func recover() {
        skipRestOfLine()
        while pos < bytes.count, !lineLooksLikeStatement() { skipRestOfLine() }
    }

    mutating func skipRestOfLine() {
        while pos < bytes.count, !consumeNewline() { pos += 1 }
    }

    func lineLooksLikeStatement() -> Bool {
        var p = pos
        while p < bytes.count, bytes[p] == TOMLByte.space || bytes[p] == TOMLByte.tab { p += 1 }
        guard p < bytes.count else { return true }
        let first = bytes[p]
        if first == TOMLByte.lf || first == TOMLByte.cr || first == TOMLByte.hash || first == TOMLByte.lbracket { return true }
        guard Self.isBareKeyByte(first) || first == TOMLByte.quote || first == TOMLByte.apostrophe else { return false }
        while p < bytes.count, bytes[p] != TOMLByte.lf {
            if bytes[p] == TOMLByte.equals { return true }
            p += 1
        }
        return false
    }

    /// The text at the current position, quoted, for messages.
    func describeHere() -> String {
        guard let c = peek() else { return "end of file" }
        if c == TOMLByte.lf || c == TOMLByte.cr { return "end of line" }
        var end = pos
        while end < bytes.count, end - pos < 20 || bytes[end] & 0xC0 == 0x80,
              ![TOMLByte.space, TOMLByte.tab, TOMLByte.lf, TOMLByte.cr].contains(bytes[end]) { end += 1 }
        return "\"" + String(decoding: bytes[pos..<end], as: UTF8.self) + "\""
    }

    func fail(_ message: String) -> TOMLSyntaxError { TOMLSyntaxError(line: line, message: message) }

    static func isBareKeyByte(_ c: UInt8) -> Bool {
        TOMLByte.isLetter(c) || TOMLByte.isDigit(c) || c == TOMLByte.underscore || c == TOMLByte.minus
    }

    // MARK: Keys and statements

    mutating func parseKey() throws(TOMLSyntaxError) -> String {
        switch peek() {
        case TOMLByte.quote?:
            if startsHere(TOMLByte.tripleQuote) { throw fail("a key cannot be a multi-line string") }
            return try parseBasicString()
        case TOMLByte.apostrophe?:
            if startsHere(TOMLByte.tripleApostrophe) { throw fail("a key cannot be a multi-line string") }
            return try parseLiteralString()
        case let c? where Self.isBareKeyByte(c):
            let start = pos
            while let c = peek(), Self.isBareKeyByte(c) { pos += 1 }
            return String(decoding: bytes[start..<pos], as: UTF8.self)
        default:
            throw fail("expected a key, found \(describeHere()); keys are letters, digits, _ and -, or quoted")
        }
    }

    /// A key such as `a`, `"a b"` or `a.b.c`.
    mutating func parseKeyPath() throws(TOMLSyntaxError) -> [String] {
        var path = [try parseKey()]
        while true {
            skipBlanks()
            guard eat(TOMLByte.dot) else { return path }
            skipBlanks()
            guard path.count < Self.maxKeyParts else { throw fail("a key has more than \(Self.maxKeyParts) dotted parts") }
            path.append(try parseKey())
        }
    }

    mutating func parseKeyValue(into table: TOMLTableBuilder) throws(TOMLSyntaxError) {
        let keyLine = line
        let path = try parseKeyPath()
        let name = path.reduce(table.path, TOML.join)
        skipBlanks()
        guard eat(TOMLByte.equals) else { throw fail("expected = after the key \(name), found \(describeHere())") }
        skipBlanks()
        let value = try parseValue(name: name)
        insert(TOMLNode(value: value, line: keyLine), at: path, in: table)
    }

    /// Stores a value under a (possibly dotted) key, reporting duplicates.
    mutating func insert(_ node: TOMLNode, at path: [String], in start: TOMLTableBuilder) {
        var table = start
        for key in path.dropLast() {
            guard let next = dottedChild(key, of: table, line: node.line) else { return }
            table = next
        }
        let key = path[path.count - 1]
        if let existing = table.slots[key] {
            let name = TOML.join(table.path, key)
            report(node.line, "duplicate key \(name) (already set at line \(existing.line)); keep only one of them")
            return
        }
        table.add(key, .value(node))
    }

    /// The table a dotted key walks into, created when missing.
    mutating func dottedChild(_ key: String, of table: TOMLTableBuilder, line: Int) -> TOMLTableBuilder? {
        let path = TOML.join(table.path, key)
        switch table.slots[key] {
        case nil:
            let child = TOMLTableBuilder(origin: .dotted, line: line, path: path)
            table.add(key, .table(child))
            return child
        case .table(let child) where child.origin == .dotted:
            return child
        case .table(let child):
            report(line, "\(path) is a table defined at line \(child.line); put this key under its [\(path)] header instead")
        case .tables(let array):
            report(line, "\(path) is an array of tables ([[\(path)]] at line \(array.line)); it cannot take dotted keys")
        case .value(let node):
            report(line, "\(path) already has a value at line \(node.line); it cannot also be a table")
        }
        return nil
    }

    mutating func report(_ line: Int, _ message: String) {
        problems.append(ConfigProblem(line: line, message: message))
    }

    // MARK: Table headers

    mutating func parseHeader() throws(TOMLSyntaxError) {
        let headerLine = line
        // Until the header is known good, keys below it go to a detached table.
        current = TOMLTableBuilder(origin: .header, line: headerLine, path: "")
        pos += 1
        let isArray = eat(TOMLByte.lbracket)
        skipBlanks()
        let path = try parseKeyPath()
        skipBlanks()
        guard eat(TOMLByte.rbracket), !isArray || eat(TOMLByte.rbracket) else {
            throw fail(isArray ? "expected ]] to close the [[array]] header" : "expected ] to close the [table] header")
        }
        let table = isArray ? openArrayElement(path, line: headerLine) : openTable(path, line: headerLine)
        if let table { current = table }
    }

    /// Walks `path` minus its last key for a header, creating implicit tables as needed.
    mutating func headerParent(_ path: [String], line: Int) -> TOMLTableBuilder? {
        var table = root
        for key in path.dropLast() {
            let name = TOML.join(table.path, key)
            switch table.slots[key] {
            case nil:
                let child = TOMLTableBuilder(origin: .implicit, line: line, path: name)
                table.add(key, .table(child))
                table = child
            case .table(let child):
                table = child
            case .tables(let array):
                table = array.items[array.items.count - 1]
            case .value(let node):
                report(line, "\(name) already has a value at line \(node.line); it cannot also hold tables")
                return nil
            }
        }
        return table
    }

    /// `[a.b]`: defines a table once.
    mutating func openTable(_ path: [String], line: Int) -> TOMLTableBuilder? {
        guard let parent = headerParent(path, line: line) else { return nil }
        let key = path[path.count - 1]
        let name = TOML.join(parent.path, key)
        switch parent.slots[key] {
        case nil:
            let table = TOMLTableBuilder(origin: .header, line: line, path: name)
            parent.add(key, .table(table))
            return table
        case .table(let table) where table.origin == .implicit:
            table.origin = .header
            table.line = line
            return table
        case .table(let table) where table.origin == .dotted:
            report(line, "table [\(name)] was already created by dotted keys at line \(table.line); use one or the other")
        case .table(let table):
            report(line, "table [\(name)] is defined twice (first at line \(table.line)); merge the two into one")
        case .tables(let array):
            report(line, "[\(name)] is an array of tables ([[\(name)]] at line \(array.line)); write [[\(name)]] to add an element")
        case .value(let node):
            report(line, "\(name) already has a value at line \(node.line); it cannot also be a table")
        }
        return nil
    }

    /// `[[a.b]]`: appends a new table to an array of tables.
    mutating func openArrayElement(_ path: [String], line: Int) -> TOMLTableBuilder? {
        guard let parent = headerParent(path, line: line) else { return nil }
        let key = path[path.count - 1]
        let name = TOML.join(parent.path, key)
        switch parent.slots[key] {
        case nil:
            let array = TOMLTableArrayBuilder(line: line)
            parent.add(key, .tables(array))
            return array.append(path: name, line: line)
        case .tables(let array):
            return array.append(path: name, line: line)
        case .table(let table):
            report(line, "[[\(name)]] conflicts with the table [\(name)] at line \(table.line); use one form only")
        case .value(let node):
            report(line, "[[\(name)]] conflicts with \(name) set at line \(node.line); use one form only")
        }
        return nil
    }

    // MARK: Values

    mutating func parseValue(name: String) throws(TOMLSyntaxError) -> TOMLValue {
        let opens = peek() == TOMLByte.lbracket || peek() == TOMLByte.lbrace
        if opens {
            guard depth < Self.maxDepth else {
                throw fail("\(name) nests arrays and inline tables more than \(Self.maxDepth) deep")
            }
            depth += 1
        }
        defer { if opens { depth -= 1 } }
        return switch peek() {
        case TOMLByte.quote?: .string(try parseBasicString())
        case TOMLByte.apostrophe?: .string(try parseLiteralString())
        case TOMLByte.lbracket?: try parseArray(name: name)
        case TOMLByte.lbrace?: try parseInlineTable(name: name)
        case nil, TOMLByte.lf?, TOMLByte.cr?, TOMLByte.hash?: throw fail("expected a value for \(name)")
        default: try parseScalar(name: name)
        }
    }

    mutating func parseArray(name: String) throws(TOMLSyntaxError) -> TOMLValue {
        let startLine = line
        let unterminated = TOMLSyntaxError(line: startLine, message: "the array \(name) is not closed; add the closing ]")
        pos += 1
        var items: [TOMLNode] = []
        while true {
            guard skipTrivia() else { throw unterminated }
            if eat(TOMLByte.rbracket) { return .array(items) }
            let itemLine = line
            let value = try parseValue(name: "\(name)[\(items.count)]")
            items.append(TOMLNode(value: value, line: itemLine))
            guard skipTrivia() else { throw unterminated }
            if eat(TOMLByte.comma) { continue }
            if eat(TOMLByte.rbracket) { return .array(items) }
            throw fail("expected , or ] in the array \(name), found \(describeHere())")
        }
    }

    mutating func parseInlineTable(name: String) throws(TOMLSyntaxError) -> TOMLValue {
        let startLine = line
        let unterminated = TOMLSyntaxError(line: startLine, message: "the inline table \(name) is not closed; add the closing }")
        pos += 1
        let table = TOMLTableBuilder(origin: .inline, line: startLine, path: name)
        while true {
            guard skipTrivia() else { throw unterminated }
            if eat(TOMLByte.rbrace) { break }
            try parseKeyValue(into: table)
            guard skipTrivia() else { throw unterminated }
            if eat(TOMLByte.comma) { continue }
            if eat(TOMLByte.rbrace) { break }
            throw fail("expected , or } in the inline table \(name), found \(describeHere())")
        }
        return .table(table.freeze())
    }

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
