// The durable side of the cap counters (issue 14): lifetime totals outlive the click logs (segments
// are retired after the longest click_lifetime plus retention_grace), so the snapshot thread keeps a
// tally of every (offer, affiliate) key's counters over the records up to a cursor per shard and
// writes it to DATA_DIR/caps.snapshot — temp file, fsync, rename, fsync of the directory, magic and a
// checksum trailer, as the manifest — before any segment is retired past it. Start-up loads it,
// counts the records after its cursors and sets the live lines from it.
import TrackstarCore
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

/// Counter words of every key seen in the logs, up to `clickCursors` / `conversionCursors`.
/// Used by recovery, then by the snapshot thread and reloads under `lock`.
final class CapTally: @unchecked Sendable {  // guarded by `lock`
    static let fileName = "caps.snapshot"
    static let magic: UInt64 = 0x3130_5350_4143_5354  // "TSCAPS01", little-endian
    private var lock = pthread_mutex_t()
    private(set) var clickCursors: [UInt64]
    private(set) var conversionCursors: [UInt64]
    /// Six words per key (`CapCounter` order), each `window << 40 | count` as in `CapLine`.
    private(set) var words: [UInt64: [UInt64]] = [:]
    /// Caps already logged as reached, by key, counter and window (`Engine.logReachedCaps`).
    var reachedLogged: Set<UInt64> = []

    init(shards: Int) {
        pthread_mutex_init(&lock, nil)
        clickCursors = Array(repeating: 0, count: shards)
        conversionCursors = Array(repeating: 0, count: shards)
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return try body()
    }

    /// `CapLine.replay` on a plain word: the latest window wins.
    static func replayed(_ old: UInt64, window: UInt64) -> UInt64 {
        let stored = old >> CapLine.countBits
        if window < stored { return old }
        let count = stored == window ? old & CapLine.countMask : 0
        return window << CapLine.countBits | (count + 1)
    }

    /// Counts one record against the offer's key and the (offer, affiliate) key. In place: the
    /// snapshot thread runs this for every record since the last snapshot (hundreds of thousands),
    /// so no array is built or copied per record (`words[key, default:]` mutates the stored array).
    private func count(_ first: CapCounter, offer: UInt32, affiliate: UInt32, zone: CapZone, timeMillis: Int64) {
        let windows = zone.slowWindows(timeMillis)
        CapTally.replay(&words[CapBook.key(offer: offer, affiliate: 0), default: CapTally.noWords], first, windows)
        CapTally.replay(&words[CapBook.key(offer: offer, affiliate: affiliate), default: CapTally.noWords], first, windows)
    }

    /// A key's six words before its first record.
    static let noWords = [UInt64](repeating: 0, count: 6)
    /// `advance` looks at the yield clock when `record & clockMask == 0`: every 64 records.
    static let clockMask: UInt64 = 63

    /// Replays one record onto the three counters from `first` (daily, monthly, total) of `entry`.
    private static func replay(_ entry: inout [UInt64], _ first: CapCounter, _ windows: (day: UInt64, month: UInt64)) {
        for i in 0..<3 {
            let counter = CapCounter(rawValue: first.rawValue + i)!
            entry[counter.rawValue] = replayed(entry[counter.rawValue], window: CapPlan.window(counter, windows))
        }
    }

    /// Counts the records of every shard from the cursors up to `clicks[s]` / `conversions[s]`
    /// (each at least the table's retired count). Call with the lock held, or before anyone shares it.
    /// It yields the core by the clock (`BackgroundPriority.yieldIfDue`, looked at every 64 records):
    /// on the snapshot thread it runs for ten seconds of records at a time, next to the loops.
    /// Returns how many retired records were never counted (a lost or missing snapshot file).
    func advance(_ engine: Engine, catalog: Catalog, clicks clickEnds: [UInt64], conversions conversionEnds: [UInt64]) -> UInt64 {
        let utc = CapZone.utc
        var missed: UInt64 = 0
        for (shard, table) in engine.clicks.enumerated() where shard < clickCursors.count {
            if clickCursors[shard] < table.retiredCount { missed += table.retiredCount - clickCursors[shard]; clickCursors[shard] = table.retiredCount }
            while clickCursors[shard] < clickEnds[shard] {
                defer { clickCursors[shard] += 1 }
                if clickCursors[shard] & CapTally.clockMask == 0 { BackgroundPriority.yieldIfDue() }
                guard let slot = table.record(clickCursors[shard]) else { continue }
                let bytes = table.bytes(at: ClickSlot.varOffset(slot), count: ClickSlot.varLength(slot))
                guard ClickSlot.traffic(bytes).countsAgainstCaps else { continue }
                let offer = ClickSlot.offerID(slot)
                count(.dailyClicks, offer: offer, affiliate: ClickSlot.affID(slot), zone: catalog.offer(offer)?.caps?.zone ?? utc,
                      timeMillis: ClickSlot.mintMillis(slot))
            }
        }
        for (shard, table) in engine.conversions.enumerated() where shard < conversionCursors.count {
            if conversionCursors[shard] < table.retiredCount {
                missed += table.retiredCount - conversionCursors[shard]
                conversionCursors[shard] = table.retiredCount
            }
            while conversionCursors[shard] < conversionEnds[shard] {
                defer { conversionCursors[shard] += 1 }
                if conversionCursors[shard] & CapTally.clockMask == 0 { BackgroundPriority.yieldIfDue() }
                guard let record = table.record(conversionCursors[shard]), ConversionRecord.kind(record) == .conversion,
                      ConversionRecord.status(record) != .rejected else { continue }
                let offer = ConversionRecord.offerID(record)
                count(.dailyConversions, offer: offer, affiliate: ConversionRecord.affID(record),
                      zone: catalog.offer(offer)?.caps?.zone ?? utc, timeMillis: ConversionRecord.timeMillis(record))
            }
        }
        return missed
    }

