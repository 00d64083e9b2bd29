// Tests for `[geo]`, `[bots]`, `[privacy]` and the offers' `bot_action` and `unique_window`:
// defaults, every key, and each bad value reported on its line with what to write instead.
import Testing
@testable import TrackstarCore
@testable import TrackstarConfiguration

private let offer = "[[offers]]\nid = 1\nurl = \"https://shop.example/\"\n"

@Suite struct EnrichConfigTests {
    @Test func defaultsAreLibLocFlaggingAndTwentyFourHourWindows() throws {
        let config = try ConfigLoader.load(text: offer).get()
        #expect(config.geo.database == .libloc)
        #expect(config.geo.resolvedPath == "/var/lib/location/database.db")
        #expect(config.bots == BotConfig())
        #expect(config.bots.anonymousProxy)
        #expect(config.privacy.anonymizeIP == IPAnonymization.none)
        #expect(config.privacy.personalDataRetentionMillis == nil)
        #expect(config.offers[0].botAction == .flag)
        #expect(config.offers[0].uniqueWindowMillis == 86_400_000)
        #expect(config.storage.uniqueClicksPerWindow == 1 << 22)
    }

    @Test func uniqueTableSizeIsReadAndChecked() throws {
        #expect(try ConfigLoader.load(text: "[storage]\nunique_clicks_per_window = 50000000\n").get().storage.uniqueClicksPerWindow == 50_000_000)
        expectOneProblem("[storage]\n\nunique_clicks_per_window = 10\n", line: 3, "storage.unique_clicks_per_window", "1024")
        expectOneProblem("[storage]\nunique_clicks_per_window = \"many\"\n", line: 2, "storage.unique_clicks_per_window")
    }

    @Test func readsEveryKey() throws {
        let config = try ConfigLoader.load(text: """
            [geo]
            database = "mmdb"
            path = "/data/GeoLite2-City.mmdb"

            [bots]
            user_agent_substrings = ["curl/", "python-requests"]
            networks = ["203.0.113.0/24", "2001:db8::/32"]
            asns = [16509, "AS15169"]
            anonymous_proxy = false
            user_agent_regexes = "/etc/uap/regexes.yaml"

            [privacy]
            anonymize_ip = "truncate"
            personal_data_retention = "30d"

            [[offers]]
            id = 1
            url = "https://shop.example/?c={country}&d={device}&o={os}&b={browser}"
            fallback_url = "https://elsewhere.example/"
            bot_action = "fallback"
            unique_window = "90s"
            """).get()
        #expect(config.geo.database == .mmdb)
        #expect(config.geo.resolvedPath == "/data/GeoLite2-City.mmdb")
        #expect(config.geo.line == 3)
        #expect(config.bots.userAgentSubstrings == ["curl/", "python-requests"])
        #expect(config.bots.networks.count == 2)
        #expect(config.bots.asns == [16509, 15169])
        #expect(!config.bots.anonymousProxy)
        #expect(config.bots.userAgentRegexes == "/etc/uap/regexes.yaml")
        #expect(config.privacy.anonymizeIP == .truncate)
        #expect(config.privacy.personalDataRetentionMillis ?? 0 == Int64(2_592_000_000))
        #expect(config.offers[0].botAction == .fallback)
        #expect(config.offers[0].uniqueWindowMillis == 90_000)
        let off = try ConfigLoader.load(text: "[geo]\ndatabase = \"off\"\n").get()
        #expect(off.geo.resolvedPath == nil)
    }

    @Test func badValuesAreReportedOnTheirLine() {
        expectOneProblem("[geo]\ndatabase = \"geoip\"\n", line: 2, "geo.database", "\"libloc\"", "\"mmdb\"", "\"off\"")
        expectOneProblem("[geo]\ndatabase = \"mmdb\"\n", line: 2, "mmdb", "needs path")
        expectOneProblem("[geo]\npaht = \"/x\"\n", line: 2, "geo.paht", "did you mean path")
        expectOneProblem("[bots]\nasns = [0]\n", line: 2, "bots.asns[0]")
        expectOneProblem("[bots]\nasns = [\"ASX\"]\n", line: 2, "bots.asns[0]", "not an AS number")
        expectOneProblem("[bots]\n\nnetworks = [\"10.0.0.0/33\"]\n", line: 3, "bots.networks[0]")
        expectOneProblem("[bots]\nuser_agent_substrings = [\"\"]\n", line: 2, "bots.user_agent_substrings[0]", "must not be empty")
        expectOneProblem("[bots]\nuser_agent_substrings = \"curl\"\n", line: 2, "bots.user_agent_substrings", "array")
        expectOneProblem("[privacy]\nanonymize_ip = \"hash\"\n", line: 2, "privacy.anonymize_ip", "\"truncate\"")
        expectOneProblem("[privacy]\npersonal_data_retention = 30\n", line: 2, "privacy.personal_data_retention", "\"30s\"")
        expectOneProblem(offer + "bot_action = \"block\"\n", line: 4, "offers[1].bot_action", "\"flag\", \"fallback\" or \"refuse\"")
        expectOneProblem(offer + "unique_window = \"0s\"\n", line: 4, "offers[1].unique_window", "longer than 0")
        expectOneProblem("anonymize_ip = \"truncate\"\n", line: 1, "must be inside [privacy]")
    }

    @Test func fallbackForBotsNeedsAFallbackURL() {
        expectOneProblem("\n" + offer + "bot_action = \"fallback\"\n", line: 2, "offers[1]", "bot_action = \"fallback\" needs fallback_url")
    }

    @Test func retentionMustCoverEveryUniqueWindow() {
        expectOneProblem("[privacy]\npersonal_data_retention = \"1h\"\n" + offer + "unique_window = \"2h\"\n", line: 3,
                  "unique_window is longer than [privacy] personal_data_retention")
        #expect(configProblems("[privacy]\npersonal_data_retention = \"2h\"\n" + offer + "unique_window = \"2h\"\n").isEmpty)
    }

    @Test func enrichmentMacrosAreAllowedInLandingAndPartnerTemplates() throws {
        let landing = try URLTemplate("https://x.example/?c={country}&d={device}&o={os}&b={browser}", allowed: Macro.clickMacros)
        #expect(landing.parts.contains(.macro(.country)) && landing.parts.contains(.macro(.browser)))
        #expect(ConfigParse.postbackURLMacros.contains("raw:os"))
    }
}
