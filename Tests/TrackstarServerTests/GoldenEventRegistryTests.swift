// Golden fixture of `DATA_DIR/events`, the stable event ids conversion records carry, read by the
// current code. The file outlives configurations (ids are never reused), so a change to how it is
// read must keep reading this one (Tests/Fixtures/golden/README.md).
import Testing
import TrackstarCore
@testable import TrackstarServer
import TrackstarTestSupport
import TrackstarConfiguration

@Suite("golden event registry fixture", .serialized)
struct GoldenEventRegistryTests {
    /// Offer 1 first had `upsell` and `refund`; a later configuration dropped `refund` and added
    /// `trial`: `refund` keeps its id and `trial` gets the next one. Offer 9 has one event.
    static let first = """
        [[offers]]
        id = 1
        url = "https://shop.example/?cid={click_id}"
          [offers.events.upsell]
          payout = 1
          [offers.events.refund]
          payout = 0

        [[offers]]
        id = 9
        url = "https://nine.example/?cid={click_id}"
          [offers.events.lead]
          payout = 2
        """
    static let later = """
        [[offers]]
        id = 1
        url = "https://shop.example/?cid={click_id}"
          [offers.events.trial]
          payout = 0
          [offers.events.upsell]
          payout = 1

        [[offers]]
        id = 9
        url = "https://nine.example/?cid={click_id}"
          [offers.events.lead]
          payout = 2
        """

    static let expected: [(offer: UInt32, name: String, id: UInt8)] = [
        (1, "conversion", 0), (1, "upsell", 1), (1, "refund", 2), (1, "trial", 3), (9, "conversion", 0), (9, "lead", 1),
    ]

    @Test func everyOffersEventIdsReadBack() throws {
        let registry = try EventRegistry.load(dataDir: Golden.path("data"))
        for (offer, name, id) in Self.expected {
            #expect(registry.id(offer: offer, name: name) == id, "offer \(offer) event \(name)")
        }
        #expect(registry.offers.keys.sorted() == [1, 9])
        #expect(registry.offers[1]?.count == 4 && registry.offers[9]?.count == 2)
        #expect(registry.id(offer: 2, name: "conversion") == nil)
    }

    /// The generator: TRACKSTAR_WRITE_GOLDEN=1 swift test --filter GoldenEventRegistryTests/writeFixtures.
    /// Admits the two configurations in turn, as two starts of the server would, and saves.
    @Test(.enabled(if: Golden.shouldWrite, "set TRACKSTAR_WRITE_GOLDEN=1 to regenerate the fixtures"))
    func writeFixtures() throws {
        let scratch = try Golden.scratchDirectory()
        defer { Golden.remove(scratch) }
        for text in [Self.first, Self.later] {
            let config = try ConfigLoader.load(text: text).get()
            _ = try EventRegistry.update(dataDir: scratch, with: config)
        }
        try Golden.copyPrefix(of: EventRegistry.path(dataDir: scratch), count: Int.max, to: "data/events")
    }
}
