// Interned family names (OS and browser): ids assigned in the order the rule file first names them,
// 0 being "Other", and an open-addressing index so a captured family text becomes an id without
// allocating. Names compare ignoring ASCII case, since case-insensitive rules capture any spelling.

/// Builds a name table at load time.
struct FamilyNamesBuilder {
    private(set) var names: [String] = ["Other"]
    private var ids: [String: UInt16] = ["other": 0]

    /// The id of `name`, adding it if new ("" is "Other"). Ids stop at 65,535 names; later ones are Other.
    @discardableResult
    mutating func intern(_ name: String) -> UInt16 {
        let trimmed = name.trimmingTrailingSpaces()
        guard !trimmed.isEmpty else { return 0 }
        let key = String(decoding: trimmed.utf8.map(AgentSubstrings.lower), as: UTF8.self)
        if let id = ids[key] { return id }
        guard names.count < Int(UInt16.max) else { return 0 }
        let id = UInt16(names.count)
        names.append(trimmed)
        ids[key] = id
        return id
    }

    /// The finished, immutable table.
    func build() -> FamilyNames { FamilyNames(names) }
}

/// An immutable name table with an allocation-free lookup by bytes.
struct FamilyNames: Sendable {
    /// Names by id; 0 is "Other".
    let names: [String]
    private let bytes: [UInt8]                       // every name, lower-cased, back to back
    private let spans: [(start: Int32, count: Int32)]
    private let slots: [UInt16]                      // open addressing over ids; 0xFFFF = empty
    private let mask: Int

    init(_ names: [String]) {
        self.names = names
        var bytes: [UInt8] = [], spans: [(start: Int32, count: Int32)] = []
        for name in names {
            spans.append((Int32(bytes.count), Int32(name.utf8.count)))
            bytes += name.utf8.map(AgentSubstrings.lower)
        }
        var size = 16
        while size < names.count * 2 { size <<= 1 }
        var slots = [UInt16](repeating: 0xFFFF, count: size)
        for (id, span) in spans.enumerated() {
            let hash = bytes.withUnsafeBytes { Self.hash(UnsafeRawBufferPointer(rebasing: $0[Int(span.start)..<Int(span.start + span.count)])) }
            var slot = Int(truncatingIfNeeded: hash) & (size - 1)
            while slots[slot] != 0xFFFF { slot = (slot + 1) & (size - 1) }
            slots[slot] = UInt16(id)
        }
        self.bytes = bytes; self.spans = spans; self.slots = slots; mask = size - 1
    }

    /// The name of `id`, "Other" when out of range.
    func name(_ id: UInt16) -> String { Int(id) < names.count ? names[Int(id)] : "Other" }

    /// The id of `name` (any case), or nil.
    func id(named name: String) -> UInt16? {
        Array(name.utf8).withUnsafeBytes { id(of: $0) }
    }

    /// The id of the name spelled by `text` (any case, trailing spaces ignored), or nil. No allocation.
    func id(of text: UnsafeRawBufferPointer) -> UInt16? {
        var count = text.count
        while count > 0, text[count - 1] == UInt8(ascii: " ") { count -= 1 }
        let key = UnsafeRawBufferPointer(rebasing: text[0..<count])
        var slot = Int(truncatingIfNeeded: Self.hash(key)) & mask
        return slots.withUnsafeBufferPointer { slots in
            bytes.withUnsafeBufferPointer { bytes in
                while slots[slot] != 0xFFFF {
                    let id = slots[slot]
                    let span = spans[Int(id)]
                    if Int(span.count) == count {
                        var equal = true
                        for i in 0..<count where AgentSubstrings.lower(key[i]) != bytes[Int(span.start) + i] { equal = false; break }
                        if equal { return id }
                    }
                    slot = (slot + 1) & mask
                }
                return nil
            }
        }
    }

    /// FNV-1a over lower-cased bytes.
    private static func hash(_ text: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text { hash = (hash ^ UInt64(AgentSubstrings.lower(byte))) &* 0x100_0000_01B3 }
        return hash
    }
}
