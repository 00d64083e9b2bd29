// From what the uap-core rules found (spider or not, OS family) and a few tokens of the agent, the kind
// of device: uap-core names devices (brand, model) but not their form factor, so tablets, TVs and
// consoles are told by tokens, phones by a mobile OS or token, desktops by a desktop OS. Also the
// cheap, regex-free answer a cache gives over its budget. Every token list is found in one pass.

/// Device-kind rules and the token tables of the cheap classification; immutable.
struct DeviceKinds: Sendable {
    /// What an OS family says about the device.
    enum OSKind: UInt8, Sendable { case unknown, desktop, mobile, android }

    static let tvTokens = ["smart-tv", "smarttv", "smart tv", "googletv", "google tv", "appletv", "apple tv", "hbbtv",
        "crkey", "roku", "bravia", "netcast", "web0s", "android tv", "fire tv", "; aft", "philipstv", "viera", "aquos",
        "opera tv", "large screen", "espial", "tv safari", "dtv", "chromecast"]
    static let consoleTokens = ["playstation", "xbox", "nintendo", "ouya"]
    static let strongTabletTokens = ["ipad", "kindle", "silk/", "playbook"]
    static let tabletTokens = ["tablet", "; sm-t", "; gt-p", "galaxy tab", "xoom", "; kf", "nexus 7", "nexus 9",
        "nexus 10", "lenovo tab", "; tb-", "mediapad", "matepad", "pixel c", "; tab "]
    static let mobileTokens = ["mobile", "mobi", "phone", "iphone", "ipod", "dalvik", "opera mini", "j2me", "midp",
        "blackberry", "symbian", "nokia", "kaios", "windows ce", "palm", "up.browser", "docomo"]
    static let botTokens = ["bot", "spider", "crawl", "slurp", "headless", "curl/", "wget/", "python-", "scrapy",
        "httpclient", "go-http-client", "okhttp", "java/", "libwww", "preview"]
    /// The cheap answer's OS, by the first token of this list the agent holds.
    static let osTokens = [("windows phone", "Windows Phone"), ("iphone", "iOS"), ("ipad", "iOS"), ("ipod", "iOS"),
        ("android", "Android"), ("cros ", "Chrome OS"), ("windows", "Windows"), ("mac os x", "Mac OS X"),
        ("macintosh", "Mac OS X"), ("linux", "Linux")]
    /// The cheap answer's browser (desktop and mobile family), by the first token of this list.
    static let browserTokens = [("edg/", "Edge", "Edge Mobile"), ("edga/", "Edge Mobile", "Edge Mobile"),
        ("edgios/", "Edge Mobile", "Edge Mobile"), ("opr/", "Opera", "Opera Mobile"),
        ("samsungbrowser/", "Samsung Internet", "Samsung Internet"), ("yabrowser/", "Yandex Browser", "Yandex Browser"),
        ("fxios/", "Firefox iOS", "Firefox iOS"), ("firefox/", "Firefox", "Firefox Mobile"),
        ("crios/", "Chrome Mobile iOS", "Chrome Mobile iOS"), ("chrome/", "Chrome", "Chrome Mobile"),
        ("version/", "Safari", "Mobile Safari"), ("trident/", "IE", "IE Mobile"), ("msie ", "IE", "IE Mobile")]

    private let tokens: AgentSubstrings
    private let tv, console, strongTablet, tablet, mobile, bot: TokenSet
    private let mobileWord: Int                 // the index of "mobile"
    private let osFirst: Int, browserFirst: Int // where the OS and browser tokens start
    private let osIDs: [UInt16]
    private let browserIDs: [(desktop: UInt16, mobile: UInt16)]
    private let osKinds: [OSKind]               // by OS id

