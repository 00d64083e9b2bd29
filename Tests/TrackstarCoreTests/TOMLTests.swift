// Tests of the TOML reader: keys, tables, arrays of tables, strings, numbers, inline tables, and
// syntax errors reported on their line with the reader recovering to find the next ones.

import Testing
@testable import TrackstarCore
@testable import TrackstarConfiguration

private func parse(_ text: String) -> (root: TOMLTable, problems: [ConfigProblem]) { TOML.parse(text) }

private func value(_ table: TOMLTable, _ path: String...) -> TOMLValue? {
    var current = table
    for key in path.dropLast() {
        guard case .table(let next)? = current[key]?.value else { return nil }
        current = next
    }
    return current[path[path.count - 1]]?.value
}

@Suite struct TOMLTests {
    @Test func commentsKeysAndTables() {
        let (root, problems) = parse("""
        # a comment
        title = "x"   # trailing comment
        "quoted key" = 1
        'literal key' = 2
        a.b.c = true
        [server]
        port = 80
        [outer.inner]
        deep = -3

        """)
        #expect(problems.isEmpty)
        #expect(value(root, "title") == .string("x"))
        #expect(value(root, "quoted key") == .integer(1))
        #expect(value(root, "literal key") == .integer(2))
        #expect(value(root, "a", "b", "c") == .boolean(true))
        #expect(value(root, "server", "port") == .integer(80))
        #expect(value(root, "outer", "inner", "deep") == .integer(-3))
        #expect(root.keys == ["title", "quoted key", "literal key", "a", "server", "outer"])
        #expect(root["server"]?.line == 6)
        #expect(root["title"]?.line == 2)
    }

    @Test func arraysOfTablesAndTheirSubTables() throws {
        let (root, problems) = parse("""
        [[offers]]
        id = 1
        [offers.events.upsell]
        payout = 1
        [[offers]]
        id = 2
        [offers.events.upsell]
        payout = 2

        """)
        #expect(problems.isEmpty, "\(problems)")
        guard case .array(let items)? = root["offers"]?.value else { Issue.record("offers is not an array"); return }
        #expect(items.map(\.line) == [1, 5])
        guard case .table(let second) = items[1].value else { Issue.record("not a table"); return }
        #expect(value(second, "events", "upsell", "payout") == .integer(2))
        #expect(second["events"]?.line == 7)
    }

