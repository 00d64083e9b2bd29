// Reads just enough of a regular expression to say which literal runs every match must contain, and
// which alternations must match one of their branches' runs (for the trigram prefilter), and which
// literal texts its first capture group can produce (for the family name table). Conservative by
// construction: anything it does not understand contributes nothing, so the prefilter can only let a
// pattern through, never skip one that could match.

/// Static facts about a pattern's text.
enum RegexSyntax {
    /// Literal byte runs that every match of `pattern` contains. Empty when none are certain (a
    /// top-level alternation, or nothing but classes and wildcards).
    static func requiredRuns(_ pattern: String) -> [[UInt8]] {
        requirement(pattern).all
    }

    /// What every match of `pattern` contains: all of `all`'s runs, and for each entry of `anyOf`, all
    /// the runs of at least one of its branches. Runs are case-folded where a class was (`[Bb]ot`).
    static func requirement(_ pattern: String) -> (all: [[UInt8]], anyOf: [[[[UInt8]]]]) {
        var parser = Parser(Array(pattern.utf8))
        let branches = parser.alternatives()
        if branches.count == 1 { return (branches[0].runs, branches[0].anyOf) }
        return ([], Sequence.anyOf(branches).map { [$0] } ?? [])
    }

    /// Texts the first capture group can produce: each branch of its alternation that is a plain
    /// literal, and each literal run of the other branches (which produce it when their optional parts
    /// are empty). A superset is harmless: a name is used only when a capture equals it exactly.
    static func firstGroupTexts(_ pattern: String) -> [String] {
        var parser = Parser(Array(pattern.utf8))
        guard let branches = parser.firstCaptureBranches() else { return [] }
        var texts: [String] = []
        for branch in branches {
            let candidates = branch.literal.map { [$0] } ?? branch.runs.filter { $0.count >= 3 }
            for candidate in candidates {
                let text = String(decoding: candidate, as: UTF8.self)
                if !texts.contains(text) { texts.append(text) }
            }
        }
        return texts
    }

    /// What one branch (a sequence without a top-level "|") requires.
    struct Sequence {
        var runs: [[UInt8]] = []
        /// Alternations inside the branch: one of each entry's branches (its runs) must match.
        var anyOf: [[[[UInt8]]]] = []
        /// The whole branch when it is one literal with no class, group or quantifier.
        var literal: [UInt8]? = []

        /// The requirement of an alternation: each branch's runs, or nil when some branch requires no
        /// run at all (then nothing is certain). A branch's own inner alternations are dropped, which
        /// only weakens the requirement.
        static func anyOf(_ branches: [Sequence]) -> [[[UInt8]]]? {
            let runs = branches.map { $0.runs.filter { $0.count >= 3 } }
            return runs.contains(where: \.isEmpty) ? nil : runs
        }
    }

    private enum Atom {
        case literal(UInt8)
        /// A class of one letter in both cases ("[Bb]"): a literal once case is folded.
        case foldedLiteral(UInt8)
        case other
        case group([Sequence], contributes: Bool)
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        var current: UInt8 { bytes[index] }

        /// Parses branches separated by "|" until an unmatched ")" (left unconsumed) or the end.
        mutating func alternatives() -> [Sequence] {
            var branches = [sequence()]
            while !atEnd, current == UInt8(ascii: "|") {
                index += 1
                branches.append(sequence())
            }
            return branches
        }

        /// Parses one branch, until "|", an unmatched ")" or the end (neither consumed).
        mutating func sequence() -> Sequence {
            var result = Sequence()
            var run: [UInt8] = []
            func endRun() { if !run.isEmpty { result.runs.append(run); run = [] } }
            while !atEnd, current != UInt8(ascii: ")"), current != UInt8(ascii: "|") {
                let atom = self.atom()
                let quantifier = self.quantifier()
                switch (atom, quantifier) {
                case (.literal(let byte), .none):
                    run.append(byte); result.literal?.append(byte)
                case (.foldedLiteral(let byte), .none):
                    run.append(byte); result.literal = nil
                case (.literal(let byte), .atLeastOnce), (.foldedLiteral(let byte), .atLeastOnce):
                    run.append(byte); endRun(); result.literal = nil
                case (.literal, .optional), (.foldedLiteral, .optional), (.other, _):
                    endRun(); result.literal = nil
                case (.group(let branches, let contributes), let quantifier):
                    endRun(); result.literal = nil
                    guard contributes, quantifier != .optional else { break }
                    if branches.count == 1 {
                        result.runs += branches[0].runs
                        result.anyOf += branches[0].anyOf
                    } else if let any = Sequence.anyOf(branches) {
                        result.anyOf.append(any)
                    }
                }
            }
            endRun()
            return result
        }

        enum Quantifier { case none, optional, atLeastOnce }

