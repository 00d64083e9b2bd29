// A reader for uap-core's regexes.yaml, which uses a small subset of YAML: three top-level keys, each a
// list of flat maps of quoted scalars ("- regex: '...'" then "  key: '...'"), and comments. Anything
// else is refused with the file and line, rather than guessed at.

/// One rule: a pattern, its flags and replacements, and where it was written.
struct UAPRule: Equatable {
    var regex: String
    /// `regex_flag: 'i'`: match ignoring case.
    var caseless = false
    /// `family_replacement`, `os_replacement`, `device_replacement`, ... by key.
    var replacements: [String: String] = [:]
    /// 1-based line of the rule's `- regex:` item, for messages.
    var line: Int
}

/// The three rule lists of a uap-core file, in file order (first match wins in each).
struct UAPRuleFile {
    var userAgent: [UAPRule] = []
    var os: [UAPRule] = []
    var device: [UAPRule] = []

    /// Parses `text`; `path` names the file in errors.
    init(text: String, path: String) throws {
        var section: WritableKeyPath<UAPRuleFile, [UAPRule]>?
        var current: UAPRule?
        func flush() {
            if let rule = current, let section { self[keyPath: section].append(rule) }
            current = nil
        }
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            let trimmed = line.drop(while: { $0 == " " })
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            func fail(_ what: String) -> EnrichError {
                EnrichError("user-agent rules \(path):\(lineNumber): \(what); expected uap-core's regexes.yaml format")
            }
            if !line.hasPrefix(" ") {
                flush()
                switch trimmed {
                case "user_agent_parsers:": section = \.userAgent
                case "os_parsers:": section = \.os
                case "device_parsers:": section = \.device
                default: throw fail("unknown section \"\(trimmed.prefix(60))\"")
                }
                continue
            }
            guard section != nil else { throw fail("a rule before any section") }
            var entry = trimmed
            let startsItem = entry.hasPrefix("- ")
            if startsItem {
                flush()
                entry = entry.dropFirst(2).drop(while: { $0 == " " })
            } else if current == nil {
                throw fail("a key outside any \"- regex:\" item")
            }
            guard let colon = entry.firstIndex(of: ":") else { throw fail("no \"key: value\"") }
            let key = String(entry[..<colon])
            guard let value = try Self.scalar(entry[entry.index(after: colon)...]) else {
                throw fail("the value of \(key) is not a quoted string")
            }
            if startsItem {
                guard key == "regex" else { throw fail("an item must start with regex, not \(key)") }
                current = UAPRule(regex: value, line: lineNumber)
            } else if key == "regex_flag" {
                current?.caseless = value.contains("i")
            } else {
                current?.replacements[key] = value
            }
        }
        flush()
        if userAgent.isEmpty || os.isEmpty || device.isEmpty {
            throw EnrichError("user-agent rules \(path): missing user_agent_parsers, os_parsers or device_parsers; "
                + "expected uap-core's regexes.yaml (Debian's uap-core: /usr/share/uap-core/regexes.yaml)")
        }
    }

    /// A scalar after "key:": 'single' (with '' for a quote), "double" (with backslash escapes) or bare;
    /// a trailing comment is dropped. Nil when a quote is not closed.
    static func scalar(_ text: Substring) throws -> String? {
        let value = text.drop(while: { $0 == " " })
        guard let quote = value.first, quote == "'" || quote == "\"" else {
            let bare = value.split(separator: " #", maxSplits: 1).first ?? ""
            return String(bare).trimmingTrailingSpaces()
        }
        var result = ""
        var index = value.index(after: value.startIndex)
        while index < value.endIndex {
            let character = value[index]
            let next = value.index(after: index)
            if character == quote {
                if quote == "'", next < value.endIndex, value[next] == "'" {
                    result.append("'"); index = value.index(after: next); continue
                }
                return result
            }
            if quote == "\"", character == "\\", next < value.endIndex {
                switch value[next] {
                case "n": result.append("\n")
                case "t": result.append("\t")
                default: result.append(value[next])
                }
                index = value.index(after: next); continue
            }
            result.append(character)
            index = next
        }
        return nil
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var copy = self
        while copy.last == " " { copy.removeLast() }
        return copy
    }
}
