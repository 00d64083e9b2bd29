// uap-core's own test corpora (Debian's uap-core ships them beside regexes.yaml): each case an agent
// and the family uap-core's reference implementations give it.
@testable import TrackstarEnrich
#if canImport(Glibc)
import Glibc
#endif

struct UAPCase {
    var agent: String
    var family: String
}

enum UAPCorpus {
    static let directory = "/usr/share/uap-core/tests/"

    /// The cases of `name` ("test_ua.yaml", "test_os.yaml", "test_device.yaml").
    static func load(_ name: String) throws -> [UAPCase] {
        guard let file = fopen(directory + name, "rb") else { throw EnrichError("cannot open \(directory + name)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while case let count = fread(&buffer, 1, buffer.count, file), count > 0 { bytes += buffer[0..<count] }
        var cases: [UAPCase] = []
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let trimmed = line.drop(while: { $0 == " " })
            if trimmed.hasPrefix("- user_agent_string:") {
                let value = try UAPRuleFile.scalar(trimmed.dropFirst("- user_agent_string:".count)) ?? ""
                cases.append(UAPCase(agent: value, family: ""))
            } else if trimmed.hasPrefix("family:"), !cases.isEmpty {
                cases[cases.count - 1].family = try UAPRuleFile.scalar(trimmed.dropFirst("family:".count)) ?? ""
            }
        }
        return cases
    }
}
