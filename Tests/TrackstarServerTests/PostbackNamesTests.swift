// Issue 17: the compiled profile tables: the perfect name table agrees with a plain search for every
// name and near miss, and a profile reads amounts and status words as its sender writes them.
import Testing
@testable import TrackstarCore
@testable import TrackstarServer
import TrackstarStore
import TrackstarConfiguration

@Suite("postback names and profiles")
struct PostbackNamesTests {
    /// Every built-in's names (the largest table a configuration can make from them), plus long ones.
    static let names: [[UInt8]] = {
        var seen = Set<[UInt8]>(), out: [[UInt8]] = []
        let extra = ["a", "ab", "a_very_long_parameter_name_1", "a_very_long_parameter_name_2", "x_______________y"]
        for name in PostbackProfiles.builtins.flatMap({ $0.names.values.joined() }) + extra where seen.insert(Array(name.utf8)).inserted {
            out.append(Array(name.utf8))
        }
        return out
    }()

    @Test func perfectTableAgreesWithAPlainSearch() {
        let table = PostbackNames(PostbackNamesTests.names)
        var probes = PostbackNamesTests.names
        for name in PostbackNamesTests.names {  // near misses: one byte changed, cut, lengthened
            for i in 0..<name.count { var m = name; m[i] ^= 0x20; probes.append(m) }
            probes.append(Array(name.dropLast()))
            probes.append(name + [0x31])
        }
        for probe in probes {
            let expected = PostbackNamesTests.names.firstIndex(of: probe)
            #expect(probe.withUnsafeBytes { table.index($0) } == expected, "\(String(decoding: probe, as: UTF8.self))")
        }
    }

    @Test func amountsAsSendersWriteThem() {
        var config = PostbackProfileConfig(name: "p")
        config.names = [.clickID: ["c"]]
        config.decimalComma = true
        config.currencySign = true
        let profile = PostbackProfile(config, names: PostbackNames([Array("c".utf8)]))
        let cases: [(String, Int64?)] = [("12.50", 12_500_000), ("12,50", 12_500_000), ("$12.50", 12_500_000), ("12,5 €", 12_500_000),
                                          ("£3", 3_000_000), ("7$", 7_000_000), ("1,2,3", nil), ("1.2,3", nil), ("€", nil), ("12 USD", nil)]
        for (text, micros) in cases {
            #expect(Array(text.utf8).withUnsafeBytes { profile.micros($0) } == micros, "\(text)")
        }
        let plain = ProfileTable.builtinDefault.serverDefault
        #expect(Array("12,50".utf8).withUnsafeBytes { plain.micros($0) } == nil)
        #expect(Array("$12".utf8).withUnsafeBytes { plain.micros($0) } == nil)
        #expect(Array("APPROVED".utf8).withUnsafeBytes { plain.status($0) } == .approved)
        #expect(Array("sale".utf8).withUnsafeBytes { plain.status($0) } == nil)
    }
}
