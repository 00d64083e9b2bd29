// How log files are made durable: `fdatasync`, through one value every syncing caller shares, so a
// test can make syncs fail (the PostgreSQL "fsyncgate" case) without a faulty disk.
#if canImport(Glibc)
import Glibc
#endif

/// Syncs one file descriptor. The production value calls `fdatasync`; the test hook (environment
/// variable `TRACKSTAR_TEST_FAIL_FSYNC=PATH`, read once at start-up) makes every sync fail with `EIO`
/// while a file exists at PATH, so a live test can turn failures on and off while the server runs.
public struct FileSync: Sendable {
    /// While a file exists here, every sync fails with EIO (test hook only; nil in production).
    public let failWhileExists: String?

    public init(failWhileExists: String? = nil) { self.failWhileExists = failWhileExists }

    /// `fdatasync` and nothing else.
    public static let system = FileSync()

    /// The name of the test hook's environment variable.
    public static let testHookVariable = "TRACKSTAR_TEST_FAIL_FSYNC"

    /// `system`, or the test hook when `TRACKSTAR_TEST_FAIL_FSYNC` names a path.
    public static func fromEnvironment() -> FileSync {
        guard let value = getenv(testHookVariable), value.pointee != 0 else { return .system }
        return FileSync(failWhileExists: String(cString: value))
    }

    /// `fdatasync(fd)`: 0, or -1 with `errno` set. Any thread.
    public func sync(_ fd: Int32) -> Int32 {
        if let failWhileExists, access(failWhileExists, F_OK) == 0 {
            errno = EIO
            return -1
        }
        return fdatasync(fd)
    }
}
