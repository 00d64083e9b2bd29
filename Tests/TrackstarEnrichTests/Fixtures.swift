// What the enrichment tests share: one loaded geo database and one classifier (each takes seconds to
// build in a debug build), Debian's `location` command as the geo oracle, and addresses as words.
import Foundation
import TrackstarCore
@testable import TrackstarEnrich
import TrackstarConfiguration

enum Shared {
    /// The database every geo test reads (Debian's libloc-database, installed by the Makefile).
    static let geoPath = GeoDatabase.defaultPath
    static let geo: Result<GeoDatabase, EnrichError> = Result { try GeoDatabase(path: geoPath) }
        .mapError { $0 as? EnrichError ?? EnrichError("\($0)") }
    static let classifier: Result<UserAgentClassifier, EnrichError> = Result { try UserAgentClassifier() }
        .mapError { $0 as? EnrichError ?? EnrichError("\($0)") }
}

/// An address as the (high, low) words the API takes; IPv4 comes back IPv4-mapped.
func words(_ text: String) -> (high: UInt64, low: UInt64) {
    guard let address = ConfigParse.ipAddress(text) else { fatalError("test address \(text) does not parse") }
    return (address.0, address.1)
}

/// Runs a command and returns its standard output, or nil when the program is not installed.
func run(_ arguments: [String]) throws -> String? {
    guard let program = ["/usr/bin/", "/usr/local/bin/", "/bin/"].map({ $0 + arguments[0] })
        .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = Array(arguments.dropFirst())
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

/// Calls `body` with the bytes of `text` as the API's raw buffer.
func withBytes<T>(_ text: String, _ body: (UnsafeRawBufferPointer) -> T) -> T {
    let bytes = Array(text.utf8)
    return bytes.withUnsafeBytes(body)
}
