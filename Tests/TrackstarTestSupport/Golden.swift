// Where the golden fixtures live (Tests/Fixtures/golden) and the few file operations their tests and
// their generator need. The fixtures are committed; they are rewritten only when a test runs with
// TRACKSTAR_WRITE_GOLDEN=1 (see Tests/Fixtures/golden/README.md).
import Foundation

/// The committed golden fixtures.
public enum Golden {
    /// Tests/Fixtures/golden in the source tree, found from this file's own path.
    public static let directory: String = {
        let here = URL(fileURLWithPath: #filePath)  // …/Tests/TrackstarTestSupport/Golden.swift
        return here.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/golden").path
    }()

    /// True when the generator tests should (re)write the fixtures instead of only reading them.
    public static var shouldWrite: Bool { ProcessInfo.processInfo.environment["TRACKSTAR_WRITE_GOLDEN"] == "1" }

    /// The path of a fixture, relative to `directory`.
    public static func path(_ name: String) -> String { directory + "/" + name }

    /// A fixture's bytes (empty if it does not exist, which the reading test then reports).
    public static func bytes(_ name: String) -> [UInt8] {
        (try? Data(contentsOf: URL(fileURLWithPath: path(name)))).map { [UInt8]($0) } ?? []
    }

    /// Generator only: writes a fixture, creating its directory.
    public static func write(_ bytes: [UInt8], to name: String) throws {
        let url = URL(fileURLWithPath: path(name))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    /// Generator only: copies the first `count` bytes of `source` (the used part of a segment file)
    /// into the fixture `name`.
    public static func copyPrefix(of source: String, count: Int, to name: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        try write([UInt8](data.prefix(count)), to: name)
    }

    /// A fresh temporary directory holding a copy of the fixture directory `name` (readers open
    /// segment files read-write and extend short ones, so they never open the committed files).
    public static func copyToTemporary(_ name: String) throws -> String {
        let temporary = NSTemporaryDirectory() + "trackstar-golden-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.copyItem(atPath: path(name), toPath: temporary)
        return temporary
    }

    /// Removes a directory made by `copyToTemporary` (or a generator's scratch directory).
    public static func remove(_ directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A scratch directory for a generator.
    public static func scratchDirectory() throws -> String {
        let scratch = NSTemporaryDirectory() + "trackstar-golden-gen-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        return scratch
    }
}

extension Array where Element == UInt8 {
    /// Lower-case hex, two digits a byte.
    public var hex: String { map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

    /// The bytes of a hex string (nil if it is not whole bytes of hex digits).
    public init?(hex: Substring) {
        guard hex.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self = bytes
    }
}
