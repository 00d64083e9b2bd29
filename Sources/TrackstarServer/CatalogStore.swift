// Where API changes to the catalog are kept: one interface (`CatalogStore`) and the local store, an
// append-only JSON-lines file in the data dir synced before a write is answered. A shared store
// (PostgreSQL: a table of changes, NOTIFY to wake the other nodes) would implement the same interface.
#if canImport(Glibc)
import Glibc
#endif
import TrackstarCore
import TrackstarIO
import TrackstarConfiguration

/// One accepted change to one catalog object; also the audit record (who, when, before and after).
struct CatalogChange: Sendable, Equatable {
    /// Position in the store, from 1, gap-free.
    var sequence: Int64
    var atMillis: Int64
    /// The token name that made it.
    var who: String
    /// The collection (`offers`, `affiliates`, …) and the object's key in it.
    var collection: String
    var key: String
    /// `create`, `replace`, `patch` or `archive`.
    var action: String
    var before: CatalogValue?
    /// Nil when archived.
    var after: CatalogValue?

    var json: String {
        var pairs: [(String, CatalogValue)] = [
            ("sequence", .integer(sequence)), ("at", .string(UTCTime.text(millis: atMillis, style: .isoMillis))), ("at_ms", .integer(atMillis)),
            ("who", .string(who)), ("collection", .string(collection)), ("key", .string(key)), ("action", .string(action)),
        ]
        if let before { pairs.append(("before", before)) }
        if let after { pairs.append(("after", after)) }
        return CatalogValue.object(pairs).json
    }

    init(sequence: Int64, atMillis: Int64, who: String, collection: String, key: String, action: String,
         before: CatalogValue?, after: CatalogValue?) {
        self.sequence = sequence; self.atMillis = atMillis; self.who = who; self.collection = collection
        self.key = key; self.action = action; self.before = before; self.after = after
    }

    /// Reads one line of the log back; nil when it is not a complete record.
    init?(json line: [UInt8]) {
        guard case .success(let (value, _)) = CatalogJSONReader.parse(line),
              case .integer(let sequence)? = value["sequence"], case .integer(let at)? = value["at_ms"],
              case .string(let who)? = value["who"], case .string(let collection)? = value["collection"],
              case .string(let key)? = value["key"], case .string(let action)? = value["action"] else { return nil }
        self.init(sequence: sequence, atMillis: at, who: who, collection: collection, key: key, action: action,
                  before: value["before"], after: value["after"])
    }
}

/// A catalog store: every accepted change in order, durable once `append` returns.
/// Implementations: `CatalogFileLog` (one node). A shared store would also call back when another
/// node appended (PostgreSQL LISTEN/NOTIFY), and the service would re-read and apply.
protocol CatalogStore: AnyObject, Sendable {
    /// Every change stored, oldest first.
    func load() throws(StartupError) -> [CatalogChange]
    /// Stores a change durably (synced to disk, or committed) before returning.
    func append(_ change: CatalogChange) throws(StartupError)
}

/// `DATA_DIR/catalog.log`: one JSON object per line, fdatasync'd after each append. A last line cut
/// short by a crash was never answered 200, so it is dropped (and truncated away) at start.
final class CatalogFileLog: CatalogStore, @unchecked Sendable {  // appended to under CatalogService's lock only
    let path: String
    let fileSync: FileSync
    private var fd: Int32 = -1

    init(dataDir: String, fileSync: FileSync = .system) {
        path = dataDir + "/catalog.log"
        self.fileSync = fileSync
    }

    deinit { if fd >= 0 { close(fd) } }

    func load() throws(StartupError) -> [CatalogChange] {
        let bytes = try readAll()
        var changes: [CatalogChange] = []
        var start = 0
        var goodEnd = 0
        for (i, byte) in bytes.enumerated() where byte == 0x0a {
            let line = Array(bytes[start..<i])
            start = i + 1
            guard let change = CatalogChange(json: line) else {
                throw StartupError("\(path): line \(changes.count + 1) is not a catalog change; the file is damaged (restore it from a backup)")
            }
            guard change.sequence == Int64(changes.count + 1) else {
                throw StartupError("\(path): change \(change.sequence) where \(changes.count + 1) was expected; the file is damaged")
            }
            changes.append(change)
            goodEnd = i + 1
        }
        if goodEnd < bytes.count {  // an unfinished last line: the write it belonged to was never answered
            Log.notice("catalog log: dropping \(bytes.count - goodEnd) bytes of an unfinished last change", ["file": "\(path)"])
            guard truncate(path, off_t(goodEnd)) == 0 else { throw StartupError("cannot truncate \(path): \(String(cString: strerror(errno)))") }
        }
        return changes
    }

    func append(_ change: CatalogChange) throws(StartupError) {
        if fd < 0 {
            fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw StartupError("cannot open \(path): \(String(cString: strerror(errno)))") }
        }
        let line = Array((change.json + "\n").utf8)
        let end = lseek(fd, 0, SEEK_END)  // where the file is cut back to if this change cannot be stored
        var written = 0
        while written < line.count {
            let n = line.withUnsafeBytes { write(fd, $0.baseAddress! + written, line.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = String(cString: strerror(errno))
                _ = ftruncate(fd, end)  // leave no half line behind
                throw StartupError("cannot write \(path): \(reason)")
            }
            written += n
        }
        guard fileSync.sync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = ftruncate(fd, end)  // answered 503: it must not come back at the next start either
            throw StartupError("cannot sync \(path): \(reason); the change is not stored")
        }
    }

    private func readAll() throws(StartupError) -> [UInt8] {
        switch WholeFile.read(path) {
        case .success(let bytes): return bytes
        case .failure(let failure) where failure.code == ENOENT: return []
        case .failure(let failure): throw StartupError("cannot read \(path): \(failure.reason)")
        }
    }
}
