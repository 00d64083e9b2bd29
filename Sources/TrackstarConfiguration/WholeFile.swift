// Reads a whole file with C stdio: the one read loop for the config file, the catalog log and
// whoever else needs a file's bytes at start or reload (never on a request path).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file's bytes.
public enum WholeFile {
    /// Why a file could not be read: the `errno` of the failing open or read.
    public struct Failure: Error, Sendable {
        public let code: Int32
        public var reason: String { String(cString: strerror(code)) }
    }

    /// The file's bytes, or why not (`ENOENT` for a missing file).
    public static func read(_ path: String) -> Result<[UInt8], Failure> {
        guard let file = fopen(path, "rb") else { return .failure(Failure(code: errno)) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            bytes.append(contentsOf: chunk[..<count])
            if count < chunk.count { break }
        }
        if ferror(file) != 0 { return .failure(Failure(code: errno)) }
        return .success(bytes)
    }
}
