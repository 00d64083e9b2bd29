// The snapshot manifest: how many records of each shard were durable when the snapshot was taken.
// Written as Redis writes an RDB file — temp file, fsync, rename, fsync of the directory — with magic,
// version and a checksum trailer; the previous manifest is kept as `manifest.prev`.
import TrackstarCore
#if canImport(Glibc)
import Glibc
#endif

/// Positions of one shard's logs at a snapshot.
public struct ShardPosition: Sendable, Equatable {
    public var clicks: UInt64
    public var clickBytes: UInt64
    public var conversions: UInt64
    public var conversionBytes: UInt64
    public init(clicks: UInt64 = 0, clickBytes: UInt64 = 0, conversions: UInt64 = 0, conversionBytes: UInt64 = 0) {
        self.clicks = clicks; self.clickBytes = clickBytes
        self.conversions = conversions; self.conversionBytes = conversionBytes
    }
}

/// A snapshot manifest.
public struct Manifest: Sendable, Equatable {
    public static let magic: UInt64 = 0x3146_494E_414D_5354  // "TSMANIF1", little-endian
    public static let version: UInt32 = 1
    public static let fileName = "manifest"
    public static let previousName = "manifest.prev"

    /// Increases with every snapshot; the newest valid manifest wins.
    public var sequence: UInt64
    public var createdMillis: Int64
    public var shards: [ShardPosition]

    public init(sequence: UInt64, createdMillis: Int64, shards: [ShardPosition]) {
        self.sequence = sequence; self.createdMillis = createdMillis; self.shards = shards
    }

    /// The encoded bytes: header, shard positions, checksum.
    public func encoded() -> [UInt8] {
        var words: [UInt64] = [Manifest.magic, UInt64(Manifest.version) | UInt64(shards.count) << 32,
                               sequence, UInt64(bitPattern: createdMillis)]
        for s in shards { words += [s.clicks, s.clickBytes, s.conversions, s.conversionBytes] }
        var bytes = words.flatMap { w in (0..<8).map { UInt8(truncatingIfNeeded: w >> (8 * UInt64($0))) } }
        let sum = bytes.withUnsafeBytes { Checksum.finish(Checksum.update(0, $0)) }
        bytes += (0..<8).map { UInt8(truncatingIfNeeded: sum >> (8 * UInt64($0))) }
        return bytes
    }

    /// Decodes a manifest, or says what is wrong with it (with the byte offset).
    public static func decode(_ bytes: [UInt8]) -> Result<Manifest, StoreError> {
        func word(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[i * 8 + $1]) << (8 * UInt64($1)) } }
        guard bytes.count >= 40, bytes.count % 8 == 0 else {
            return .failure(StoreError("length \(bytes.count) is not a whole manifest"))
        }
        guard word(0) == magic else { return .failure(StoreError("bad magic at offset 0")) }
        let header = word(1)
        guard UInt32(truncatingIfNeeded: header) == version else {
            return .failure(StoreError("version \(UInt32(truncatingIfNeeded: header)) at offset 8; this build reads version \(version)"))
        }
        let shardCount = Int(header >> 32)
        guard bytes.count == 8 * (4 + 4 * shardCount + 1) else {
            return .failure(StoreError("length \(bytes.count) does not match \(shardCount) shards"))
        }
        let sum = bytes.withUnsafeBytes { Checksum.finish(Checksum.update(0, UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 8)]))) }
        guard sum == word(bytes.count / 8 - 1) else {
            return .failure(StoreError("checksum mismatch at offset \(bytes.count - 8)"))
        }
        let shards = (0..<shardCount).map { s in
            ShardPosition(clicks: word(4 + 4 * s), clickBytes: word(5 + 4 * s), conversions: word(6 + 4 * s), conversionBytes: word(7 + 4 * s))
        }
        return .success(Manifest(sequence: word(2), createdMillis: Int64(bitPattern: word(3)), shards: shards))
    }

    /// Writes this manifest into `directory`: temp file, fsync, keep the old one as `manifest.prev`,
    /// rename, fsync the directory.
    public func write(to directory: String) throws(StoreError) {
        let temp = directory + "/manifest.tmp"
        let bytes = encoded()
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SegmentFile.error("open", temp) }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            let error = SegmentFile.error("write", temp)
            close(fd)
            throw error
        }
        close(fd)
        let current = directory + "/" + Manifest.fileName
        if access(current, F_OK) == 0 { rename(current, directory + "/" + Manifest.previousName) }
        guard rename(temp, current) == 0 else { throw SegmentFile.error("rename", temp) }
        SegmentDirectory.sync(directory)
    }

    /// What recovery found among `manifest` and `manifest.prev`.
    public struct Found {
        /// The newest valid manifest, if any.
        public var manifest: Manifest?
        /// Files that exist but did not decode, with the reason.
        public var damaged: [(path: String, reason: String)]
    }

    /// Reads both manifests in `directory` and picks the newest valid one.
    public static func load(from directory: String) -> Found {
        var found = Found(manifest: nil, damaged: [])
        for name in [fileName, previousName] {
            let path = directory + "/" + name
            guard let bytes = readAll(path) else { continue }
            switch decode(bytes) {
            case .success(let m):
                if found.manifest == nil || m.sequence > found.manifest!.sequence { found.manifest = m }
            case .failure(let error):
                found.damaged.append((path, error.description))
            }
        }
        return found
    }

    static func readAll(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }
}