    /// Sets every line of `catalog`'s caps (or only `fresh` keys) from the tally.
    func seed(_ catalog: Catalog, only fresh: Set<UInt64>? = nil) {
        for offer in catalog.offers.values {
            guard let caps = offer.caps else { continue }
            var plans: [(UInt32, CapPlan)] = caps.offer.map { [(UInt32(0), $0)] } ?? []
            plans += zip(caps.affiliateIDs, caps.affiliatePlans).map { ($0, $1) }
            for (affiliate, plan) in plans {
                let key = CapBook.key(offer: offer.id, affiliate: affiliate)
                if let fresh, !fresh.contains(key) { continue }
                let entry = words[key] ?? Array(repeating: 0, count: 6)
                for counter in CapCounter.allCases { plan.line.setRaw(counter, entry[counter.rawValue]) }
            }
        }
    }

    // MARK: File

    func encoded() -> [UInt8] {
        var out: [UInt64] = [CapTally.magic, UInt64(clickCursors.count) | UInt64(words.count) << 32]
        for s in 0..<clickCursors.count { out += [clickCursors[s], conversionCursors[s]] }
        for key in words.keys.sorted() { out.append(key); out += words[key]! }
        var bytes = out.flatMap { w in (0..<8).map { UInt8(truncatingIfNeeded: w >> (8 * UInt64($0))) } }
        let sum = bytes.withUnsafeBytes { Checksum.finish(Checksum.update(0, $0)) }
        bytes += (0..<8).map { UInt8(truncatingIfNeeded: sum >> (8 * UInt64($0))) }
        return bytes
    }

    /// The tally in `bytes`, or why not.
    static func decode(_ bytes: [UInt8]) -> Result<CapTally, StoreError> {
        func word(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[i * 8 + $1]) << (8 * UInt64($1)) } }
        guard bytes.count >= 24, bytes.count % 8 == 0, word(0) == magic else { return .failure(StoreError("not a cap snapshot (magic)")) }
        let shards = Int(word(1) & 0xFFFF_FFFF), keys = Int(word(1) >> 32)
        guard bytes.count == 8 * (2 + 2 * shards + 7 * keys + 1) else { return .failure(StoreError("length \(bytes.count) does not match its header")) }
        let sum = bytes.withUnsafeBytes { Checksum.finish(Checksum.update(0, UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 8)]))) }
        guard sum == word(bytes.count / 8 - 1) else { return .failure(StoreError("checksum mismatch")) }
        let tally = CapTally(shards: shards)
        for s in 0..<shards { tally.clickCursors[s] = word(2 + 2 * s); tally.conversionCursors[s] = word(3 + 2 * s) }
        for k in 0..<keys {
            let at = 2 + 2 * shards + 7 * k
            tally.words[word(at)] = (1...6).map { word(at + $0) }
        }
        return .success(tally)
    }

    /// Writes the tally durably into `directory` (temp, fsync, rename, directory fsync).
    func write(to directory: String) throws(StoreError) {
        let temp = directory + "/" + CapTally.fileName + ".tmp"
        let bytes = encoded()
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CapTally.failure("open", temp) }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            let error = CapTally.failure("write", temp)
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temp, directory + "/" + CapTally.fileName) == 0 else { throw CapTally.failure("rename", temp) }
        SegmentDirectory.sync(directory)
    }

    static func failure(_ call: String, _ path: String) -> StoreError {
        StoreError("\(call) \(path): \(String(cString: strerror(errno)))")
    }

    static func readAll(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }

    /// The tally of `directory`, or a new one (with a note when a file was there but unreadable).
    static func load(from directory: String, shards: Int) -> (CapTally, String?) {
        guard let bytes = readAll(directory + "/" + fileName) else { return (CapTally(shards: shards), nil) }
        switch decode(bytes) {
        case .success(let tally) where tally.clickCursors.count <= shards:
            tally.clickCursors += Array(repeating: 0, count: shards - tally.clickCursors.count)
            tally.conversionCursors += Array(repeating: 0, count: shards - tally.conversionCursors.count)
            return (tally, nil)
        case .success: return (CapTally(shards: shards), "caps: \(fileName) has more shards than the data dir; counting from the logs")
        case .failure(let error): return (CapTally(shards: shards), "caps: \(fileName) is damaged (\(error)); counting from the logs")
        }
    }
}