    /// Kinds for the OS names of `os` (by id), and the cheap tables' ids from both name tables.
    init(os: FamilyNames, browsers: FamilyNames) {
        var all: [String] = []
        func add(_ list: [String]) -> TokenSet {
            let first = all.count
            all += list
            return TokenSet(first..<all.count)
        }
        tv = add(Self.tvTokens); console = add(Self.consoleTokens); strongTablet = add(Self.strongTabletTokens)
        tablet = add(Self.tabletTokens); mobile = add(Self.mobileTokens); bot = add(Self.botTokens)
        mobileWord = all.firstIndex(of: "mobile")!
        osFirst = all.count
        all += Self.osTokens.map(\.0)
        browserFirst = all.count
        all += Self.browserTokens.map(\.0)
        precondition(all.count <= 128, "DeviceKinds: more than 128 tokens")
        tokens = AgentSubstrings(all)
        osIDs = Self.osTokens.map { os.id(named: $0.1) ?? 0 }
        browserIDs = Self.browserTokens.map { (browsers.id(named: $0.1) ?? 0, browsers.id(named: $0.2) ?? 0) }
        osKinds = os.names.map(Self.kind)
    }

    /// The kind of device, from the rules' findings and the agent's tokens.
    func deviceType(_ agent: UnsafeRawBufferPointer, spider: Bool, os: UInt16) -> DeviceType {
        if spider { return .bot }
        return deviceType(tokens.occurring(in: agent), os: os)
    }

    private func deviceType(_ seen: TokenSet, os: UInt16) -> DeviceType {
        if seen.intersects(tv) { return .tv }
        if seen.intersects(console) { return .other }
        if seen.intersects(strongTablet) { return .tablet }
        let kind = Int(os) < osKinds.count ? osKinds[Int(os)] : .unknown
        if kind != .desktop, seen.intersects(tablet) { return .tablet }
        switch kind {
        case .android: return seen.intersects(mobile) ? .mobile : .tablet   // Android tablets omit "Mobile"
        case .mobile: return .mobile
        case .desktop: return .desktop
        case .unknown: return seen.intersects(mobile) ? .mobile : .other
        }
    }

    /// The cheap answer: OS and browser by the first of a few fixed tokens, bots by token; one pass.
    func quick(_ agent: UnsafeRawBufferPointer) -> DeviceAnswer {
        guard !agent.isEmpty else { return .unknown }
        let seen = tokens.occurring(in: agent)
        let spider = seen.intersects(bot)
        var os: UInt16 = 0, browser: UInt16 = 0
        if let index = osIDs.indices.first(where: { seen.contains(osFirst + $0) }) { os = osIDs[index] }
        if let index = browserIDs.indices.first(where: { seen.contains(browserFirst + $0) }) {
            browser = seen.contains(mobileWord) ? browserIDs[index].mobile : browserIDs[index].desktop
        }
        return DeviceAnswer(device: spider ? .bot : deviceType(seen, os: os), os: os, browser: browser, spider: spider)
    }

    /// What an OS family name says about its devices.
    static func kind(_ name: String) -> OSKind {
        let mobileNames: Set = ["iOS", "Windows Phone", "Windows Mobile", "Windows CE", "Windows RT", "KaiOS",
            "Firefox OS", "Tizen", "Sailfish", "webOS", "Bada", "MeeGo", "Maemo", "Ubuntu Touch", "HarmonyOS",
            "BREW", "Java ME", "Palm OS"]
        if name.contains("Android") { return .android }
        if mobileNames.contains(name) || name.hasPrefix("Symbian") || name.hasPrefix("BlackBerry")
            || name.hasPrefix("Nokia Series") || name.hasPrefix("Windows Phone") { return .mobile }
        let desktopNames: Set = ["Mac OS X", "Mac OS", "Linux", "Ubuntu", "Kubuntu", "Xubuntu", "Lubuntu", "Chrome OS",
            "Fedora", "Debian", "FreeBSD", "OpenBSD", "NetBSD", "DragonFly BSD", "Solaris", "SunOS", "Mint", "Linux Mint",
            "Gentoo", "Arch Linux", "SUSE", "openSUSE", "Red Hat", "CentOS", "Mandriva", "Slackware", "Mageia",
            "PCLinuxOS", "Haiku", "BeOS", "AmigaOS", "OS/2", "Raspbian", "Manjaro", "elementary OS", "GNU", "Windows"]
        if desktopNames.contains(name) || name.hasPrefix("Windows ") { return .desktop }
        return .unknown
    }
}
