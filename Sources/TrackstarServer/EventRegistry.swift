// `DATA_DIR/events`: the stable id of every event name each offer has ever had. Conversion records
// and index keys carry that id, so adding, reordering or removing `[offers.events.*]` never changes
// what a stored conversion means. The file is written before a catalog that uses a new id is published.
import TrackstarCore
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

/// Offer → event name → id (0…255, never reused; `conversion` is 0). Ids are handed out in
/// configuration order (`conversion` first, then the offer's events as written), which is exactly the
/// position earlier releases stored in the record's event byte: a data dir written before this file
/// existed is seeded from the configuration it is first started with, so its records keep their meaning
/// as long as that configuration lists the events as the earlier release last ran with.
struct EventRegistry: Sendable, Equatable {
    static let fileName = "events"
    static let header = "# Trackstar event ids: OFFER ID NAME. Written by the server; never edit or reuse an id."
    private(set) var offers: [UInt32: [String: UInt8]] = [:]

    static func path(dataDir: String) -> String { dataDir + "/" + fileName }

    /// The registry in `dataDir`, empty if the file does not exist yet.
    static func load(dataDir: String) throws(StartupError) -> EventRegistry {
        let path = path(dataDir: dataDir)
        var registry = EventRegistry()
        guard access(path, F_OK) == 0 else { return registry }
        let text = try FileText.read(path)
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, let offer = UInt32(parts[0]), let id = UInt8(parts[1]), !parts[2].isEmpty else {
                throw StartupError("\(path):\(number + 1): expected `OFFER ID NAME`; restore the file from a backup of the data dir")
            }
            let name = String(parts[2])
            if registry.offers[offer]?[name] != nil || registry.offers[offer]?.values.contains(id) == true {
                throw StartupError("\(path):\(number + 1): offer \(offer) lists event \(name) or id \(id) twice; restore the file from a backup")
            }
            registry.offers[offer, default: [:]][name] = id
        }
        return registry
    }

    /// Gives every configured event of every offer an id (the next free one for a name not seen
    /// before); returns whether anything was added.
    mutating func admit(_ config: TrackstarConfig) throws(StartupError) -> Bool {
        var changed = false
        for offer in config.offers {
            var ids = offers[offer.id] ?? [:]
            let names = ["conversion"] + offer.events.map(\.name).filter { $0 != "conversion" }
            for name in names where ids[name] == nil {
                let next = ids.values.map { Int($0) + 1 }.max() ?? 0
                guard next <= Int(UInt8.max) else {
                    throw StartupError("offers id \(offer.id): event \(name) would be this offer's 257th event name since the data dir "
                        + "was created (ids are kept in \(EventRegistry.fileName) and never reused); give the events a new offer id")
                }
                ids[name] = UInt8(next)
                changed = true
            }
            offers[offer.id] = ids
        }
        return changed
    }

    /// The id of `name` for `offer`, if it was ever configured.
    func id(offer: UInt32, name: String) -> UInt8? { offers[offer]?[name] }

    /// Writes the file: temp file, fsync, rename, fsync of the directory.
    func save(dataDir: String) throws(StartupError) {
        var text = EventRegistry.header + "\n"
        for offer in offers.keys.sorted() {
            for (name, id) in offers[offer]!.sorted(by: { $0.value < $1.value }) { text += "\(offer) \(id) \(name)\n" }
        }
        let path = EventRegistry.path(dataDir: dataDir), temp = path + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw StartupError("cannot create \(temp): \(String(cString: strerror(errno)))") }
        let written = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == text.utf8.count, synced else { throw StartupError("cannot write \(temp): \(String(cString: strerror(errno)))") }
        guard rename(temp, path) == 0 else { throw StartupError("cannot rename \(temp): \(String(cString: strerror(errno)))") }
        SegmentDirectory.sync(dataDir)
    }

    /// Loads the registry, admits `config`'s events and saves it if that added any.
    static func update(dataDir: String, with config: TrackstarConfig) throws(StartupError) -> EventRegistry {
        var registry = try load(dataDir: dataDir)
        if try registry.admit(config) || access(path(dataDir: dataDir), F_OK) != 0 { try registry.save(dataDir: dataDir) }
        return registry
    }
}

/// One offer's event names by id, for naming stored conversions (including events since removed
/// from the configuration) and finding a name's id without allocating.
final class EventNames: Sendable {
    /// Indexed by id; empty for an id never given out.
    let names: [[UInt8]]

    init(_ ids: [String: UInt8]) {
        var names = [[UInt8]](repeating: [], count: (ids.values.max().map { Int($0) } ?? -1) + 1)
        for (name, id) in ids { names[Int(id)] = Array(name.utf8) }
        self.names = names
    }

    /// The id of the event named `name`, if the offer ever had it.
    func id(_ name: UnsafeRawBufferPointer) -> Int? {
        for (id, known) in names.enumerated() where !known.isEmpty && Bytes.equal(known, name) { return id }
        return nil
    }

    /// The name of event `id` (empty if unknown).
    func name(_ id: Int) -> [UInt8] { id < names.count ? names[id] : [] }
}
