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

    /// Small rooms (issue 12): a file under Sources/ holds at most ~400 lines and one major type
    /// (a top-level class, struct, enum, actor or protocol of `majorLines` lines or more, counted from
    /// its declaration to its closing brace; small helper types, errors and extensions do not count),
    /// unless its header (the comment lines at its top) says why it stays whole, in a sentence that
    /// says "in one file".
    @Test func eachFileIsASmallRoomOrItsHeaderSaysWhyNot() throws {
        let files = try Self.sources()
        #expect(files.count > 50, "found only \(files.count) source files")
        var offenders: [String] = []
        for (path, text) in files {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let header = lines.prefix { $0.hasPrefix("//") }.joined(separator: " ").lowercased()
            guard !header.contains("in one file") else { continue }
            let lineCount = text.utf8.filter { $0 == UInt8(ascii: "\n") }.count
            if lineCount > Self.maxLines { offenders.append("Sources/\(path): \(lineCount) lines") }
            guard path.hasSuffix(".swift") else { continue }
            let major = Self.topLevelTypes(lines).filter { $0.lines >= Self.majorLines }
            if major.count > 1 {
                offenders.append("Sources/\(path): \(major.map { "\($0.name) (\($0.lines) lines)" }.joined(separator: ", "))")
            }
        }
        #expect(offenders.isEmpty, """
            split these files, or say in the header why each stays whole ("… in one file: …"):
            \(offenders.joined(separator: "\n"))
            """)
    }

    /// The measure itself: what counts as a top-level type and how long it is.
    @Test func topLevelTypesAreFoundWithTheirLengths() {
        let text = """
            // A header.
            import Glibc

            @usableFromInline
            public final class Big: @unchecked Sendable {
                struct Inner {
                }
            }
            enum Small: Error { case one }
            extension Big {
            }
            indirect enum Tree {
                case leaf
            }
            """
        let types = Self.topLevelTypes(text.split(separator: "\n", omittingEmptySubsequences: false))
        #expect(types.map(\.name) == ["Big", "Small", "Tree"])
        #expect(types.map(\.lines) == [4, 1, 3])
    }

    static let maxLines = 400
    static let majorLines = 60
    /// Each top-level type declaration (at column 0) with its length in lines: through the next line
    /// that is a lone `}` at column 0, or 1 when it closes on its own line.
    static func topLevelTypes(_ lines: [Substring]) -> [(name: Substring, lines: Int)] {
        let kinds: Set<Substring> = ["class", "struct", "enum", "actor", "protocol"]
        let modifiers: Set<Substring> = ["public", "package", "internal", "fileprivate", "private", "final", "open",
                                         "indirect", "nonisolated"]
        var types: [(Substring, Int)] = []
        for (i, line) in lines.enumerated() {
            guard let first = line.first, first.isLetter || first == "@" else { continue }
            var words = line.split(separator: " ")[...]
            while let word = words.first, word.hasPrefix("@") || modifiers.contains(word) { words = words.dropFirst() }
            guard let kind = words.first, kinds.contains(kind), let name = words.dropFirst().first else { continue }
            var end = i
            if !line.trimmingCharacters(in: .whitespaces).hasSuffix("}") {
                end = i + 1
                while end < lines.count && !(lines[end].first == "}" && lines[end].dropFirst().allSatisfy(\.isWhitespace)) { end += 1 }
            }
            types.append((name.prefix { $0.isLetter || $0.isNumber || $0 == "_" }, end - i + 1))
        }
        return types
    }
}
