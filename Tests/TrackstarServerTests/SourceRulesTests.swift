// Rules of the source tree that the compiler does not enforce, checked by reading Sources/.
import Foundation
import Testing

@Suite("source rules")
struct SourceRulesTests {
    /// Every file under Sources/, as (path relative to Sources/, text).
    static func sources() throws -> [(path: String, text: String)] {
        let root = LiveServer.packageRoot.appendingPathComponent("Sources")
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return [] }
        var files: [(String, String)] = []
        while let path = walker.nextObject() as? String {
            guard [".swift", ".c", ".h", ".modulemap"].contains(where: path.hasSuffix) else { continue }
            files.append((path, try String(contentsOfFile: root.appendingPathComponent(path).path, encoding: .utf8)))
        }
        return files
    }

    /// Only TrackstarIO and its C shims touch libuv: no `uv_` identifier and no `import CLibUV`
    /// anywhere else (the seam the request loops, the dispatcher and any later loop share).
    @Test func onlyTrackstarIOTouchesLibuv() throws {
        let owners = ["TrackstarIO/", "CTrackstarIOShims/", "CLibUV/"]
        let files = try Self.sources()
        #expect(files.count > 50, "found only \(files.count) source files")
        var offenders: [String] = []
        for (path, text) in files where !owners.contains(where: path.hasPrefix) {
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where line.contains("uv_") || line.contains("import CLibUV") || line.contains("<uv.h>") {
                offenders.append("Sources/\(path):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        #expect(offenders.isEmpty, "libuv outside TrackstarIO:\n\(offenders.joined(separator: "\n"))")
    }
}