        /// Consumes a quantifier after an atom, with its lazy or possessive mark.
        mutating func quantifier() -> Quantifier {
            guard !atEnd else { return .none }
            var kind = Quantifier.none
            switch current {
            case UInt8(ascii: "?"), UInt8(ascii: "*"): kind = .optional; index += 1
            case UInt8(ascii: "+"): kind = .atLeastOnce; index += 1
            case UInt8(ascii: "{"):
                // {n}, {n,} or {n,m}; a brace that does not start one is a literal (PCRE2's rule).
                var end = index + 1, minimum = 0, digits = 0
                while end < bytes.count, (48...57).contains(bytes[end]) { minimum = minimum * 10 + Int(bytes[end] - 48); end += 1; digits += 1 }
                guard digits > 0 || (end < bytes.count && bytes[end] == UInt8(ascii: ",")) else { return .none }
                while end < bytes.count, bytes[end] != UInt8(ascii: "}") {
                    guard bytes[end] == UInt8(ascii: ",") || (48...57).contains(bytes[end]) else { return .none }
                    end += 1
                }
                guard end < bytes.count else { return .none }
                index = end + 1
                kind = minimum == 0 ? .optional : .atLeastOnce
            default: return .none
            }
            if !atEnd, current == UInt8(ascii: "?") || current == UInt8(ascii: "+") { index += 1 }
            return kind
        }

        /// Consumes one atom: a literal byte, an escape, a class, a wildcard, an anchor or a group.
        mutating func atom() -> Atom {
            let byte = current
            index += 1
            switch byte {
            case UInt8(ascii: "\\"): return escape()
            case UInt8(ascii: "["):
                if index + 2 < bytes.count, bytes[index + 2] == UInt8(ascii: "]"), bytes[index] != bytes[index + 1],
                   AgentSubstrings.lower(bytes[index]) == AgentSubstrings.lower(bytes[index + 1]),
                   (97...122).contains(AgentSubstrings.lower(bytes[index])) {
                    let letter = AgentSubstrings.lower(bytes[index])
                    index += 3
                    return .foldedLiteral(letter)
                }
                skipClass(); return .other
            case UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "$"): return .other
            case UInt8(ascii: "("): return group()
            default: return .literal(byte)
            }
        }

        /// After a backslash: an escaped punctuation byte is a literal; letters and digits are classes,
        /// anchors, back-references or codes, skipped with their arguments.
        mutating func escape() -> Atom {
            guard !atEnd else { return .other }
            let byte = current
            index += 1
            let isLetter = (65...90).contains(byte) || (97...122).contains(byte)
            let isDigit = (48...57).contains(byte)
            if !isLetter && !isDigit { return .literal(byte) }
            switch byte {
            case UInt8(ascii: "x"), UInt8(ascii: "o"), UInt8(ascii: "p"), UInt8(ascii: "P"), UInt8(ascii: "g"), UInt8(ascii: "k"):
                if !atEnd, current == UInt8(ascii: "{") || current == UInt8(ascii: "<") {
                    while !atEnd, current != UInt8(ascii: "}"), current != UInt8(ascii: ">") { index += 1 }
                    index += 1
                } else if byte == UInt8(ascii: "x") {
                    var count = 0
                    while count < 2, !atEnd, isHex(current) { index += 1; count += 1 }
                } else if byte == UInt8(ascii: "p") || byte == UInt8(ascii: "P") {
                    index += 1
                }
            case UInt8(ascii: "c"): index += 1
            case UInt8(ascii: "Q"):
                while index + 1 < bytes.count, !(current == UInt8(ascii: "\\") && bytes[index + 1] == UInt8(ascii: "E")) { index += 1 }
                index += 2
            default:
                if isDigit { while !atEnd, (48...57).contains(current) { index += 1 } }
            }
            return .other
        }

        func isHex(_ byte: UInt8) -> Bool {
            (48...57).contains(byte) || (65...70).contains(byte) || (97...102).contains(byte)
        }

        /// Skips a bracketed class (a leading "]" or "^]" is a member; escapes and [:name:] inside).
        mutating func skipClass() {
            if !atEnd, current == UInt8(ascii: "^") { index += 1 }
            if !atEnd, current == UInt8(ascii: "]") { index += 1 }
            while !atEnd, current != UInt8(ascii: "]") {
                if current == UInt8(ascii: "\\") { index += 2; continue }
                if current == UInt8(ascii: "["), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: ":") {
                    index += 2
                    while index + 1 < bytes.count, !(current == UInt8(ascii: ":") && bytes[index + 1] == UInt8(ascii: "]")) { index += 1 }
                    index += 2; continue
                }
                index += 1
            }
            index += 1
        }

        /// After "(": a capturing or non-capturing group contributes what it requires; lookarounds,
        /// comments, inline options and anything unfamiliar contribute nothing.
        mutating func group() -> Atom {
            var contributes = true
            if !atEnd, current == UInt8(ascii: "?") {
                index += 1
                if !atEnd, current == UInt8(ascii: ":") {
                    index += 1
                } else if !atEnd, current == UInt8(ascii: "P") || current == UInt8(ascii: "<"),
                          index + 1 < bytes.count, bytes[index + 1] != UInt8(ascii: "="), bytes[index + 1] != UInt8(ascii: "!") {
                    // A named group: (?P<name> or (?<name>.
                    while !atEnd, current != UInt8(ascii: ">") { index += 1 }
                    index += 1
                } else {
                    contributes = false
                }
            }
            let inner = alternatives()
            if !atEnd { index += 1 }   // the ")"
            return .group(inner, contributes: contributes)
        }

        /// The branches of the first capturing group, each as a sequence; nil when there is none.
        mutating func firstCaptureBranches() -> [Sequence]? {
            while !atEnd {
                switch current {
                case UInt8(ascii: "\\"): index += 2
                case UInt8(ascii: "["): index += 1; skipClass()
                case UInt8(ascii: "("):
                    index += 1
                    if !atEnd, current == UInt8(ascii: "?") { continue }
                    return alternatives()
                default: index += 1
                }
            }
            return nil
        }    }
}
