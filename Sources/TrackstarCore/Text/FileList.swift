// A fixed-capacity list of file descriptors, passed from a loop to a worker thread for fdatasync.

/// A fixed-capacity list of file descriptors (no allocation), for durability barriers.
public struct FileList {
    public static let capacity = 16
    var storage: (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32,
                  Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32) = (-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)
    public private(set) var count = 0
    /// True when more files were offered than fit; the barrier then syncs the whole file system.
    public private(set) var overflowed = false
    public init() {}

    public mutating func append(_ fd: Int32) {
        guard count < FileList.capacity else { overflowed = true; return }
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: fd, toByteOffset: count * 4, as: Int32.self) }
        count += 1
    }

    public subscript(i: Int) -> Int32 {
        withUnsafeBytes(of: storage) { $0.load(fromByteOffset: i * 4, as: Int32.self) }
    }

    public mutating func removeAll() { count = 0; overflowed = false }
}
