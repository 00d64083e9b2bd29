// A batch's clicks summed by roll-up group in memory, then written as one upsert per group and level
// (SQLiteRollups.levels; ClickHouse writes the same groups its own way): a batch of thousands of clicks
// from a few campaigns touches a few dozen roll-up rows. The groups live in an open-addressing table
// with a cheap hash of their own (Swift's Dictionary hashes with SipHash, ~450 instructions a click more).
// The tally and its table (ClickGroups) stay in one file: the table exists only for the tally.
import TrackstarCore
import TrackstarStore

/// The tally of one batch's clicks. Keys point at the OS and browser names in the mapped log (valid
/// for the batch); nothing is copied per click.
struct ClickTally {
    /// The finest group: UTC hour and every column any level keeps.
    struct Group: Equatable {
        var hour: Int64
        var offerID: UInt32, affID: UInt32
        var country: UInt16
        var device: ClickDevice
        var reason: TrafficReason
        var smartlink: UInt32
        var os: UnsafeRawBufferPointer, browser: UnsafeRawBufferPointer

        static func == (a: Group, b: Group) -> Bool {
            a.hour == b.hour && a.offerID == b.offerID && a.affID == b.affID && a.country == b.country && a.device == b.device
                && a.reason == b.reason && a.smartlink == b.smartlink && same(a.os, b.os) && same(a.browser, b.browser)
        }

        static func same(_ x: UnsafeRawBufferPointer, _ y: UnsafeRawBufferPointer) -> Bool {
            x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0)
        }

        static var none: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }
    }

    struct Figures { var clicks: Int64 = 0, unique: Int64 = 0, bots: Int64 = 0 }

    /// The batch's groups at the finest level.
    var groups = ClickGroups()
    /// One level's sums while flushing (kept to reuse its storage).
    var scratch = ClickGroups()

    /// Counts one exported click.
    mutating func add(_ row: ClickRow) {
        let head = row.enrichment, tail = row.enrichmentTail
        let hour = row.timeMillis / CivilTime.hourMillis  // truncated, as SQLite's `time_ms / 3600000`
        let key = Group(hour: hour, offerID: row.offerID, affID: row.affID, country: head.country, device: head.device,
                        reason: tail.traffic.reason, smartlink: tail.traffic.smartlink, os: tail.os, browser: tail.browser)
        groups.add(key, Figures(clicks: 1, unique: head.unique ? 1 : 0, bots: head.botReason == .none ? 0 : 1))
    }

    /// Writes the groups' sums to every level of `SQLiteRollups.levels` (`upserts[i]` is
    /// `SQLiteRollups.clickUpsert(levels[i])`), and empties the tally.
    mutating func flush(_ upserts: [SQLiteStatement]) throws(ExportError) {
        for (shape, upsert) in zip(ClickTally.shapes, upserts) {
            scratch.removeAll(keepingCapacity: true)
            for (group, figures) in groups { scratch.add(shape.key(group), figures) }
            for (group, figures) in scratch {
                shape.bind(group, figures, upsert)
                try upsert.run()
                BackgroundPriority.yieldIfDue()  // thousands of upserts a batch: SQLiteYield.swift
            }
        }
        scratch.removeAll(keepingCapacity: true)
        groups.removeAll(keepingCapacity: true)
    }

    /// A level's key and columns, worked out once from its column names.
    struct Shape {
        enum Column { case offer, affiliate, country, device, os, browser, reason, smartlink }
        let columns: [Column]
        let hoursPerBucket: Int64

        init(_ level: SQLiteRollups.Level) {
            columns = level.clickDimensions.map { name in
                switch name {
                case "offer_id": .offer
                case "aff_id": .affiliate
                case "country": .country
                case "device": .device
                case "os": .os
                case "browser": .browser
                case "trafficback_reason": .reason
                case "smartlink": .smartlink
                default: fatalError("ClickTally: no click column \(name)")
                }
            }
            hoursPerBucket = level.bucketMillis / CivilTime.hourMillis
        }

        /// `group` with the bucket of this level and the columns it lacks emptied.
        func key(_ group: Group) -> Group {
            var key = Group(hour: group.hour / hoursPerBucket, offerID: 0, affID: 0, country: 0, device: .unknown, reason: .none,
                            smartlink: 0, os: Group.none, browser: Group.none)
            for column in columns {
                switch column {
                case .offer: key.offerID = group.offerID
                case .affiliate: key.affID = group.affID
                case .country: key.country = group.country
                case .device: key.device = group.device
                case .os: key.os = group.os
                case .browser: key.browser = group.browser
                case .reason: key.reason = group.reason
                case .smartlink: key.smartlink = group.smartlink
                }
            }
            return key
        }

        /// Binds a group of this level and its figures to the level's upsert.
        func bind(_ group: Group, _ figures: Figures, _ st: SQLiteStatement) {
            st.bind(1, group.hour)
            for (i, column) in columns.enumerated() {
                let index = Int32(i + 2)
                switch column {
                case .offer: st.bind(index, Int64(group.offerID))
                case .affiliate: st.bind(index, Int64(group.affID))
                case .country:
                    var country = group.country.littleEndian
                    withUnsafeBytes(of: &country) { st.bindCopy(index, group.country == 0 ? Group.none : $0) }
                case .device: st.bind(index, group.device.name)
                case .os: st.bind(index, group.os)
                case .browser: st.bind(index, group.browser)
                case .reason: st.bind(index, group.reason.name)
                case .smartlink: st.bind(index, Int64(group.smartlink))
                }
            }
            let at = Int32(columns.count + 2)
            st.bind(at, figures.clicks); st.bind(at + 1, figures.unique); st.bind(at + 2, figures.bots)
        }
    }

    static let shapes = SQLiteRollups.levels.map(Shape.init)
}

