// The per-loop click-issue table is fixed in size: keys beyond it are counted as "other", and no
// count is lost.
import Testing
import TrackstarStore
@testable import TrackstarServer

@Suite("click issue table")
struct ClickIssueTableTests {
    @Test func countsEveryIssueAndOverflowsIntoOther() {
        let table = ClickIssueTable()
        table.count(offer: 1, affiliate: 7, reason: .clickValueCut)
        table.count(offer: 1, affiliate: 7, reason: .clickValueCut)
        table.count(offer: 1, affiliate: 7, reason: .clickRepeatedParameter)
        var snapshot = table.snapshot()
        #expect(snapshot.count == 2)
        #expect(snapshot.contains { $0.offer == 1 && $0.affiliate == 7 && $0.reason == .clickValueCut && $0.count == 2 })

        // A flood of distinct unknown offers: the table fills, the rest is counted as "other".
        for offer in 0..<UInt32(5000) { table.count(offer: 1000 + offer, affiliate: 7, reason: .clickUnknownOffer) }
        snapshot = table.snapshot()
        let named = snapshot.filter { $0.offer != nil }
        #expect(named.count <= ClickIssueTable.capacity)
        #expect(snapshot.filter { $0.reason == .clickUnknownOffer }.reduce(0) { $0 + $1.count } == 5000)
        #expect(snapshot.contains { $0.offer == nil && $0.reason == .clickUnknownOffer })
    }
}
