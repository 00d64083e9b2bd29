// A sender profile compiled for the postback path: per name index (PostbackNames) the field it
// carries, the status words, the decimal forms and the placeholder words. The catalog holds one per
// profile in use; an offer points at its own, so choosing the profile is one field read.
import TrackstarCore
import TrackstarStore
import TrackstarConfiguration

/// A bit set over name indices (`PostbackNames.maxNames` = 128 bits).
struct NameSet: Equatable {
    var low: UInt64 = 0
    var high: UInt64 = 0

    /// `i` in 0..<128.
    @inline(__always) func contains(_ i: Int) -> Bool { ((i < 64 ? low : high) >> UInt64(i & 63)) & 1 != 0 }
    @inline(__always) mutating func insert(_ i: Int) { if i < 64 { low |= 1 << UInt64(i) } else { high |= 1 << UInt64(i - 64) } }
    @inline(__always) mutating func remove(_ i: Int) {
        if i < 0 { return }
        if i < 64 { low &= ~(1 << UInt64(i)) } else { high &= ~(1 << UInt64(i - 64)) }
    }
    @inline(__always) func intersection(_ other: NameSet) -> NameSet { NameSet(low: low & other.low, high: high & other.high) }
    var count: Int { low.nonzeroBitCount + high.nonzeroBitCount }
    var isEmpty: Bool { low | high == 0 }
}

/// One profile, ready for the request path. Immutable.
final class PostbackProfile: @unchecked Sendable {  // immutable after init; `fieldOf` freed in deinit
    let name: [UInt8]
    /// Per name index: the field it carries in this profile; meaningful only for indices in `mapped`
    /// (the others hold `.clickID`). Stored as the enum, so reading it needs no `init(rawValue:)` check.
    let fieldOf: UnsafeMutablePointer<ParamField>
    /// The name indices this profile maps, and those that carry its click ID.
    let mapped: NameSet
    let clickNames: NameSet
    let statusWords: [(word: [UInt8], status: ConversionStatus)]
    let decimalComma: Bool
    let currencySign: Bool
    let placeholders: PlaceholderWords
    /// `ParamField` bits of the fields that must be present.
    let required: UInt32

    init(_ config: PostbackProfileConfig, names table: PostbackNames) {
        name = Array(config.name.utf8)
        fieldOf = .allocate(capacity: max(1, table.names.count))
        fieldOf.initialize(repeating: .clickID, count: max(1, table.names.count))
        var mapped = NameSet(), clickNames = NameSet()
        for field in PostbackField.allCases {
            for parameter in config.names(field) {
                guard let i = Array(parameter.utf8).withUnsafeBytes({ table.index($0) }) else { continue }
                fieldOf[i] = ParamField(field)
                mapped.insert(i)
                if field == .clickID { clickNames.insert(i) }
            }
        }
        self.mapped = mapped
        self.clickNames = clickNames
        var words: [(word: [UInt8], status: ConversionStatus)] = []
        for (status, list) in [(ConversionStatus.approved, config.words[.approved]), (.pending, config.words[.pending]),
                               (.rejected, config.words[.rejected])] {
            for word in list ?? [] { words.append((Array(word.utf8), status)) }
        }
        statusWords = words
        decimalComma = config.decimalComma
        currencySign = config.currencySign
        placeholders = PlaceholderWords(config.placeholders)
        required = config.required.reduce(0) { $0 | 1 << UInt32(ParamField($1).rawValue) }
    }

    deinit { fieldOf.deallocate() }

    /// The status a word means (ASCII case ignored), or nil when the profile does not know it.
    func status(_ word: UnsafeRawBufferPointer) -> ConversionStatus? {
        for entry in statusWords where ASCIIFold.equal(entry.word, word) { return entry.status }
        return nil
    }

    /// An amount as this sender writes it (`12.34`; with `decimal_comma` `12,34`; with `currency_sign`
    /// `$12.34`, `12.34 €`), as micros; nil when it is not one.
    func micros(_ text: UnsafeRawBufferPointer) -> Int64? {
        var value = text
        if currencySign { value = SenderAmount.withoutSign(value) }
        guard decimalComma, let comma = value.firstIndex(of: UInt8(ascii: ",")) else { return Decimal.parseMicros(value) }
        guard value.count <= 24, !value.contains(UInt8(ascii: ".")), value.lastIndex(of: UInt8(ascii: ",")) == comma else { return nil }
        return withUnsafeTemporaryAllocation(byteCount: 24, alignment: 1) { buffer in
            buffer.copyMemory(from: value)
            buffer[comma] = UInt8(ascii: ".")
            return Decimal.parseMicros(UnsafeRawBufferPointer(rebasing: buffer[0..<value.count]))
        }
    }
}

