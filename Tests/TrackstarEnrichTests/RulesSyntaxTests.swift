// The pieces under the classifier: required literals read from patterns (the prefilter's soundness
// rests on them), first-group texts, and the regexes.yaml reader's refusals.
import Testing
@testable import TrackstarEnrich

@Suite struct RulesSyntaxTests {
    func runs(_ pattern: String) -> [String] { RegexSyntax.requiredRuns(pattern).map { String(decoding: $0, as: UTF8.self) } }

    @Test func requiredLiterals() {
        #expect(runs("(GeoEvent Server) (\\d+)(?:\\.(\\d+)|)") == ["GeoEvent Server", " "])
        #expect(runs("Firefox/(\\d+)") == ["Firefox/"])
        #expect(runs("abc?d") == ["ab", "d"])                 // an optional byte splits the run
        #expect(runs("ab+c") == ["ab", "c"])
        #expect(runs("x{0,3}yz") == ["yz"])
        #expect(runs("x{2}yz") == ["x", "yz"])
        #expect(runs("Foo|Bar") == [])                        // top-level alternation: nothing certain
        #expect(runs("A(?:B|C)D") == ["A", "D"])
        #expect(runs("(?:Opera )?Mini") == ["Mini"])          // an optional group contributes nothing
        #expect(runs("(?=Look)Here") == ["Here"])             // lookarounds contribute nothing
        #expect(runs("[Ff]oo\\.bar\\d") == ["foo.bar"])          // [Ff] is "f" once case is folded
        #expect(runs("a\\x20b") == ["a", "b"])                // a hex escape is not the literal "x20"
        #expect(runs("a{b") == ["a{b"])                       // a brace that is no quantifier is literal
        #expect(runs("^Moz.{0,3}illa$") == ["Moz", "illa"])
        #expect(runs("(?P<name>Tool)/") == ["Tool", "/"])
    }

    /// Alternations require one of their branches; a branch with nothing certain makes the whole
    /// alternation uncertain; a class of one letter in both cases is that letter.
    @Test func alternationRequirements() {
        func texts(_ runs: [[UInt8]]) -> [String] { runs.map { String(decoding: $0, as: UTF8.self) } }
        let bots = RegexSyntax.requirement("^.{0,100}(bot|BUbiNG|silk)")
        #expect(bots.all.isEmpty && bots.anyOf.count == 1 && bots.anyOf[0].map(texts) == [["bot"], ["BUbiNG"], ["silk"]])
        let crawl = RegexSyntax.requirement("x(?:[Ss][Pp]ider|[Cc]rawl[a-z]{0,5})[/ ]Agent")
        #expect(texts(crawl.all) == ["x", "Agent"] && crawl.anyOf.count == 1 && crawl.anyOf[0].map(texts) == [["spider"], ["crawl"]])
        #expect(RegexSyntax.requirement("(ab|cde)x").anyOf.isEmpty)          // "ab" is too short to filter on
        #expect(RegexSyntax.requirement("Foo|Barbaz").anyOf.map { $0.map(texts) } == [[["Foo"], ["Barbaz"]]])
        #expect(RegexSyntax.requiredRuns("[^C][^Uu][Bb]ot") == [Array("bot".utf8)])
        #expect(RegexSyntax.requiredRuns("[Bb]") == [Array("b".utf8)] && RegexSyntax.requiredRuns("[bc]at") == [Array("at".utf8)])
    }

    /// The trigram program: all required bits, then one branch of each alternation.
    @Test func trigramProgram() {
        let program = TrigramSet.program(RegexSyntax.requirement("Mozilla.{0,9}(Googlebot|bingbot)"))
        let set = TrigramSet()
        func passes(_ agent: String) -> Bool {
            withBytes(agent) { set.fill($0) }
            return program.withUnsafeBufferPointer { set.passes($0.baseAddress!) }
        }
        #expect(passes("Mozilla/5.0 (compatible; BINGBOT/2.0)"))
        #expect(passes("mozilla googlebot"))
        #expect(!passes("Mozilla/5.0 (compatible; bot)"))
        #expect(!passes("Googlebot/2.1"))
        #expect(TrigramSet.program(RegexSyntax.requirement(".*")) == [0, 0])
    }

    @Test func firstGroupTexts() {
        #expect(RegexSyntax.firstGroupTexts("(Collector|Explorer|Workforce)-(?:Android|iOS)") == ["Collector", "Explorer", "Workforce"])
        #expect(RegexSyntax.firstGroupTexts("(?:Mobile )?(Firefox)/(\\d+)") == ["Firefox"])
        #expect(RegexSyntax.firstGroupTexts("(AdsBot-Google(?:-[a-z]+|)|bingbot)") == ["AdsBot-Google", "bingbot"])
        #expect(RegexSyntax.firstGroupTexts("no groups") == [])
    }

    @Test func ruleFileReader() throws {
        let text = """
        user_agent_parsers:
          # a comment
          - regex: 'It''s (A)'
            family_replacement: "B \\"q\\""
        os_parsers:
          - regex: '(Os)'
            regex_flag: 'i'
        device_parsers:
          - regex: 'Dev'
            device_replacement: 'Spider'
        """
        let file = try UAPRuleFile(text: text, path: "t.yaml")
        #expect(file.userAgent == [UAPRule(regex: "It's (A)", replacements: ["family_replacement": "B \"q\""], line: 3)])
        #expect(file.os.first?.caseless == true && file.device.first?.replacements["device_replacement"] == "Spider")
        #expect { try UAPRuleFile(text: "user_agent_parsers:\n  - regex: 'a\nos_parsers:\n", path: "t.yaml") } throws: {
            "\($0)".contains("t.yaml:2") && "\($0)".contains("regex")
        }
        #expect { try UAPRuleFile(text: "browsers:\n", path: "t.yaml") } throws: { "\($0)".contains("t.yaml:1: unknown section") }
        #expect { try UAPRuleFile(text: "user_agent_parsers:\n  - regex: 'a'\n", path: "t.yaml") } throws: { "\($0)".contains("missing") }
    }

    @Test func classifierErrorsNameTheFile() throws {
        #expect { try UserAgentClassifier(regexesPath: "/nonexistent/regexes.yaml") } throws: {
            "\($0)".contains("/nonexistent/regexes.yaml") && "\($0)".contains("cannot open")
        }
    }

    @Test func familyNamesLookUpByBytesIgnoringCase() {
        var builder = FamilyNamesBuilder()
        let chrome = builder.intern("Chrome")
        #expect(builder.intern("chrome") == chrome && builder.intern("Firefox ") == chrome + 1 && builder.intern("") == 0)
        let names = builder.build()
        #expect(withBytes("CHROME") { names.id(of: $0) } == chrome)
        #expect(withBytes("Firefox  ") { names.id(of: $0) } == chrome + 1)
        #expect(withBytes("Chrom") { names.id(of: $0) } == nil)
        #expect(names.name(chrome) == "Chrome" && names.name(0) == "Other" && names.name(999) == "Other")
    }
}
