// In-process tests of the management API's pieces: JSON in and out, the TOML rendering that the config
// loader reads back to the same values, SHA-256 against the standard vectors, JSON merge patch, the
// problem paths of a refused catalog, and the bounded table of failing addresses.
import Testing
@testable import TrackstarServer
import TrackstarConfiguration
import TrackstarIO

@Suite struct ManagementAPIUnitTests {
    static func parse(_ text: String) throws -> CatalogValue {
        switch CatalogJSONReader.parse(Array(text.utf8)) {
        case .success(let (value, _)): return value
        case .failure(let error): throw error
        }
    }

    /// Objects' keys sorted, recursively.
    static func canonical(_ value: CatalogValue) -> CatalogValue {
        switch value {
        case .object(let pairs): .object(pairs.map { ($0.0, canonical($0.1)) }.sorted { $0.0 < $1.0 })
        case .array(let items): .array(items.map(canonical))
        default: value
        }
    }

    @Test func jsonRoundTripsAndKeepsAmountsAsWritten() throws {
        let text = #"{"id":3,"payout":2.50,"name":"Caf\u00e9 \"x\"\n","ok":true,"ips":["10.0.0.0/8"],"events":{"a":{"payout":1e2}},"big":-9007199254740993}"#
        let value = try Self.parse(text)
        #expect(value["payout"] == .float("2.50"))
        #expect(value["big"] == .integer(-9_007_199_254_740_993))
        #expect(value["name"] == .string("Café \"x\"\n"))
        #expect(try Self.parse(value.json) == value)
        for bad in ["{\"a\":1,\"a\":2}", "[1,]", "{\"a\":null}", "01x", "\"\\ud800\"", "{\"a\":1} x", String(repeating: "[", count: 70)] {
            #expect(throws: JSONSyntaxError.self, "\(bad)") { try Self.parse(bad) }
        }
        guard case .success(let (patch, removed)) = CatalogJSONReader.parse(Array(#"{"a":null,"b":1}"#.utf8), allowNull: true) else {
            Issue.record("a merge patch's null was refused"); return
        }
        #expect(removed == [["a"]] && patch == .object([("b", .integer(1))]))
        // A merge patch's null may stand at any depth of objects, never in an array or as the whole body.
        for bad in [#"{"a":[1,null]}"#, "null"] {
            guard case .failure = CatalogJSONReader.parse(Array(bad.utf8), allowNull: true) else { Issue.record("\(bad) was accepted"); continue }
        }
    }

    /// Rendered TOML goes back through the TOML reader to the same values, nested tables and arrays of tables included.
    @Test func renderedTOMLReadsBackToTheSameDocument() throws {
        let document = try Self.parse(#"""
            {"server":{"listen":"127.0.0.1:0"},"offers":[{"id":1,"url":"https://a.example/?c={click_id}","payout":2.50,
             "events":{"upsell":{"payout":1.0},"odd key":{"revenue":3}},"allowed_ips":["10.0.0.0/8"]},
             {"id":2,"url":"https://b.example/\u0001","caps":{"daily":5},"affiliate_caps":[{"aff_id":7,"daily":2}]}],
             "affiliates":[{"id":7,"name":"tab\there"}]}
            """#)
        let rendered = CatalogTOML.render(document)
        let (root, problems) = TOML.parse(rendered.text)
        #expect(problems.isEmpty, "\(problems)\n\(rendered.text)")
        // The same values; keys may move (plain keys are written before a table's sub-tables).
        #expect(Self.canonical(CatalogValue(.table(root))) == Self.canonical(document), "\(rendered.text)")
        // Each line knows its path: the url of the second offer.
        let line = try #require(rendered.text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("url = \"https://b.") })
        #expect(rendered.path(ofLine: line + 1) == ["offers", "1", "url"])
    }

    @Test func problemsCarryTheFieldsPathAndTheLoadersMessage() throws {
        let document = try Self.parse(#"{"offers":[{"id":1,"url":"https://a.example/"},{"id":1,"url":"https://b.example/{x}"}]}"#)
        guard case .failure(let problems) = CatalogService.check(document, objectPath: ["offers", "1"]) else {
            Issue.record("a duplicate id and an unknown macro were accepted"); return
        }
        #expect(problems.contains { $0.path == "/url" && $0.message.contains("offers[2].url: unknown macro {x}") }, "\(problems)")
        #expect(problems.contains { $0.path == "/id" && $0.message.contains("already used by offers[1]") }, "\(problems)")
    }

    @Test func sha256MatchesTheStandardVectors() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func mergePatchReplacesMembersAndMergesObjects() throws {
        let target = try Self.parse(#"{"id":1,"events":{"a":{"payout":1},"b":{"payout":2}},"url":"u"}"#)
        let patched = ApiCatalogRoutes.mergePatch(target, try Self.parse(#"{"events":{"a":{"revenue":3}},"url":"v"}"#))
        #expect(patched == (try Self.parse(#"{"id":1,"events":{"a":{"payout":1,"revenue":3},"b":{"payout":2}},"url":"v"}"#)))
    }

    /// RFC 7396 §3's example, and nulls nested in objects removing exactly those members.
    @Test func mergePatchNullsRemoveMembersAtAnyDepth() throws {
        func patched(_ target: String, _ patch: String) throws -> CatalogValue {
            guard case .success(let (value, removed)) = CatalogJSONReader.parse(Array(patch.utf8), allowNull: true) else {
                throw JSONSyntaxError(message: "refused: \(patch)")
            }
            var result = ApiCatalogRoutes.mergePatch(try Self.parse(target), value)
            for path in removed { result = result.removing(path[...]) }
            return result
        }
        let rfc = try patched(#"{"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},"tags":["example","sample"],"content":"This will be unchanged"}"#,
                              #"{"title":"Hello!","phoneNumber":"+01-555-1234","author":{"familyName":null},"tags":["example"]}"#)
        #expect(Self.canonical(rfc) == Self.canonical(try Self.parse(
            #"{"title":"Hello!","author":{"givenName":"John"},"tags":["example"],"content":"This will be unchanged","phoneNumber":"+01-555-1234"}"#)))
        let offer = #"{"id":1,"caps":{"daily_clicks":5,"total_clicks":9},"events":{"a":{"payout":1,"revenue":2},"b":{"payout":3}}}"#
        let deep = try patched(offer, #"{"caps":{"daily_clicks":null},"events":{"a":{"revenue":null},"b":null},"gone":null}"#)
        #expect(deep == (try Self.parse(#"{"id":1,"caps":{"total_clicks":9},"events":{"a":{"payout":1}}}"#)), "\(deep.json)")
        // A null under a member that is not an object in the target: nothing to remove, the rest applies.
        #expect(try patched(#"{"id":1,"url":"u"}"#, #"{"url":{"x":null}}"#) == (try Self.parse(#"{"id":1,"url":{}}"#)))
    }

    @Test func failingAddressesAreThrottledAndTheTableStaysBounded() {
        let auth = ApiAuth(tokens: [AdminToken(name: "ops", sha256: SHA256.hex(Array("right".utf8)), role: .editor)])
        let peer = PeerAddress(high: 0, low: 0xffff_7f00_0001)
        for n in 0..<ApiAuth.freeFailures {
            guard case .unauthorized = auth.authenticate("Bearer wrong", peer: peer, nowMillis: 1_000 + Int64(n)) else {
                Issue.record("failure \(n + 1) was not a plain 401"); return
            }
        }
        guard case .throttled(let seconds) = auth.authenticate("Bearer right", peer: peer, nowMillis: 1_010) else {
            Issue.record("the address was not slowed down"); return
        }
        #expect(seconds >= 1)
        guard case .caller(let caller) = auth.authenticate("Bearer right", peer: peer, nowMillis: 60_000) else {
            Issue.record("the right token was refused after the wait"); return
        }
        #expect(caller.name == "ops" && caller.may(.editor) && !caller.may(.admin))
        for n in 0..<(ApiAuth.maxAddresses + 500) {
            _ = auth.authenticate("Bearer wrong", peer: PeerAddress(high: 1, low: UInt64(n)), nowMillis: 100_000 + Int64(n))
        }
        #expect(auth.rememberedAddresses <= ApiAuth.maxAddresses)
    }
}
