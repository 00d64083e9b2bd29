// Flattens nested networks (a /8 with /24s carved out of it) into non-overlapping ranges, each the
// most specific network's answer, as libloc's own lookup answers. One sorted sweep with a stack of
// open networks; adjacent ranges with the same answer merge, gaps become the unknown answer (index 0).

/// One network of a family, as inclusive bounds in that family's key space, with its answer's index.
struct GeoNetwork {
    var first: UInt64
    var last: UInt64
    var value: UInt32
}

/// Builds one family's flat table: `starts[i]` begins a range that runs to `starts[i + 1] - 1` (the last
/// to `keyMax`), answered by `values[i]`. `starts[0]` is always 0, so every key has a range.
struct GeoRangeTableBuilder {
    private(set) var starts: [UInt64] = []
    private(set) var values: [UInt32] = []
    private var stack: [GeoNetwork] = []
    private var cursor: UInt64 = 0
    private var passedEnd = false
    private let keyMax: UInt64

    /// A builder for keys 0...keyMax (UInt32.max for IPv4, UInt64.max for IPv6's high word).
    init(keyMax: UInt64) { self.keyMax = keyMax }

    /// Flattens `networks` (any order; nested and duplicate networks allowed, later duplicates win).
    static func flatten(_ networks: [GeoNetwork], keyMax: UInt64) -> (starts: [UInt64], values: [UInt32]) {
        // Parents before children: by first key, then the wider network (larger last) first.
        let sorted = networks.enumerated().sorted { a, b in
            if a.element.first != b.element.first { return a.element.first < b.element.first }
            if a.element.last != b.element.last { return a.element.last > b.element.last }
            return a.offset < b.offset
        }
        var builder = GeoRangeTableBuilder(keyMax: keyMax)
        for (_, network) in sorted { builder.add(network) }
        builder.finish()
        return (builder.starts, builder.values)
    }

    /// Adds the next network in sorted order.
    private mutating func add(_ network: GeoNetwork) {
        // 1. Close the open networks that end before this one starts, innermost first.
        while let top = stack.last, top.last < network.first {
            stack.removeLast()
            emitThrough(top.last, top.value)
        }
        // 2. The gap up to this network belongs to the enclosing network, or to nobody.
        if !passedEnd, cursor < network.first {
            emit(cursor, stack.last?.value ?? 0)
            cursor = network.first
        }
        // 3. It is open until a later network starts past its end.
        stack.append(network)
    }

    /// Closes every open network, then gives what is left of the key space to nobody.
    private mutating func finish() {
        while let top = stack.popLast() { emitThrough(top.last, top.value) }
        if !passedEnd { emit(cursor, 0) }
    }

    /// Emits `value` from the cursor through `last`, if the cursor has not passed it.
    private mutating func emitThrough(_ last: UInt64, _ value: UInt32) {
        guard !passedEnd, cursor <= last else { return }
        emit(cursor, value)
        if last == keyMax { passedEnd = true } else { cursor = last + 1 }
    }

    /// Starts a range at `start` unless the previous range has the same answer (then it grows).
    private mutating func emit(_ start: UInt64, _ value: UInt32) {
        if values.last == value { return }
        starts.append(start)
        values.append(value)
    }
}
