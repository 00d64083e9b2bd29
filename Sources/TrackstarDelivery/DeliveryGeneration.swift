// Which generation of the delivery log is live, and how much of the archive is committed: one small
// file, `deliveries/generation`, replaced by rename. Compaction's switch to a new generation is that
// one rename, so after a crash at any step the file names a whole live log and an archive extent
// that together hold every record exactly once (DeliveryCompaction says why).
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

/// The live generation's number and the archive's committed extent.
public struct DeliveryGeneration: Sendable, Equatable {
    /// 0: the log written before compaction existed, whose files are directly under `deliveries/`.
    public var number: UInt64 = 0
    /// Archive records (and arena bytes) that belong to retired generations; anything after them
    /// was written by a compaction that did not switch, and is cut by the next archive writer.
    public var archiveCount: UInt64 = 0
    public var archiveByteEnd: UInt64 = 0

    public init(number: UInt64 = 0, archiveCount: UInt64 = 0, archiveByteEnd: UInt64 = 0) {
        self.number = number; self.archiveCount = archiveCount; self.archiveByteEnd = archiveByteEnd
    }

    static func path(_ directory: String) -> String { directory + "/generation" }

    /// Where generation `number`'s segment files are.
    static func tableDirectory(_ directory: String, number: UInt64) -> String {
        number == 0 ? directory : directory + "/gen-\(number)"
    }

    static func archiveDirectory(_ directory: String) -> String { directory + "/archive" }

    /// The stored generation (generation 0 with an empty archive when there is no file yet).
    static func load(_ directory: String) throws(StoreError) -> DeliveryGeneration {
        let path = path(directory)
        guard let text = try readLine(path) else { return DeliveryGeneration() }
        let words = text.split(separator: " ").compactMap { UInt64($0) }
        guard words.count == 3 else {
            throw StoreError("\(path): expected \"GENERATION ARCHIVE_RECORDS ARCHIVE_BYTES\", got \"\(text)\"; the file is damaged")
        }
        return DeliveryGeneration(number: words[0], archiveCount: words[1], archiveByteEnd: words[2])
    }

    /// Writes the file durably: temporary file, fsync, rename, fsync of the directory.
    func store(_ directory: String) -> StoreError? {
        DeliveryGeneration.writeLine("\(number) \(archiveCount) \(archiveByteEnd)", to: DeliveryGeneration.path(directory), directory: directory)
    }

    /// The first line of a small file, trimmed; nil when the file does not exist.
    static func readLine(_ path: String) throws(StoreError) -> String? {
        guard let file = fopen(path, "r") else {
            if errno == ENOENT { return nil }
            throw StoreError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 128)
        return fgets(&line, Int32(line.count), file) == nil ? ""
            : String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).trimmingWhitespace
    }

    /// Writes one line durably to `path` in `directory`: temporary file, fsync, rename, fsync of the directory.
    static func writeLine(_ text: String, to path: String, directory: String) -> StoreError? {
        let temporary = path + ".tmp"
        guard let file = fopen(temporary, "w") else { return StoreError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        fputs(text + "\n", file)
        let written = fflush(file) == 0 && fsync(fileno(file)) == 0
        fclose(file)
        guard written, rename(temporary, path) == 0 else {
            return StoreError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        SegmentDirectory.sync(directory)
        return nil
    }

    /// Removes what a compaction left behind that is not `live`'s: other generations' directories,
    /// and generation 0's files once a later one is live. Names what it removed.
    static func removeStale(_ directory: String, live: UInt64) -> [String] {
        var removed: [String] = []
        for entry in SegmentDirectory.entries(directory) where entry.hasPrefix("gen-") && entry != "gen-\(live)" {
            let path = directory + "/" + entry
            for file in SegmentDirectory.entries(path) { unlink(path + "/" + file) }
            rmdir(path)
            removed.append(path)
        }
        if live > 0 {
            for entry in SegmentDirectory.entries(directory) where entry.hasPrefix("deliveries-") {
                unlink(directory + "/" + entry)
                removed.append(directory + "/" + entry)
            }
        }
        if !removed.isEmpty { SegmentDirectory.sync(directory) }
        return removed
    }
}

/// The writer's lock on the delivery log directory (flock on `deliveries/lock`), held by one
/// process at a time and passed from a generation's log to the next.
final class DeliveryLock: @unchecked Sendable {  // immutable after init
    let fd: Int32

    init(directory: String) throws(StoreError) {
        fd = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError("cannot open \(directory)/lock: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {  // deinit closes fd
            throw StoreError("\(directory) is in use by another process (a running trackstar server?)")
        }
    }

    /// Unlocks before closing: a child process spawned by another thread between `open` and here
    /// holds a copy of this open file description until it execs, and a flock lasts until every copy
    /// is closed unless it is unlocked explicitly (flock(2)); without this, a writer reopened in the
    /// same process could find its own released lock still held. The only close of `fd`: an init
    /// that throws once `fd` is set still runs deinit, so the refused-lock path used to close the
    /// descriptor twice, the second time perhaps a number another thread had just been given.
    deinit {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
    }
}
