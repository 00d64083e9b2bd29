// One of uap-core's three rule lists, compiled: PCRE2 codes and prefilter programs in flat storage so
// that trying a rule touches no reference count, and how each rule names its family.
import CPCRE2

/// How a matched rule names its family.
enum FamilyRule: Sendable {
    /// The rule does not name one (device rules).
    case none
    /// A fixed replacement, interned at load.
    case constant(UInt16)
    /// The text of group 1, looked up in the name table.
    case firstGroup
    /// A replacement with $1..$9 references (its index in the rule set's `templates`), composed and
    /// looked up. An index, not the bytes: an array payload would be stored as a pointer with the
    /// enum's tag in its spare bits, which LeakSanitizer cannot follow (it reported the live
    /// templates as leaked under `make sanitize`).
    case template(Int)
}

/// A compiled rule list; first match wins.
struct UAPRuleSet: Sendable {
    private let owners: [PCRE2Pattern]
    private let storage: UAPRuleStorage
    private let families: [FamilyRule]
    private let templates: [[UInt8]]
    private let spiders: [Bool]
    /// Rules in the list.
    var count: Int { owners.count }
    /// The most capture groups of any rule.
    let maxCaptures: Int
    /// Rules whose prefilter requires something.
    let prefilteredCount: Int
    /// Rules PCRE2's JIT compiled.
    var jitCount: Int { owners.filter(\.jitCompiled).count }

    /// Compiles `rules`; family names from `replacementKey` (or group 1) are interned into `names`.
    init(_ rules: [UAPRule], replacementKey: String?, names: inout FamilyNamesBuilder, path: String) throws {
        var owners: [PCRE2Pattern] = [], families: [FamilyRule] = [], spiders: [Bool] = [], filters: [[UInt16]] = []
        var templates: [[UInt8]] = []
        for rule in rules {
            do {
                owners.append(try PCRE2Pattern(rule.regex, caseless: rule.caseless))
            } catch {
                throw EnrichError("user-agent rules \(path):\(rule.line): PCRE2 refuses the pattern at offset \(error.offset): \(error.message)")
            }
            filters.append(TrigramSet.program(RegexSyntax.requirement(rule.regex)))
            spiders.append(rule.replacements["device_replacement"] == "Spider")
            guard let replacementKey else { families.append(.none); continue }
            let groupTexts = RegexSyntax.firstGroupTexts(rule.regex)
            if let replacement = rule.replacements[replacementKey] {
                if replacement.contains("$") {
                    families.append(.template(templates.count))
                    templates.append(Array(replacement.utf8))
                    for text in groupTexts { names.intern(replacement.replacingFirstGroup(with: text)) }
                } else {
                    families.append(.constant(names.intern(replacement)))
                }
            } else {
                families.append(.firstGroup)
                for text in groupTexts { names.intern(text) }
            }
        }
        self.owners = owners; self.families = families; self.spiders = spiders; self.templates = templates
        storage = UAPRuleStorage(owners, filters: filters)
        maxCaptures = owners.map(\.captureCount).max() ?? 0
        prefilteredCount = filters.filter { $0 != [0, 0] }.count
    }

    /// The index of the first rule that matches `agent` (skipping rules the prefilter rules out when
    /// `filtered`); the scratch's matcher then holds its groups.
    @inline(__always)
    func firstMatch(_ agent: UnsafeRawBufferPointer, _ scratch: UserAgentScratch, filtered: Bool) -> Int? {
        storage.firstMatch(agent, scratch.matcher, trigrams: filtered ? scratch.trigrams : nil)
    }

    /// Whether rule `index` names a spider.
    func isSpider(_ index: Int) -> Bool { spiders[index] }

    /// The family id rule `index` names for the match in `scratch`; 0 when the text is not in `names`.
    func family(_ index: Int, _ agent: UnsafeRawBufferPointer, _ scratch: UserAgentScratch, _ names: FamilyNames) -> UInt16 {
        switch families[index] {
        case .none: return 0
        case .constant(let id): return id
        case .firstGroup:
            guard let group = scratch.matcher.group(1) else { return 0 }
            return names.id(of: UnsafeRawBufferPointer(rebasing: agent[group])) ?? 0
        case .template(let templateIndex):
            let template = templates[templateIndex]
            let out = scratch.compose
            var length = 0
            var position = 0
            while position < template.count, length < out.count {
                let byte = template[position]
                if byte == UInt8(ascii: "$"), position + 1 < template.count, (49...57).contains(template[position + 1]) {
                    if let group = scratch.matcher.group(Int(template[position + 1] - 48)) {
                        for i in group where length < out.count { out[length] = agent[i]; length += 1 }
                    }
                    position += 2
                    continue
                }
                out[length] = byte; length += 1; position += 1
            }
            var start = 0
            while start < length, out[start] == UInt8(ascii: " ") { start += 1 }
            return names.id(of: UnsafeRawBufferPointer(rebasing: out[start..<length])) ?? 0
        }
    }
}

/// Flat, immutable copies of a rule list's PCRE2 codes and prefilter programs; the `PCRE2Pattern`s
/// that own the codes live as long as the rule set that holds both.
final class UAPRuleStorage: @unchecked Sendable {
    // @unchecked: written only in init, freed in deinit; the codes are read-only to PCRE2.
    private let codes: UnsafeMutablePointer<OpaquePointer>
    private let jit: UnsafeMutablePointer<Bool>
    private let filterStarts: UnsafeMutablePointer<Int32>
    private let filterCode: UnsafeMutablePointer<UInt16>
    private let count: Int

    init(_ patterns: [PCRE2Pattern], filters: [[UInt16]]) {
        count = patterns.count
        codes = .allocate(capacity: max(count, 1))
        jit = .allocate(capacity: max(count, 1))
        filterStarts = .allocate(capacity: max(count, 1))
        let total = filters.reduce(0) { $0 + $1.count }
        filterCode = .allocate(capacity: max(total, 1))
        var next = 0
        for (index, pattern) in patterns.enumerated() {
            (codes + index).initialize(to: pattern.code)
            (jit + index).initialize(to: pattern.jitCompiled)
            (filterStarts + index).initialize(to: Int32(next))
            for word in filters[index] { (filterCode + next).initialize(to: word); next += 1 }
        }
    }

    deinit {
        codes.deallocate(); jit.deallocate(); filterStarts.deallocate(); filterCode.deallocate()
    }

    /// The first rule that passes the prefilter (when given) and matches.
    @inline(__always)
    func firstMatch(_ agent: UnsafeRawBufferPointer, _ matcher: PCRE2Matcher, trigrams: TrigramSet?) -> Int? {
        for index in 0..<count {
            if let trigrams, !trigrams.passes(filterCode + Int(filterStarts[index])) { continue }
            if PCRE2Pattern.matches(codes[index], jit: jit[index], agent, matcher) { return index }
        }
        return nil
    }
}

extension String {
    /// The string with "$1" replaced by `text` (load time: expanding a template over group 1's texts).
    func replacingFirstGroup(with text: String) -> String {
        replacing("$1", with: text).trimmingCharacters()
    }

    func trimmingCharacters() -> String {
        String(drop(while: { $0 == " " })).trimmingTrailingSpaces()
    }
}
