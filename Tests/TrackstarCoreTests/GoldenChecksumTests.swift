// Golden checksum vectors: input bytes and seed → the 64-bit value every log record and manifest on
// disk is sealed with. A change to `Checksum` makes every existing data dir unreadable, so it fails
// here and must come with a format version bump (Tests/Fixtures/golden/README.md).
import Testing
import TrackstarCore
import TrackstarTestSupport

@Suite("golden checksum vectors")
struct GoldenChecksumTests {
    /// The seeds the record kinds use ("clicks", "converts", "refused", "delivery") and 0 (manifest).
    static let seeds: [UInt64] = [0, 0x636c_6963_6b73, 0x636f_6e76_6572_7473, 0x7265_6675_7365_64, 0x6465_6c69_7665_7279]

    /// Inputs of every length 0…17 (every tail shape), around 32 and 64, and a 100-byte record.
    static var inputs: [[UInt8]] {
        let lengths = Array(0...17) + [31, 32, 33, 63, 64, 65, 100]
        return lengths.map { length in (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ length &+ 1) } }
    }

    static func checksum(seed: UInt64, _ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { Checksum.finish(Checksum.update(seed, $0)) }
    }

    /// Lines of `checksums.txt`: `SEED INPUT EXPECTED`, hex; an empty input is written `-`.
    @Test func everyVectorMatches() throws {
        let text = String(decoding: Golden.bytes("checksums.txt"), as: UTF8.self)
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines.count == Self.seeds.count * Self.inputs.count, "vectors in \(Golden.path("checksums.txt"))")
        for line in lines {
            let parts = line.split(separator: " ")
            try #require(parts.count == 3, "malformed line: \(line)")
            let seed = try #require(UInt64(parts[0], radix: 16))
            let input = try #require(parts[1] == "-" ? [] : [UInt8](hex: parts[1]), "bad hex: \(line)")
            let expected = try #require(UInt64(parts[2], radix: 16))
            #expect(Self.checksum(seed: seed, input) == expected, "seed \(parts[0]) input \(parts[1])")
        }
    }

    /// The generator: TRACKSTAR_WRITE_GOLDEN=1 swift test --filter GoldenChecksumTests/writeFixtures.
    @Test(.enabled(if: Golden.shouldWrite, "set TRACKSTAR_WRITE_GOLDEN=1 to regenerate the fixtures"))
    func writeFixtures() throws {
        var text = "# Checksum vectors: SEED INPUT EXPECTED (hex; - is the empty input). Checksum.finish(Checksum.update(SEED, INPUT)).\n"
        for seed in Self.seeds {
            for input in Self.inputs {
                text += "\(String(seed, radix: 16)) \(input.isEmpty ? "-" : input.hex) \(String(Self.checksum(seed: seed, input), radix: 16))\n"
            }
        }
        try Golden.write(Array(text.utf8), to: "checksums.txt")
    }
}
