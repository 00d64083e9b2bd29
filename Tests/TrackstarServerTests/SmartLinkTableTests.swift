// In-process tests of the smart-link look-ups the click path uses (issue 14): by slug and by id over
// the table's plain-memory slots, which hand out links and offers unretained, so these tests also
// check that a table outlives the catalog it came from with its links and offers intact.
import Testing
@testable import TrackstarServer
import TrackstarConfiguration

@Suite struct SmartLinkTableTests {
    static func link(_ id: UInt32, _ slug: String, offers: [UInt32]) -> SmartLinkConfig {
        var link = SmartLinkConfig()
        link.id = id
        link.slug = slug
        link.offers = offers.map { SmartLinkOfferConfig(offerID: $0, weight: $0) }
        return link
    }

    static func found(_ table: SmartLinkTable, slug: String) -> UInt32? {
        Array(slug.utf8).withUnsafeBytes { table.link(slug: $0)?.takeUnretainedValue().id }
    }

    @Test func aSlugFindsOnlyTheLinkWithExactlyThoseBytes() throws {
        let offers = [UInt32(1): try OfferRuntime(OfferConfig(id: 1, url: "https://a.example/"), ids: ["conversion": 0])]
        let slugs = ["a", "ab", "abc", "abd", "b", "x-y_z", "summer-sale-2026"]
        let table = try SmartLinkTable(slugs.enumerated().map { SmartLinkTableTests.link(UInt32($0.offset + 10), $0.element, offers: [1]) },
                                       offers: offers)
        for (i, slug) in slugs.enumerated() {
            #expect(SmartLinkTableTests.found(table, slug: slug) == UInt32(i + 10), "slug \(slug)")
            #expect(table.link(id: UInt32(i + 10))?.takeUnretainedValue().slug == Array(slug.utf8))
        }
        for absent in ["", "A", "abcd", "ac", "x-y_", "summer-sale-2027", "bb"] {
            #expect(SmartLinkTableTests.found(table, slug: absent) == nil, "slug \(absent)")
        }
        #expect(table.link(id: 9) == nil)
        #expect(table.link(id: 17) == nil)
        let empty = try SmartLinkTable([], offers: offers)
        #expect(SmartLinkTableTests.found(empty, slug: "a") == nil)
        #expect(empty.link(id: 10) == nil)
    }

    @Test func aTableKeepsItsLinksAndTheirOffersAfterItsCatalogIsGone() throws {
        var config = TrackstarConfig()
        config.offers = [OfferConfig(id: 1, url: "https://one.example/"), OfferConfig(id: 2, url: "https://two.example/")]
        config.smartlinks = [SmartLinkTableTests.link(5, "main", offers: [2, 1]), SmartLinkTableTests.link(6, "other", offers: [1])]
        var catalog: Catalog? = try Catalog(config)
        weak var gone = catalog
        let table = catalog!.smartLinks
        catalog = nil
        #expect(gone == nil)
        let link = try #require(table.link(id: 5)).takeUnretainedValue()
        #expect(SmartLinkTableTests.found(table, slug: "main") == 5)
        #expect(link.entries.count == 2)
        #expect(link.entries.withOffer(0) { $0.id } == 2)
        #expect(link.entries.withOffer(1) { $0.template.literal.count } == "https://one.example/".utf8.count)
        #expect(link.entries.offer(1).id == 1)
        #expect(link.entries.weight(0) == 2)
    }
}
