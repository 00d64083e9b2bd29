// Issue 17: `[[postback_profiles]]`, `postback_profile` per offer and in `[server]`: what loads, and
// every problem reported with its line; the built-ins' invariants; unfilled-template recognition.
import Testing
@testable import TrackstarCore
@testable import TrackstarConfiguration

private func problems(_ text: String) -> [ConfigProblem] {
    if case .failure(let problems) = ConfigLoader.load(text: text) { return problems.problems }
    return []
}

private let offer = """
[[offers]]
id = 1
url = "https://a.example/?c={click_id}"
"""

@Suite("postback profile config")
struct PostbackProfileConfigTests {
    @Test func builtinsAreConsistent() {
        #expect(Set(PostbackProfiles.builtins.map(\.name)) ==
                ["trackstar", "tune", "everflow", "voluum", "keitaro", "binom", "redtrack", "affise", "cake", "impact"])
        for profile in PostbackProfiles.builtins {
            #expect(!profile.names(.clickID).isEmpty, "\(profile.name)")
            let all = profile.names.values.flatMap { $0 }
            #expect(Set(all).count == all.count, "\(profile.name): a name carries two fields")
            let words = profile.words.values.flatMap { $0 }.map { $0.lowercased() }
            #expect(Set(words).count == words.count, "\(profile.name): a status word means two statuses")
        }
        // `tid` means an order id to Keitaro; the default profile does not read it at all.
        #expect(PostbackProfiles.builtin("keitaro")?.names(.txid) == ["tid"])
        #expect(PostbackProfiles.builtin("trackstar")?.names.values.joined().contains("tid") == false)
    }

    @Test func userProfileLoadsAndExtends() throws {
        let text = """
        [server]
        postback_profile = "mine"

        [[postback_profiles]]
        name = "mine"
        extends = "keitaro"
        click_id = ["tid"]
        txid = "order"
        approved = ["deposit"]
        required = ["txid"]

        \(offer)
        postback_profile = "binom"
        """
        guard case .success(let config) = ConfigLoader.load(text: text) else {
            Issue.record("\(problems(text).map(\.description))"); return
        }
        #expect(config.server.postbackProfile == "mine" && config.offers[0].postbackProfile == "binom")
        let mine = PostbackProfiles.resolved(config.postbackProfiles[0])
        #expect(mine.names(.clickID) == ["tid", "subid"])
        #expect(mine.names(.txid) == ["order"])  // `tid` moved to the click ID
        #expect(mine.words[.approved]?.first == "deposit" && mine.words[.approved]?.contains("sale") == true)
        #expect(mine.decimalComma && mine.required == [.txid])
    }

    @Test func problemsNameTheirLines() {
        let unknownOffer = problems(offer + "\npostback_profile = \"nope\"\n")
        #expect(unknownOffer.count == 1 && unknownOffer[0].line == 1 && unknownOffer[0].message.contains("no profile \"nope\""), "\(unknownOffer)")
        let unknownServer = problems("[server]\npostback_profile = \"keitar\"\n")
        #expect(unknownServer.count == 1 && unknownServer[0].line == 2 && unknownServer[0].message.contains("did you mean keitaro"),
                "\(unknownServer)")
        let twice = problems("[[postback_profiles]]\nname = \"p\"\nclick_id = [\"c\"]\ntxid = [\"c\"]\n")
        #expect(twice.contains { $0.line == 4 && $0.message.contains("already the click_id name (line 3)") }, "\(twice)")
        let word = problems("[[postback_profiles]]\nname = \"p\"\nclick_id = \"c\"\napproved = [\"ok\"]\nrejected = [\"OK\"]\n")
        #expect(word.count == 1 && word[0].line == 5 && word[0].message.contains("also means approved"), "\(word)")
        let builtin = problems("[[postback_profiles]]\nname = \"voluum\"\nclick_id = \"c\"\n")
        #expect(builtin.count == 1 && builtin[0].line == 1 && builtin[0].message.contains("built-in"), "\(builtin)")
        let noClick = problems("[[postback_profiles]]\nname = \"p\"\ntxid = \"t\"\n")
        #expect(noClick.count == 1 && noClick[0].line == 1 && noClick[0].message.contains("no click_id names"), "\(noClick)")
        let base = problems("[[postback_profiles]]\nname = \"p\"\nextends = \"volum\"\nclick_id = \"c\"\n")
        #expect(base.count == 1 && base[0].line == 3 && base[0].message.contains("did you mean voluum"), "\(base)")
        let badName = problems("[[postback_profiles]]\nname = \"p\"\nclick_id = [\"a b\"]\nrequired = [\"click\"]\n")
        #expect(badName.map(\.line) == [1, 3, 4], "\(badName)")  // no usable click_id name is left either
        let duplicate = problems("[[postback_profiles]]\nname = \"p\"\nclick_id = \"c\"\n[[postback_profiles]]\nname = \"p\"\nclick_id = \"d\"\n")
        #expect(duplicate.count == 1 && duplicate[0].line == 4 && duplicate[0].message.contains("line 1"), "\(duplicate)")
    }

    @Test(arguments: ["{transaction_id}", "{{order}}", "${txid}", "[SUB1]", "%ORDER_ID%", "#tid#", "<orderid>", "REPLACE",
                      "replace", "OPTIONAL", "ord-{id}", "{}"])
    func unfilledTemplates(_ value: String) {
        let words = PlaceholderWords(["REPLACE", "OPTIONAL"])
        #expect(Array(value.utf8).withUnsafeBytes { Placeholder.isUnfilled($0, words: words) }, "\(value)")
    }

    @Test(arguments: ["12.50", "ORDER-1", "a}b{c", "[1]", "%%", "#1#", "replaced", "x", "", "50%", "{"])
    func filledValues(_ value: String) {
        let words = PlaceholderWords(["REPLACE", "OPTIONAL"])
        #expect(!Array(value.utf8).withUnsafeBytes { Placeholder.isUnfilled($0, words: words) }, "\(value)")
    }
}
