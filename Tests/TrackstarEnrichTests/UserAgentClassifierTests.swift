// The classifier against uap-core's own test corpora (families and spiders), on agents whose device
// kind is not in doubt, and the prefilter against running every rule.
import Testing
@testable import TrackstarEnrich

@Suite struct UserAgentClassifierTests {
    static let iPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
    static let pixel = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36"
    static let windowsChrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
    static let macSafari = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"
    static let iPad = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
    static let galaxyTab = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36"
    static let tizenTV = "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 85.0.4183.93/6.0 TV Safari/537.36"
    static let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    static let googlebotPhone = "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.199 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

    static let samples = [iPhone, pixel, windowsChrome, macSafari, iPad, galaxyTab, tizenTV, googlebot, googlebotPhone]

    func classify(_ classifier: UserAgentClassifier, _ agent: String) -> (DeviceAnswer, os: String, browser: String) {
        let answer = withBytes(agent) { classifier.classify($0) }
        return (answer, classifier.osName(answer.os), classifier.browserName(answer.browser))
    }

    @Test func phonesAreMobileWithTheirOS() throws {
        let classifier = try Shared.classifier.get()
        let iPhone = classify(classifier, Self.iPhone)
        #expect(iPhone.0.device == .mobile && iPhone.os == "iOS" && iPhone.browser == "Mobile Safari" && !iPhone.0.spider)
        let pixel = classify(classifier, Self.pixel)
        #expect(pixel.0.device == .mobile && pixel.os == "Android" && pixel.browser == "Chrome Mobile")
    }

    @Test func desktopsTabletsAndTVs() throws {
        let classifier = try Shared.classifier.get()
        let windows = classify(classifier, Self.windowsChrome)
        #expect(windows.0.device == .desktop && windows.os == "Windows" && windows.browser == "Chrome")
        let mac = classify(classifier, Self.macSafari)
        #expect(mac.0.device == .desktop && mac.os == "Mac OS X" && mac.browser == "Safari")
        #expect(classify(classifier, Self.iPad).0.device == .tablet)
        #expect(classify(classifier, Self.galaxyTab).0.device == .tablet)   // Android without "Mobile"
        #expect(classify(classifier, Self.tizenTV).0.device == .tv)
        #expect(classify(classifier, "").0 == .unknown)
    }

    @Test func googlebotIsASpider() throws {
        let classifier = try Shared.classifier.get()
        for agent in [Self.googlebot, Self.googlebotPhone] {
            let result = classify(classifier, agent)
            #expect(result.0.spider && result.0.device == .bot, "\(agent)")
        }
        #expect(classify(classifier, Self.googlebot).browser == "Googlebot")
    }

    /// uap-core's device corpus: every agent it calls "Spider" is a spider here and no other is.
    @Test func spidersAsUAPCoreSaysThem() throws {
        let classifier = try Shared.classifier.get()
        let scratch = classifier.makeScratch()
        let cases = try UAPCorpus.load("test_device.yaml")
        #expect(cases.count > 10_000)
        var wrong: [String] = []
        for test in cases {
            let spider = withBytes(test.agent) { classifier.classify($0, scratch: scratch) }.spider
            if spider != (test.family == "Spider") { wrong.append("\(test.family): \(test.agent)") }
        }
        #expect(wrong.isEmpty, "\(wrong.count) of \(cases.count): \(wrong.prefix(5).joined(separator: "\n"))")
    }

    /// uap-core's browser and OS corpora: where the expected family is one the name table holds, the
    /// classifier names exactly it. The rest are texts generic rules copy out of the agent (about two
    /// fifths of test_ua.yaml are crawler names such as "CCBot"), which report as "Other".
    @Test(arguments: ["test_ua.yaml", "test_os.yaml"])
    func familiesAsUAPCoreNamesThem(corpus: String) throws {
        let classifier = try Shared.classifier.get()
        let scratch = classifier.makeScratch()
        let cases = try UAPCorpus.load(corpus)
        #expect(cases.count > 400)
        var wrong: [String] = [], known = 0
        for test in cases {
            let answer = withBytes(test.agent) { classifier.classify($0, scratch: scratch) }
            let name = corpus == "test_ua.yaml" ? classifier.browserName(answer.browser) : classifier.osName(answer.os)
            let isKnown = corpus == "test_ua.yaml" ? classifier.browserID(named: test.family) != nil : classifier.osID(named: test.family) != nil
            guard isKnown else { continue }
            known += 1
            if name.lowercased() != test.family.lowercased() { wrong.append("\(test.family) got \(name): \(test.agent)") }
        }
        print("\(corpus): \(known) of \(cases.count) families in the name table, \(wrong.count) wrong")
        let share = corpus == "test_ua.yaml" ? 0.55 : 0.95
        #expect(Double(known) >= share * Double(cases.count), "only \(known) of \(cases.count) families are named")
        #expect(wrong.isEmpty, "\(wrong.count): \(wrong.prefix(8).joined(separator: "\n"))")
    }

    /// The families reports group by most are all in the tables.
    @Test func commonFamiliesAreNamed() throws {
        let classifier = try Shared.classifier.get()
        for name in ["Chrome", "Chrome Mobile", "Chrome Mobile iOS", "Firefox", "Firefox Mobile", "Safari", "Mobile Safari",
                     "Edge", "Opera", "Samsung Internet", "Yandex Browser", "UC Browser", "IE", "Googlebot", "bingbot"] {
            #expect(classifier.browserID(named: name) != nil, "browser \(name)")
        }
        for name in ["Windows", "Mac OS X", "iOS", "Android", "Linux", "Ubuntu", "Chrome OS"] {
            #expect(classifier.osID(named: name) != nil, "OS \(name)")
        }
        #expect(classifier.browserName(0) == "Other" && classifier.osName(0) == "Other" && classifier.osName(65_000) == "Other")
    }

    /// The prefilter skips only rules that could not have matched: every corpus agent gets the same
    /// answer with it as with every rule tried.
    @Test func prefilterChangesNoAnswer() throws {
        let classifier = try Shared.classifier.get()
        let scratch = classifier.makeScratch()
        var agents: [String] = []
        for corpus in ["test_ua.yaml", "test_os.yaml", "test_device.yaml"] { agents += try UAPCorpus.load(corpus).map(\.agent) }
        var differ: [String] = []
        for agent in agents {
            let filtered = withBytes(agent) { classifier.classify($0, scratch: scratch) }
            let unfiltered = withBytes(agent) { classifier.classifyEveryRule($0, scratch: scratch) }
            if filtered != unfiltered { differ.append(agent) }
        }
        #expect(differ.isEmpty, "\(differ.count) of \(agents.count): \(differ.prefix(5).joined(separator: "\n"))")
        let counts = classifier.ruleCounts
        #expect(counts.prefiltered * 2 > counts.rules, "only \(counts.prefiltered) of \(counts.rules) rules have a prefilter")
    }
}
