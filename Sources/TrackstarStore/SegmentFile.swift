// Segment files: fixed-size files under the data dir, space reserved with posix_fallocate (so a
// full disk fails here, cleanly, instead of as SIGBUS on a later store) and mapped MAP_SHARED, so a
// record written into the mapping survives a process crash without any fsync. A new segment is mapped
// without readahead (see `open`).
import CTrackstarShims
#if canImport(Glibc)
import Glibc
#endif

/// Why a storage operation failed, said so an operator knows what to do.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A mapped segment file: its mapping, its descriptor and its path.
struct SegmentFile {
    let base: UnsafeMutableRawPointer
    let fd: Int32
    let size: Int

    /// Creates (or opens) `path`, reserves `size` bytes on disk, and maps it shared.
    /// A file shorter than `size` (cut by a crash or by hand) is extended with zeros; `extendedFrom`
    /// reports its old length so recovery can say so.
    static func open(_ path: String, size: Int, create: Bool) -> Result<(SegmentFile, extendedFrom: Int?), StoreError> {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0o644)
        guard fd >= 0 else { return .failure(error("open", path)) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { close(fd); return .failure(error("fstat", path)) }
        let length = Int(info.st_size)
        let result = posix_fallocate(fd, 0, off_t(size))
        guard result == 0 else {
            close(fd)
            if create && length == 0 { unlink(path) }
            return .failure(StoreError("posix_fallocate \(path) (\(size) bytes): \(String(cString: strerror(result)))"))
        }
        let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let base, base != MAP_FAILED else { close(fd); return .failure(error("mmap", path)) }
        // A new segment is written page by page from the start, and its first touch of each page
        // faults on the writing loop: with the device's readahead (8 MiB on some virtual disks) one
        // such fault filled megabytes of page cache with zeros, 3 ms of the loop's time at once. Without
        // readahead each fault fills its own page (a few µs). Recovery's reads of existing segments
        // keep readahead.
        if create && length == 0 { _ = madvise(base, size, MADV_RANDOM) }
        let extended = !create && length < size ? length : nil
        return .success((SegmentFile(base: base, fd: fd, size: size), extended))
    }

    /// Starts the write-back of a segment's dirty pages one MiB at a time, yielding the core after
    /// each step, before the caller's fdatasync waits for it: one fdatasync over a second of appends
    /// builds and submits megabytes of I/O in the kernel without a preemption point (this kernel is
    /// PREEMPT_NONE), and a loop sharing the core waited up to 2 ms for it. Best effort: the
    /// fdatasync after it syncs everything, and reports any failure.
    static func writeBackInSteps(_ fd: Int32, size: Int) {
        let step = 1 << 20
        var offset = 0
        while offset < size {
            _ = CTrackstar_startWriteBack(fd, off_t(offset), off_t(min(step, size - offset)))
            BackgroundPriority.yieldCore()
            offset += step
        }
    }

    func unmap() {
        munmap(base, size)
        close(fd)
    }

    static func error(_ call: String, _ path: String) -> StoreError {
        StoreError("\(call) \(path): \(String(cString: strerror(errno)))")
    }
}

/// Directory helpers for segment discovery (start-up and inspection only).
public enum SegmentDirectory {
    /// Names of the entries in `path` (empty if it does not exist).
    public static func entries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// `mkdir -p`.
    public static func create(_ path: String) throws(StoreError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw StoreError("cannot create directory \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// fsyncs a directory, so renames and new files in it survive a machine crash.
    public static func sync(_ path: String) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}

extension SegmentDirectory {
    /// A file's size in bytes (0 if it cannot be read).
    public static func size(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
}