extension ClickTally.Figures {
    mutating func add(_ other: ClickTally.Figures) { clicks += other.clicks; unique += other.unique; bots += other.bots }
}

/// Groups and their figures in an open-addressing table (linear probing, at most half full, grown
/// by doubling), iterated in insertion order. Emptying it keeps its storage.
struct ClickGroups: Sequence {
    typealias Group = ClickTally.Group
    typealias Figures = ClickTally.Figures
    /// Slots; an hour of -1 marks a free one (hours are never negative).
    private var keys: [Group]
    private var sums: [Figures]
    /// The slots in use, in the order their groups came.
    private var used: [Int32] = []
    private var mask: Int

    static var free: Group { Group(hour: -1, offerID: 0, affID: 0, country: 0, device: .unknown, reason: .none, smartlink: 0,
                            os: Group.none, browser: Group.none) }

    /// `capacity`: slots, a power of two.
    init(capacity: Int = 1024) {
        keys = Array(repeating: ClickGroups.free, count: capacity)
        sums = Array(repeating: Figures(), count: capacity)
        mask = capacity - 1
    }

    var count: Int { used.count }
    var isEmpty: Bool { used.isEmpty }

    /// Adds `figures` to `key`'s sums (a new group starts at zero).
    mutating func add(_ key: Group, _ figures: Figures) {
        var i = Int(truncatingIfNeeded: ClickGroups.hash(key)) & mask
        while true {
            if keys[i].hour < 0 {
                keys[i] = key
                sums[i] = figures
                used.append(Int32(i))
                if used.count * 2 > keys.count { grow() }
                return
            }
            if keys[i] == key { sums[i].add(figures); return }
            i = (i + 1) & mask
        }
    }

    /// The figures of `key` (nil: no click of it).
    func figures(_ key: Group) -> Figures? {
        var i = Int(truncatingIfNeeded: ClickGroups.hash(key)) & mask
        while keys[i].hour >= 0 {
            if keys[i] == key { return sums[i] }
            i = (i + 1) & mask
        }
        return nil
    }

    mutating func removeAll(keepingCapacity: Bool = true) {
        for slot in used { keys[Int(slot)] = ClickGroups.free }
        used.removeAll(keepingCapacity: true)
    }

    private mutating func grow() {
        let old = zip(used.map { keys[Int($0)] }, used.map { sums[Int($0)] })
        self = ClickGroups(capacity: keys.count * 2)
        for (key, figures) in old { add(key, figures) }
    }

    func makeIterator() -> AnyIterator<(Group, Figures)> {
        var at = 0
        return AnyIterator {
            guard at < used.count else { return nil }
            let slot = Int(used[at])
            at += 1
            return (keys[slot], sums[slot])
        }
    }

    /// A multiply-xor hash of the integer columns and of each name's length and first and last
    /// eight bytes (names that share those are told apart by `==`).
    static func hash(_ g: Group) -> UInt64 {
        var h = UInt64(bitPattern: g.hour) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ (UInt64(g.offerID) << 32 | UInt64(g.affID))) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (UInt64(g.country) << 48 | UInt64(g.device.rawValue) << 40 | UInt64(g.reason.rawValue) << 32 | UInt64(g.smartlink)))
            &* 0x94D0_49BB_1331_11EB
        h = (h ^ name(g.os)) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ name(g.browser)) &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 31)
    }

    static func name(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let n = bytes.count
        if n >= 8 {
            let first = bytes.loadUnaligned(as: UInt64.self), last = bytes.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
            return (first &* 0x2127_599B_F432_5C37) ^ last ^ UInt64(n)
        }
        var v = UInt64(n)
        for byte in bytes { v = v << 8 | UInt64(byte) }
        return v
    }
}

#if canImport(Glibc)
import Glibc
#endif
