// Tables under construction for the TOML reader: each remembers how it came to exist (implicitly, by
// a header, by a dotted key, inline), which decides how a later header or dotted key may extend it,
// and freezes into the immutable `TOMLTable` once the document is read.

import TrackstarCore

// MARK: - Tables under construction

/// A table being built; a class so nested tables can be extended in place.
final class TOMLTableBuilder {
    /// How the table came to exist, which decides how it may still be extended.
    enum Origin { case implicit, header, dotted, inline }
    var origin: Origin
    var line: Int
    let path: String
    var keys: [String] = []
    var slots: [String: TOMLSlot] = [:]
    var isIncomplete = false

    init(origin: Origin, line: Int, path: String) {
        self.origin = origin; self.line = line; self.path = path
    }

    func add(_ key: String, _ slot: TOMLSlot) {
        keys.append(key)
        slots[key] = slot
    }

    func freeze() -> TOMLTable {
        var table = TOMLTable()
        table.isIncomplete = isIncomplete
        for key in keys { table.append(key, slots[key]!.frozen()) }
        return table
    }
}

/// An array of tables being built by `[[name]]` headers.
final class TOMLTableArrayBuilder {
    let line: Int
    var items: [TOMLTableBuilder] = []
    init(line: Int) { self.line = line }

    /// Adds an element; its path for messages carries its 1-based index, e.g. `offers[2]`.
    func append(path: String, line: Int) -> TOMLTableBuilder {
        let element = TOMLTableBuilder(origin: .header, line: line, path: "\(path)[\(items.count + 1)]")
        items.append(element)
        return element
    }
}

/// What a key holds while parsing: a finished value, an open table, or an open array of tables.
enum TOMLSlot {
    case value(TOMLNode)
    case table(TOMLTableBuilder)
    case tables(TOMLTableArrayBuilder)

    var line: Int {
        switch self {
        case .value(let node): node.line
        case .table(let table): table.line
        case .tables(let array): array.line
        }
    }

    func frozen() -> TOMLNode {
        switch self {
        case .value(let node):
            return node
        case .table(let table):
            return TOMLNode(value: .table(table.freeze()), line: table.line)
        case .tables(let array):
            let items = array.items.map { TOMLNode(value: .table($0.freeze()), line: $0.line) }
            return TOMLNode(value: .array(items), line: array.line)
        }
    }
}
