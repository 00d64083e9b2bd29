// The data dir's identity: the node id its click IDs carry (`DATA_DIR/node_id`) and the key that
// signs them (`click.key`). Checked at every start, so a data dir is never served under another node
// id, and a new key is never made silently where clicks signed with an old one exist.
import TrackstarCore
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

/// Checks and records which node a data dir belongs to, and loads its key.
public enum NodeIdentity {
    public static let fileName = "node_id"

    /// What a data dir says about itself (read-only; for `inspect`).
    public struct Recorded {
        /// The node id in `node_id`, nil when the file is absent (a new data dir, or one written before
        /// node ids were recorded).
        public var nodeID: Int?
        /// The keys in `click.key`, nil when the file is absent.
        public var codec: ClickIDCodec?
    }

    /// At start: refuses a data dir recorded for another node id, refuses to replace a lost key where
    /// clicks exist, creates a key (with a warning) for a new data dir, and records the node id.
    static func verify(dataDir: String, nodeID: Int) throws(StartupError) -> ClickIDCodec {
        do { try SegmentDirectory.create(dataDir) } catch { throw StartupError(error.description) }
        let nodePath = dataDir + "/" + fileName
        let recorded = try readNodeID(dataDir: dataDir)
        if let recorded, recorded != nodeID {
            throw StartupError("\(nodePath): this data dir belongs to node_id \(recorded), but the configuration says node_id = \(nodeID). "
                + "Its click IDs carry node \(recorded); served as node \(nodeID) every outstanding click would be refused (404 unknown_click). "
                + "Set [server] node_id = \(recorded) again, or give node \(nodeID) a data dir of its own ([storage] data_dir or --data-dir).")
        }
        let keyPath = dataDir + "/" + KeyFile.name
        if access(keyPath, F_OK) != 0 {
            if recorded != nil || ShardLayout.existingShards(dataDir: dataDir) > 0 {
                throw StartupError("\(keyPath) is missing, but \(dataDir) holds clicks signed with it: restore click.key from your backup "
                    + "(`trackstar inspect` prints its fingerprint). A new key would refuse every outstanding click ID as forged; to start "
                    + "over anyway, move \(dataDir) aside and start with an empty data dir.")
            }
            try KeyFile.create(keyPath)
            let codec = try KeyFile.load(keyPath)
            Log.warning("created a new click ID key at \(keyPath) (fingerprint \(KeyFile.fingerprint(codec.currentKey))): back it up now "
                + "and keep it secret; without it no click ID minted by this node can be verified, and a new data_dir gets a new key",
                        ["path": "\(keyPath)"])
        }
        let codec = try KeyFile.load(keyPath)
        if recorded == nil { try record(nodeID, at: nodePath, dataDir: dataDir) }
        return codec
    }

    /// The node id and keys recorded in `dataDir`, changing nothing.
    public static func inspect(dataDir: String) -> (Recorded, problems: [String]) {
        var recorded = Recorded()
        var problems: [String] = []
        do { recorded.nodeID = try readNodeID(dataDir: dataDir) } catch { problems.append(error.description) }
        let keyPath = dataDir + "/" + KeyFile.name
        if access(keyPath, F_OK) == 0 {
            do { recorded.codec = try KeyFile.load(keyPath) } catch { problems.append(error.description) }
        }
        return (recorded, problems)
    }

    /// The number in `node_id` (`node_id = N`), nil if the file does not exist.
    static func readNodeID(dataDir: String) throws(StartupError) -> Int? {
        let path = dataDir + "/" + fileName
        guard access(path, F_OK) == 0 else { return nil }
        let text = try FileText.read(path)
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let parts = trimmed.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters() }
            if parts.count == 2, parts[0] == "node_id", let id = Int(parts[1]), (0...255).contains(id) { return id }
        }
        throw StartupError("\(path): expected a line `node_id = N` (0-255); restore the file, or write the node_id this data dir was served with")
    }

    /// Writes `node_id` by temp file, fsync, rename and fsync of the directory.
    static func record(_ nodeID: Int, at path: String, dataDir: String) throws(StartupError) {
        let text = "# The node whose click IDs this data dir holds; trackstar refuses to serve it as another node.\nnode_id = \(nodeID)\n"
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StartupError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let written = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        let synced = written == text.utf8.count && fsync(fd) == 0
        close(fd)
        guard synced, rename(temporary, path) == 0 else { throw StartupError("cannot write \(path): \(String(cString: strerror(errno)))") }
        let directory = open(dataDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 { _ = fsync(directory); close(directory) }
    }
}
