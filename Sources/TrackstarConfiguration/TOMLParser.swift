// The recursive-descent TOML parser behind `TOML.parse`: records every key's line and resumes at the
// next statement after a syntax error. This file holds its state, the byte cursor and trivia, and key
// = value statements; table headers, arrays and inline tables are in TOMLParser+Tables.swift, strings
// in TOMLParser+Strings.swift, bare scalars (numbers, booleans, refused dates) in TOMLScalar.swift.

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
}
