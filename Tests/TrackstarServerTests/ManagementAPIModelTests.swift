// In-process tests of a management API write at the cost of its object: every write's verdict (accepted,
// or refused with these paths and messages) equals loading the whole resulting document as check-config
// does; a change recompiles only its object and shares the rest with the previous catalog; tokens are
// stored as their SHA-256 only and come back from the log.
import Testing
@testable import TrackstarServer
import TrackstarConfiguration

/// The catalog log in memory.
final class MemoryCatalogStore: CatalogStore, @unchecked Sendable {
    var stored: [CatalogChange] = []
    func load() throws(StartupError) -> [CatalogChange] { stored }
    func append(_ change: CatalogChange) throws(StartupError) { stored.append(change) }
}

@Suite struct ManagementAPIModelTests {
    static let seed = """
        [server]
        listen = "127.0.0.1:0"

        [[offers]]
        id = 1
        url = "https://one.example/?c={click_id}"
        [offers.caps]
        daily_clicks = 5

        [[offers]]
        id = 2
        url = "https://two.example/?c={click_id}"
        redirect_offer_id = 1
          [offers.events.upsell]
          payout = 1.0

        [[affiliates]]
        id = 7

        [[postbacks]]
        aff_id = 7
        offer_id = 2
        event = "upsell"
        url = "https://partner.example/?c={click_id}"

        [[postback_profiles]]
        name = "partner"
        click_id = ["clickref"]

        [[smartlinks]]
        id = 1
        slug = "summer"
        offers = [{ offer_id = 1, weight = 1 }, { offer_id = 2, weight = 2 }]
        """

    static func value(_ json: String) -> CatalogValue {
        guard case .success(let (value, _)) = CatalogJSONReader.parse(Array(json.utf8)) else { fatalError("bad test JSON \(json)") }
        return value
    }

    static func service() throws -> CatalogService {
        guard case .success(let config) = ConfigLoader.load(text: seed) else { throw StartupError("seed") }
        let service = try CatalogService(source: seed, base: config, store: MemoryCatalogStore())
        // What serve does after the checks: compile (an unknown time zone is found here, as check-config's RuntimeCheck finds it).
        service.applyChange = { update throws(CatalogApplyFailure) in
            do throws(ConfigProblem) { _ = try Catalog(update.config) } catch { throw CatalogApplyFailure.problem(error) }
        }
        return service
    }

