// TOML structure: `[table]` and `[[array]]` headers (opening, reopening and array elements by path),
// and the compound values: arrays and inline tables.

import TrackstarCore

extension TOMLParser {
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
}
