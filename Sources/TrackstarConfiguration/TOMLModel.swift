// A small TOML 1.0 reader for the Trackstar config that keeps the source line of every key and
// table header, so validation can point at the exact place in the file. Dates and times are
// refused with a clear message; everything else a config needs is supported.

import TrackstarCore

/// A TOML value together with the line it was written on (its key's or table header's line).
public struct TOMLNode: Sendable, Equatable {
    /// The value itself.
    public var value: TOMLValue
    /// 1-based source line of the key, the table header, or (for an array element) the element.
    public var line: Int
    /// A node holding `value`, written on `line`.
    public init(value: TOMLValue, line: Int) { self.value = value; self.line = line }
}

/// A TOML value.
public enum TOMLValue: Sendable, Equatable {
    /// A basic, literal or multi-line string, escapes already resolved.
    case string(String)
    /// A decimal, hex, octal or binary integer.
    case integer(Int64)
    /// A float with its source text (underscores removed), so decimals can be read exactly.
    case float(Double, text: String)
    /// `true` or `false`.
    case boolean(Bool)
    /// An array; an array of tables (`[[name]]`) is an array of `.table` nodes, each on its header's line.
    case array([TOMLNode])
    /// A `[table]`, a table made by dotted keys, or an inline `{ … }` table.
    case table(TOMLTable)

    /// A short description for messages, such as `integer 5`, `string "x"` or `a table`.
    public var summary: String {
        switch self {
        case .string(let s): "string \"\(s)\""
        case .integer(let i): "integer \(i)"
        case .float(_, let text): "float \(text)"
        case .boolean(let b): "boolean \(b)"
        case .array: "an array"
        case .table: "a table"
        }
    }
}

/// A TOML table: its keys in the order they were written, each with its node.
public struct TOMLTable: Sendable, Equatable {
    /// Keys in file order.
    public private(set) var keys: [String] = []
    private var nodes: [String: TOMLNode] = [:]
    /// True when a syntax error made the parser skip part of this table, so keys may be missing.
    public internal(set) var isIncomplete = false

    /// An empty table.
    public init() {}

    /// The node stored under `key`, if any.
    public subscript(key: String) -> TOMLNode? { nodes[key] }

    /// Every key with its node, in file order.
    public var entries: [(key: String, node: TOMLNode)] { keys.map { ($0, nodes[$0]!) } }

    mutating func append(_ key: String, _ node: TOMLNode) {
        keys.append(key)
        nodes[key] = node
    }
}

/// Entry point of the TOML reader.
public enum TOML {
    /// Parses a whole document. Returns the root table (partial when there were syntax errors)
    /// and every problem found; after a syntax error the parser resumes at the next statement.
    /// `firstLine`: the number of the text's first line (a fragment of a larger document).
    public static func parse(_ text: String, firstLine: Int = 1) -> (root: TOMLTable, problems: [ConfigProblem]) {
        var parser = TOMLParser(text)
        parser.line = firstLine
        parser.parseDocument()
        return (parser.root.freeze(), parser.problems)
    }

    /// `key` as it would be written in TOML: bare when possible, otherwise quoted.
    public static func displayKey(_ key: String) -> String {
        if !key.isEmpty, key.utf8.allSatisfy(TOMLParser.isBareKeyByte) { return key }
        var quoted = "\""
        for ch in key {
            if ch == "\"" || ch == "\\" { quoted.append("\\") }
            quoted.append(ch)
        }
        return quoted + "\""
    }

    /// `parent.key` for messages, `key` alone when `parent` is the root.
    static func join(_ parent: String, _ key: String) -> String {
        parent.isEmpty ? displayKey(key) : parent + "." + displayKey(key)
    }
}
