// From what the uap-core rules found (spider or not, OS family) and a few tokens of the agent, the kind
// of device: uap-core names devices (brand, model) but not their form factor, so tablets, TVs and
// consoles are told by tokens, phones by a mobile OS or token, desktops by a desktop OS. Also the
// cheap, regex-free answer a cache gives over its budget.

/// Device-kind rules and the token tables of the cheap classification; immutable.
struct DeviceKinds: Sendable {
    /// What an OS family says about the device.
    enum OSKind: UInt8, Sendable { case unknown, desktop, mobile, android }

    private let osKinds: [OSKind]            // by OS id
    private let tv = AgentSubstrings(["smart-tv", "smarttv", "smart tv", "googletv", "google tv", "appletv",
        "apple tv", "hbbtv", "crkey", "roku", "bravia", "netcast", "web0s", "android tv", "fire tv", "; aft",
        "philipstv", "viera", "aquos", "opera tv", "large screen", "espial", "tv safari", "dtv", "chromecast"])
    private let console = AgentSubstrings(["playstation", "xbox", "nintendo", "ouya"])
    private let strongTablet = AgentSubstrings(["ipad", "kindle", "silk/", "playbook"])
    private let tablet = AgentSubstrings(["tablet", "; sm-t", "; gt-p", "galaxy tab", "xoom", "; kf", "nexus 7",
        "nexus 9", "nexus 10", "lenovo tab", "; tb-", "mediapad", "matepad", "pixel c", "; tab "])
    private let mobile = AgentSubstrings(["mobile", "mobi", "phone", "iphone", "ipod", "dalvik", "opera mini",
        "j2me", "midp", "blackberry", "symbian", "nokia", "kaios", "windows ce", "palm", "up.browser", "docomo"])
    private let bot = AgentSubstrings(["bot", "spider", "crawl", "slurp", "headless", "curl/", "wget/", "python-",
        "scrapy", "httpclient", "go-http-client", "okhttp", "java/", "libwww", "preview"])
    private let mobileToken = Array("Mobile".utf8)
    private let quickOS: [(token: [UInt8], id: UInt16)]
    private let quickBrowsers: [(token: [UInt8], id: UInt16, mobileID: UInt16)]

    /// Kinds for the OS names of `os` (by id), and the cheap tables' ids from both name tables.
    init(os: FamilyNames, browsers: FamilyNames) {
        osKinds = os.names.map(Self.kind)
        func osID(_ name: String) -> UInt16 { os.id(named: name) ?? 0 }
        func browserID(_ name: String) -> UInt16 { browsers.id(named: name) ?? 0 }
        quickOS = [("Windows Phone", "Windows Phone"), ("iPhone", "iOS"), ("iPad", "iOS"), ("iPod", "iOS"),
                   ("Android", "Android"), ("CrOS", "Chrome OS"), ("Windows", "Windows"), ("Mac OS X", "Mac OS X"),
                   ("Macintosh", "Mac OS X"), ("Linux", "Linux")]
            .map { (Array($0.0.utf8), osID($0.1)) }
        quickBrowsers = [("Edg", "Edge", "Edge Mobile"), ("OPR/", "Opera", "Opera Mobile"),
                         ("SamsungBrowser/", "Samsung Internet", "Samsung Internet"),
                         ("YaBrowser/", "Yandex Browser", "Yandex Browser"), ("FxiOS/", "Firefox iOS", "Firefox iOS"),
                         ("Firefox/", "Firefox", "Firefox Mobile"), ("CriOS/", "Chrome Mobile iOS", "Chrome Mobile iOS"),
                         ("Chrome/", "Chrome", "Chrome Mobile"), ("Version/", "Safari", "Mobile Safari"),
                         ("Trident/", "IE", "IE Mobile"), ("MSIE ", "IE", "IE Mobile")]
            .map { (Array($0.0.utf8), browserID($0.1), browserID($0.2)) }
    }

    /// The kind of device, from the rules' findings and the agent's tokens.
    func deviceType(_ agent: UnsafeRawBufferPointer, spider: Bool, os: UInt16) -> DeviceType {
        if spider { return .bot }
        if tv.found(in: agent) { return .tv }
        if console.found(in: agent) { return .other }
        if strongTablet.found(in: agent) { return .tablet }
        let kind = Int(os) < osKinds.count ? osKinds[Int(os)] : .unknown
        if kind != .desktop, tablet.found(in: agent) { return .tablet }
        switch kind {
        case .android: return mobile.found(in: agent) ? .mobile : .tablet   // Android tablets omit "Mobile"
        case .mobile: return .mobile
        case .desktop: return .desktop
        case .unknown: return mobile.found(in: agent) ? .mobile : .other
        }
    }

    /// The cheap answer: OS and browser by the first of a few fixed tokens, bots by token.
    func quick(_ agent: UnsafeRawBufferPointer) -> DeviceAnswer {
        guard !agent.isEmpty else { return .unknown }
        let spider = bot.found(in: agent)
        let os = quickOS.first { Self.contains(agent, $0.token) }?.id ?? 0
        let isMobile = Self.contains(agent, mobileToken)
        var browser: UInt16 = 0
        if let match = quickBrowsers.first(where: { Self.contains(agent, $0.token) }) {
            browser = isMobile ? match.mobileID : match.id
        }
        return DeviceAnswer(device: deviceType(agent, spider: spider, os: os), os: os, browser: browser, spider: spider)
    }

    /// Whether `token` occurs in `text` (case-sensitive).
    private static func contains(_ text: UnsafeRawBufferPointer, _ token: [UInt8]) -> Bool {
        guard token.count <= text.count, let first = token.first else { return false }
        for start in 0...(text.count - token.count) where text[start] == first {
            var index = 1
            while index < token.count, text[start + index] == token[index] { index += 1 }
            if index == token.count { return true }
        }
        return false
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
