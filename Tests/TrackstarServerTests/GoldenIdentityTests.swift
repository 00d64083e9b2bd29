// Golden fixtures of the data dir's identity files, `node_id` and `click.key`, read by the current
// code. Both are text an operator may restore from a backup; a change to how they are read must
// keep reading these (Tests/Fixtures/golden/README.md).
import Testing
import TrackstarCore
@testable import TrackstarServer
import TrackstarTestSupport

@Suite("golden identity fixtures", .serialized)
struct GoldenIdentityTests {
    /// The fixture's key: fixed and public, for tests only.
    static let key0 = SipHashKey(k0: 0x0011_2233_4455_6677, k1: 0x8899_AABB_CCDD_EEFF)
    static let key1 = SipHashKey(k0: 0x0123_4567_89AB_CDEF, k1: 0xFEDC_BA98_7654_3210)

    @Test func nodeIDAndKeysReadBack() throws {
        let (recorded, problems) = NodeIdentity.inspect(dataDir: Golden.path("data"))
        #expect(problems.isEmpty, "\(problems)")
        #expect(recorded.nodeID == 3)
        let codec = try #require(recorded.codec)
        #expect(codec.currentKeyID == 1)
        #expect(codec.currentKey == Self.key1)
        #expect(codec.previousKey == Self.key0)
        #expect(KeyFile.fingerprint(codec.currentKey) == KeyFile.fingerprint(Self.key1))
    }

    /// The generator: TRACKSTAR_WRITE_GOLDEN=1 swift test --filter GoldenIdentityTests/writeFixtures.
    /// `node_id` is written by NodeIdentity.record; `click.key` (made from /dev/urandom in
    /// production) is written here in KeyFile.create's format with the fixed keys above and a rotation.
    @Test(.enabled(if: Golden.shouldWrite, "set TRACKSTAR_WRITE_GOLDEN=1 to regenerate the fixtures"))
    func writeFixtures() throws {
        let scratch = try Golden.scratchDirectory()
        defer { Golden.remove(scratch) }
        try NodeIdentity.record(3, at: scratch + "/" + NodeIdentity.fileName, dataDir: scratch)
        try Golden.copyPrefix(of: scratch + "/" + NodeIdentity.fileName, count: Int.max, to: "data/node_id")
        let text = "# Trackstar click ID keys: secret, keep mode 0600. Losing this file orphans every click ID.\n"
            + "current = 1\n"
            + "key0 = \(KeyFile.hex(Self.key0.k0))\(KeyFile.hex(Self.key0.k1))\n"
            + "key1 = \(KeyFile.hex(Self.key1.k0))\(KeyFile.hex(Self.key1.k1))\n"
        try Golden.write(Array(text.utf8), to: "data/click.key")
    }
}