    @Test func strings() {
        let (root, problems) = parse(#"""
        basic = "tab\tquote\"slash\\nl\ncr\r\u00E9\U0001F600"
        literal = 'C:\path\{x}'
        multi = """
        line one
        line "two" \
            continued"""
        multiLiteral = '''
        raw \n text
        '''
        quotes = """a""b"""""
        empty = ""

        """#)
        #expect(problems.isEmpty, "\(problems)")
        #expect(value(root, "basic") == .string("tab\tquote\"slash\\nl\ncr\r\u{E9}\u{1F600}"))
        #expect(value(root, "literal") == .string(#"C:\path\{x}"#))
        #expect(value(root, "multi") == .string("line one\nline \"two\" continued"))
        #expect(value(root, "multiLiteral") == .string("raw \\n text\n"))
        #expect(value(root, "quotes") == .string("a\"\"b\"\""))
        #expect(value(root, "empty") == .string(""))
        #expect(root["multiLiteral"]?.line == 7)  // lines inside the multi-line string were counted
    }

    @Test func numbersAndBooleans() {
        let (root, problems) = parse("""
        a = 1_000
        b = +7
        c = -0
        d = 0xFF
        e = 0o17
        f = 0b101
        g = 2.50
        h = -1.5e3
        i = 6.02E+23
        j = 1_000.000_1
        k = true
        l = false
        m = 9223372036854775807

        """)
        #expect(problems.isEmpty, "\(problems)")
        #expect(value(root, "a") == .integer(1000))
        #expect(value(root, "b") == .integer(7))
        #expect(value(root, "c") == .integer(0))
        #expect(value(root, "d") == .integer(255))
        #expect(value(root, "e") == .integer(15))
        #expect(value(root, "f") == .integer(5))
        #expect(value(root, "g") == .float(2.5, text: "2.50"))
        #expect(value(root, "h") == .float(-1500, text: "-1.5e3"))
        #expect(value(root, "i") == .float(6.02e23, text: "6.02E+23"))
        #expect(value(root, "j") == .float(1000.0001, text: "1000.0001"))
        #expect(value(root, "k") == .boolean(true))
        #expect(value(root, "l") == .boolean(false))
        #expect(value(root, "m") == .integer(.max))
    }

    @Test func arraysAndInlineTables() {
        let (root, problems) = parse("""
        ips = [
          "127.0.0.0/8",   # loopback
          # a comment line
          "::1/128",
        ]
        nested = [[1, 2], ["x"]]
        point = { x = 1, y = "two", z.w = true }
        empty = []

        """)
        #expect(problems.isEmpty, "\(problems)")
        guard case .array(let ips)? = value(root, "ips") else { Issue.record("ips"); return }
        #expect(ips.map(\.value) == [.string("127.0.0.0/8"), .string("::1/128")])
        #expect(ips.map(\.line) == [2, 4])
        guard case .array(let nested)? = value(root, "nested") else { Issue.record("nested"); return }
        #expect(nested.count == 2)
        #expect(value(root, "point", "x") == .integer(1))
        #expect(value(root, "point", "y") == .string("two"))
        #expect(value(root, "point", "z", "w") == .boolean(true))
        #expect(value(root, "empty") == .array([]))
    }

    @Test func duplicateKeysAndRedefinedTables() {
        let (_, problems) = parse("""
        a = 1
        a = 2
        [t]
        x = 1
        [t]
        y = 2
        [u.v]
        [u]
        w.k = 1
        w.k = 2

        """)
        #expect(problems.map(\.line) == [2, 5, 10])
        #expect(problems[0].message.contains("duplicate key a (already set at line 1)"))
        #expect(problems[1].message.contains("table [t] is defined twice (first at line 3)"))
        #expect(problems[2].message.contains("duplicate key u.w.k"))
    }

    @Test func tableKindsThatConflict() {
        let (_, problems) = parse("""
        v = 1
        inline = { a = 1 }
        [[list]]
        [list]
        [plain]
        [[plain]]
        [v.sub]
        [inline.more]
        [t]
        d.e = 1
        [t.d]

        """)
        #expect(problems.map(\.line) == [4, 6, 7, 8, 11], "\(problems)")
        guard problems.count == 5 else { return }
        #expect(problems[0].message.contains("array of tables"))
        #expect(problems[1].message.contains("conflicts with the table [plain]"))
        #expect(problems[2].message.contains("v already has a value"))
        #expect(problems[3].message.contains("inline already has a value"))
        #expect(problems[4].message.contains("dotted keys"))
    }

    @Test(arguments: [
        ("x = \"open", "not closed"),
        ("x = 'open", "not closed"),
        ("x = \"\"\"never\nclosed", "multi-line string is not closed"),
        ("x = [1, 2", "not closed"),
        ("x = [1 2]", "expected , or ]"),
        ("x = { a = 1 ", "not closed"),
        ("x = ", "expected a value"),
        ("x 1", "expected = after the key x"),
        ("x = 1 y = 2", "on its own line"),
        ("x = \"\\q\"", "invalid escape \\q"),
        ("x = \"\\uD800\"", "not a valid Unicode scalar"),
        ("x = 1979-05-27", "dates and times are not supported"),
        ("x = 07:32:00", "dates and times are not supported"),
        ("x = active", "put text in quotes: \"active\""),
        ("x = 012", "leading zeros"),
        ("x = 1__0", "not a valid number"),
        ("x = 9223372036854775808", "too large"),
        ("[table", "expected ] to close"),
        ("[[table]", "expected ]] to close"),
        ("= 1", "expected a key"),
    ])
    func syntaxErrors(text: String, fragment: String) {
        let (_, problems) = parse("ok = 1\n" + text + "\n")
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.line == 2)
        #expect(problems.first?.message.contains(fragment) == true, "\(problems)")
    }

    @Test func recoversAfterSyntaxErrors() {
        let (root, problems) = parse("""
        [server]
        a = "open
        b = 2
        c = [1,
             2 3,
             4]
        d = 4
        [next]
        e = 5

        """)
        #expect(problems.map(\.line) == [2, 5])
        #expect(value(root, "server", "b") == .integer(2))
        #expect(value(root, "server", "d") == .integer(4))
        #expect(value(root, "next", "e") == .integer(5))
        guard case .table(let server)? = root["server"]?.value else { return }
        #expect(server.isIncomplete)
    }

    @Test func crlfAndByteOrderMark() {
        let (root, problems) = parse("\u{FEFF}a = 1\r\nb = \"x\"\r\n")
        #expect(problems.isEmpty)
        #expect(value(root, "b") == .string("x"))
        #expect(root["b"]?.line == 2)
    }
}
