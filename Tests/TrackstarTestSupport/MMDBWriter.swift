// A writer of MaxMind DB files (format 2.0, https://maxmind.github.io/MaxMind-DB/) for tests: a binary
// search tree of 24-bit records over IPv6 (IPv4 under ::/96), a data section and the metadata, enough
// for libmaxminddb to open the file as it opens GeoLite2 or GeoIP2 ones.

/// Writes MaxMind DB files: an IPv6 tree (IPv4 under ::/96) of 24-bit records and the data they hold.
public struct MMDBWriter {
    public init() {}
    /// A value of the format's data section.
    public indirect enum Value {
        case map([(String, Value)]), string(String), uint16(UInt16), uint32(UInt32), uint64(UInt64), boolean(Bool), array([Value])
    }
    enum Record { case empty, node(Int), data(Int) }

    private var nodes: [(Record, Record)] = [(.empty, .empty)]
    private var data: [UInt8] = []
    /// Nodes of the search tree so far.
    public var nodeCount: Int { nodes.count }

    /// Maps an IPv4 network (stored under ::/96, as MaxMind's IPv6 files keep IPv4) to `value`.
    public mutating func insert(v4 address: (UInt8, UInt8, UInt8, UInt8), prefix: Int, _ value: Value) {
        let bits = UInt64(address.0) << 24 | UInt64(address.1) << 16 | UInt64(address.2) << 8 | UInt64(address.3)
        insert(high: 0, low: bits, prefix: 96 + prefix, value)
    }

    /// Maps the network of `prefix` bits at (`high`, `low`) to `value`.
    public mutating func insert(high: UInt64, low: UInt64 = 0, prefix: Int, _ value: Value) {
        let offset = data.count
        data += Self.encode(value)
        var node = 0
        for bit in 0..<prefix {
            let one = bit < 64 ? (high >> UInt64(63 - bit)) & 1 == 1 : (low >> UInt64(127 - bit)) & 1 == 1
            if bit == prefix - 1 {
                if one { nodes[node].1 = .data(offset) } else { nodes[node].0 = .data(offset) }
                return
            }
            let next = one ? nodes[node].1 : nodes[node].0
            if case .node(let index) = next { node = index; continue }
            nodes.append((.empty, .empty))
            if one { nodes[node].1 = .node(nodes.count - 1) } else { nodes[node].0 = .node(nodes.count - 1) }
            node = nodes.count - 1
        }
    }

    /// The file's bytes: tree, data section, metadata.
    public func file() -> [UInt8] {
        var out: [UInt8] = []
        func record(_ record: Record) {
            let value: Int
            switch record {
            case .empty: value = nodes.count
            case .node(let index): value = index
            case .data(let offset): value = nodes.count + 16 + offset
            }
            out += [UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
        for node in nodes { record(node.0); record(node.1) }
        out += [UInt8](repeating: 0, count: 16)
        out += data
        out += [0xAB, 0xCD, 0xEF] + Array("MaxMind.com".utf8)
        out += Self.encode(.map([("node_count", .uint32(UInt32(nodes.count))), ("record_size", .uint16(24)), ("ip_version", .uint16(6)),
                                 ("database_type", .string("Trackstar-Test")), ("languages", .array([.string("en")])),
                                 ("binary_format_major_version", .uint16(2)), ("binary_format_minor_version", .uint16(0)),
                                 ("build_epoch", .uint64(1_790_000_000)), ("description", .map([("en", .string("test"))]))]))
        return out
    }

    /// The MaxMind DB data encoding: a control byte (type in the top 3 bits, or 0 and an extended type
    /// byte; size in the low 5 bits), then the payload.
    public static func encode(_ value: Value) -> [UInt8] {
        func control(_ type: Int, _ size: Int) -> [UInt8] {
            precondition(size < 29)
            return type <= 7 ? [UInt8(type << 5 | size)] : [UInt8(size), UInt8(type - 7)]
        }
        func unsigned(_ type: Int, _ value: UInt64) -> [UInt8] {
            var bytes: [UInt8] = []
            var rest = value
            while rest > 0 { bytes.insert(UInt8(rest & 0xFF), at: 0); rest >>= 8 }
            return control(type, bytes.count) + bytes
        }
        switch value {
        case .string(let text): return control(2, text.utf8.count) + Array(text.utf8)
        case .uint16(let number): return unsigned(5, UInt64(number))
        case .uint32(let number): return unsigned(6, UInt64(number))
        case .uint64(let number): return unsigned(9, number)
        case .boolean(let flag): return control(14, flag ? 1 : 0)
        case .map(let pairs): return control(7, pairs.count) + pairs.flatMap { encode(.string($0.0)) + encode($0.1) }
        case .array(let items): return control(11, items.count) + items.flatMap(encode)
        }
    }
}