/// Currency signs around a sender's amount.
enum SenderAmount {
    /// `value` without one leading or trailing currency sign (`$`, or UTF-8 `€ £ ¥ ₽ ₹`) and the spaces next to it.
    static func withoutSign(_ value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0, end = value.count
        func trimSpaces() {
            while start < end && value[start] == UInt8(ascii: " ") { start += 1 }
            while end > start && value[end - 1] == UInt8(ascii: " ") { end -= 1 }
        }
        trimSpaces()
        if start < end {
            if value[start] == UInt8(ascii: "$") { start += 1 } else if let n = signLength(value, at: start, end: end) { start += n } else if value[end - 1] == UInt8(ascii: "$") {
                end -= 1
            } else {
                for n in [2, 3] where end - n >= start && signLength(value, at: end - n, end: end) == n { end -= n; break }
            }
        }
        trimSpaces()
        return UnsafeRawBufferPointer(rebasing: value[start..<end])
    }

    /// The length of the UTF-8 sign at `i`: £ ¥ (C2 A3, C2 A5), € ₽ ₹ (E2 82 AC, E2 82 BD, E2 82 B9).
    static func signLength(_ v: UnsafeRawBufferPointer, at i: Int, end: Int) -> Int? {
        if i + 2 <= end && v[i] == 0xC2 && (v[i + 1] == 0xA3 || v[i + 1] == 0xA5) { return 2 }
        if i + 3 <= end && v[i] == 0xE2 && v[i + 1] == 0x82 && (v[i + 2] == 0xAC || v[i + 2] == 0xBD || v[i + 2] == 0xB9) { return 3 }
        return nil
    }
}

/// Every profile in use, compiled: the name table and each profile, with the click-ID candidate order.
final class ProfileTable: @unchecked Sendable {  // immutable after init
    let names: PostbackNames
    let byName: [String: PostbackProfile]
    /// `[server] postback_profile`.
    let serverDefault: PostbackProfile
    /// Name indices that carry a click ID in some profile in use: the default profile's first (in its
    /// order), then the rest. A postback's click ID is looked for in this order before its offer is known.
    /// A raw buffer: iterating an Array held by a class retains its storage on every request.
    let clickCandidates: UnsafeMutablePointer<Int>
    let clickCandidateCount: Int

    init(_ config: TrackstarConfig) {
        let all = TrackstarConfiguration.PostbackProfiles.all(config.postbackProfiles)
        let defaultName = config.server.postbackProfile
        let inUse = Set([defaultName] + config.offers.compactMap(\.postbackProfile))
        let used = all.filter { inUse.contains($0.name) }
        var order: [[UInt8]] = []
        var seen = Set<[UInt8]>()
        // The default profile's names first, so its click-ID names lead the candidate order.
        for profile in used.filter({ $0.name == defaultName }) + used.filter({ $0.name != defaultName }) {
            for field in PostbackField.allCases {
                for name in profile.names(field) where seen.insert(Array(name.utf8)).inserted { order.append(Array(name.utf8)) }
            }
        }
        names = PostbackNames(Array(order.prefix(PostbackNames.maxNames)))
        var compiled: [String: PostbackProfile] = [:]
        for profile in used { compiled[profile.name] = PostbackProfile(profile, names: names) }
        let fallback = TrackstarConfiguration.PostbackProfiles.builtin(TrackstarConfiguration.PostbackProfiles.defaultName)!
        serverDefault = compiled[defaultName] ?? PostbackProfile(fallback, names: names)
        byName = compiled
        var candidates: [Int] = []
        for profile in [serverDefault] + used.compactMap({ compiled[$0.name] }) {
            for i in 0..<names.names.count where profile.clickNames.contains(i) && !candidates.contains(i) { candidates.append(i) }
        }
        clickCandidates = .allocate(capacity: max(1, candidates.count))
        clickCandidates.initialize(from: candidates, count: candidates.count)
        clickCandidateCount = candidates.count
    }

    deinit { clickCandidates.deallocate() }

    /// The built-in default profile alone (offers compiled without a catalog, in tests and tools).
    static let builtinDefault = ProfileTable(TrackstarConfig())

    /// The profile of an offer that chose `name` (nil: the server default).
    func profile(_ name: String?) -> PostbackProfile { name.flatMap { byName[$0] } ?? serverDefault }
}

extension ParamField {
    /// The parameter slot of a profile field.
    init(_ field: PostbackField) { self.init(rawValue: ParamField.clickID.rawValue + field.rawValue)! }
}