    /// "line 12" → "line N": the two ways number lines differently (a whole rendering, or one object's).
    static func normalized(_ problems: [CatalogProblem]) -> [String] {
        // A redirect cycle is reported at the smallest line among its links: which of its offers that is
        // depends on the numbering, so only its message is compared (it names every link).
        let lines = try! Regex(#"line [0-9]+"#)
        return problems.map {
            ($0.message.hasPrefix("redirect_offer_id: the chain") ? "" : $0.path) + " " + $0.message.replacing(lines, with: "line N")
        }.sorted()
    }

    /// (collection, key, object or nil to archive): accepted and refused ones, touching every check.
    static let writes: [(String, String, String?)] = [
        ("offers", "3", #"{"id":3,"url":"https://three.example/?c={click_id}","payout":1.5}"#),
        ("offers", "3", #"{"id":3,"url":"https://three.example/?c={nope}","click_lifetime":30}"#),
        ("offers", "1", #"{"id":1,"url":"https://one.example/","redirect_offer_id":2}"#),
        ("offers", "1", #"{"id":1,"url":"https://one.example/","timezone":"Mars/Olympus"}"#),
        ("offers", "1", #"{"id":1,"url":"https://one.example/","postback_profile":"nope"}"#),
        ("offers", "1", #"{"id":1,"url":"https://one.example/","postback_profile":"partner"}"#),
        ("offers", "2", #"{"id":2,"url":"https://two.example/"}"#),
        ("offers", "2", nil),
        ("affiliates", "7", nil),
        ("affiliates", "8", #"{"id":8,"status":"sometimes"}"#),
        ("affiliates", "8", #"{"id":8,"trafficback_url":"https://back.example/"}"#),
        ("offers", "1", #"{"id":1,"url":"https://one.example/","affiliate_caps":[{"aff_id":9,"daily_clicks":1}]}"#),
        ("smartlinks", "2", #"{"id":2,"slug":"summer","offers":[{"offer_id":1}]}"#),
        ("smartlinks", "2", #"{"id":2,"slug":"winter","offers":[{"offer_id":1,"weight":0}]}"#),
        ("smartlinks", "2", #"{"id":2,"slug":"winter","offers":[{"offer_id":3}]}"#),
        ("postbacks", "7_1_*", #"{"aff_id":7,"offer_id":1,"url":"https://p.example/?c={click_id}"}"#),
        ("postbacks", "7_3_zzz", #"{"aff_id":7,"offer_id":3,"event":"zzz","url":"https://p.example/"}"#),
        ("postback_profiles", "default", #"{"name":"default"}"#),
        ("postback_profiles", "partner", nil),
        ("postback_profiles", "second", #"{"name":"second","click_id":["sid"],"colour":"red"}"#),
        ("bots", "bots", #"{"user_agent_substrings":["AcmeScanner"],"networks":["203.0.113.0/24"],"asns":[15169,"AS32934"]}"#),
        ("bots", "bots", #"{"networks":["203.0.113.0/33"],"asns":["ASx"]}"#),
        ("offers", "1", nil),
    ]

    @Test func everyWritesVerdictIsTheWholeDocumentsUnderCheckConfig() throws {
        let service = try Self.service()
        var accepted = 0, refused = 0
        for (name, key, json) in Self.writes {
            let collection = try #require(CatalogCollection.named(name))
            let object = json.map(Self.value)
            // The reference: the whole document after the write, loaded as check-config loads a file.
            var document = service.merged
            var objectPath: [String]?
            if collection.isSingleton {
                document = document.setting(name, object)
            } else {
                var items: [CatalogValue] = []
                if case .array(let current)? = document[name] { items = current }
                let index = items.firstIndex { collection.key(of: $0) == key }
                if let index { if let object { items[index] = object } else { items.remove(at: index) } } else if let object { items.append(object) }
                if object != nil { objectPath = [name, String(index ?? items.count - 1)] }
                document = document.setting(name, items.isEmpty ? nil : .array(items))
            }
            if collection.isSingleton, object != nil { objectPath = [name] }
            let reference = CatalogService.check(document, objectPath: objectPath)
            let outcome = service.write(collection, key: key, object: object, action: "test", who: "t", expectedTag: nil,
                                        mustExist: false, mustNotExist: false, nowMillis: 0)
            switch (reference, outcome) {
            case (.success, .stored):
                accepted += 1
            case (.failure(let expected), .invalid(let got)):
                refused += 1
                #expect(Self.normalized(got) == Self.normalized(expected), "\(name)/\(key)")
            default:
                Issue.record("\(name)/\(key): check-config says \(reference), the write \(outcome)")
            }
        }
        #expect(accepted >= 5 && refused >= 12, "accepted \(accepted), refused \(refused)")
        // The kept document is the store's history replayed over the file.
        let replayed = try CatalogService(source: Self.seed, base: TrackstarConfig(), store: service.store)
        #expect(replayed.merged == service.merged)
    }

    @Test func aChangeRecompilesItsObjectAndSharesTheRest() throws {
        guard case .success(var config) = ConfigLoader.load(text: Self.seed) else { Issue.record("seed"); return }
        var events = EventRegistry()
        _ = try events.admit(config)
        let previous = try Catalog(config, events: events)
        config.offers[1].url = "https://changed.example/?c={click_id}"
        let next = try Catalog(updating: previous, config, events: events, scope: .offer(2))
        #expect(next.offer(1) === previous.offer(1))
        #expect(next.offer(2) !== previous.offer(2) && next.offer(2)?.template.literal.count != previous.offer(2)?.template.literal.count)
        #expect(next.affiliate(7) === previous.affiliate(7) && next.profiles === previous.profiles)
        // Archived: gone from the lookups, its event names kept for the conversions it has.
        config.offers.remove(at: 1)
        let archived = try Catalog(updating: next, config, events: events, scope: .offer(2))
        #expect(archived.offer(2) == nil && archived.eventNames(2) != nil && archived.offer(1) === previous.offer(1))
        // An affiliate change leaves every offer alone.
        config.affiliates[0].status = .paused
        let paused = try Catalog(updating: archived, config, events: events, scope: .affiliate(7))
        #expect(paused.affiliate(7)?.paused == true && paused.offer(1) === previous.offer(1))
        // An offer choosing a profile no offer used before: the name table changes, so everything is compiled.
        config.offers[0].postbackProfile = "partner"
        let profiled = try Catalog(updating: paused, config, events: events, scope: .offer(1))
        #expect(profiled.profiles !== paused.profiles && profiled.offer(1)?.profile === profiled.profiles.byName["partner"])
    }

    @Test func tokensAreStoredAsTheirDigestOnlyAndComeBackFromTheLog() throws {
        let service = try Self.service()
        let secret = ApiTokens.newSecret()
        #expect(secret.hasPrefix("ts_") && secret.utf8.count == 67 && secret != ApiTokens.newSecret())
        let token = AdminToken(name: "backoffice", sha256: SHA256.hex(Array(secret.utf8)), role: .editor)
        guard case .stored = service.writeToken(name: "backoffice", after: token, action: "create", who: "ops", nowMillis: 1) else {
            Issue.record("not stored"); return
        }
        let line = try #require(service.changes.last).json
        #expect(!line.contains(secret) && line.contains(token.sha256))
        let reread = try CatalogService(source: Self.seed, base: TrackstarConfig(), store: service.store)
        #expect(reread.apiTokens == [token])
        let audit = ApiTokens.redacted(Self.value(line))
        #expect(!audit.json.contains(token.sha256) && audit["after"]?["role"] == .string("editor"))
        _ = service.writeToken(name: "backoffice", after: nil, action: "revoke", who: "ops", nowMillis: 2)
        #expect(try CatalogService(source: Self.seed, base: TrackstarConfig(), store: service.store).apiTokens.isEmpty)
        // Token changes are not catalog objects: the exported catalog has none.
        #expect(!service.exportTOML().contains("backoffice"))
    }
}
