// Tests for `QueryPairs` and `PercentDecoding`: pair splitting over awkward input, decoding of escapes
// and '+', malformed escapes, output overflow, and matching encoded names against literals.
import Testing
import TrackstarHTTP

/// The pairs of `text` (whole string as the range), decoded as raw strings.
private func pairs(_ text: String) -> [String] {
    Array(text.utf8).withUnsafeBytes { buffer in
        var result: [String] = []
        for (name, value) in QueryPairs(buffer, range: ByteRange(0..<buffer.count)) {
            let n = String(decoding: name.bytes(in: buffer), as: UTF8.self)
            let v = String(decoding: value.bytes(in: buffer), as: UTF8.self)
            result.append("\(n)|\(v)")
        }
        return result
    }
}

/// Decodes `text` into a buffer of `capacity` bytes; nil when `decode` fails.
private func decoded(_ text: String, capacity: Int = 64) -> String? {
    var output = [UInt8](repeating: 0, count: capacity)
    let count = Array(text.utf8).withUnsafeBytes { input in
        output.withUnsafeMutableBytes { PercentDecoding.decode(input, into: $0) }
    }
    return count.map { String(decoding: output[..<$0], as: UTF8.self) }
}

/// Whether `text` percent-decodes to `literal`.
private func matches(_ text: String, _ literal: StaticString) -> Bool {
    Array(text.utf8).withUnsafeBytes { PercentDecoding.equals($0, literal) }
}

@Suite("QueryDecoder")
struct QueryDecoderTests {
    @Test func trickyPairs() {
        #expect(pairs("a=1&&b=&c&=x") == ["a|1", "b|", "c|", "|x"])
        #expect(pairs("url=http://x/?a=b&k=v==") == ["url|http://x/?a=b", "k|v=="])
        #expect(pairs("") == [])
        #expect(pairs("&&&") == [])
        #expect(pairs("&a=1&") == ["a|1"])
        #expect(pairs("=") == ["|"])
        #expect(pairs("x") == ["x|"])
        #expect(pairs("a%26b=c%3Dd") == ["a%26b|c%3Dd"])
    }

    @Test func pairsOfAParsedQueryUseBufferOffsets() throws {
        let request = Array("GET /c?offer_id=42&sub1=a+b HTTP/1.1\r\n\r\n".utf8)
        let found: [String] = request.withUnsafeBytes { buffer in
            guard case .complete(let head) = HTTPParser.parse(buffer, limits: HTTPLimits()) else { return [] }
            var result: [String] = []
            for (name, value) in QueryPairs(buffer, range: head.query) {
                #expect(name.start >= head.query.start && value.end <= head.query.end)
                result.append(String(decoding: name.bytes(in: buffer), as: UTF8.self)
                    + "=" + String(decoding: value.bytes(in: buffer), as: UTF8.self))
            }
            return result
        }
        #expect(found == ["offer_id=42", "sub1=a+b"])
        // An empty range yields nothing.
        let none = request.withUnsafeBytes { Array(QueryPairs($0, range: .empty)).count }
        #expect(none == 0)
    }

    @Test func decodesValidInput() {
        #expect(decoded("plain") == "plain")
        #expect(decoded("") == "")
        #expect(decoded("a+b") == "a b")
        #expect(decoded("%41%62%2b%2B") == "Ab++")
        #expect(decoded("x%20y%3d%3D") == "x y==")
        #expect(decoded("caf%C3%A9") == "café")
        #expect(decoded("%00") == "\u{0}")
        #expect(decoded("100%25") == "100%")
    }

    @Test func rejectsMalformedEscapes() {
        for bad in ["%", "%4", "a%", "%G1", "%1G", "%%41", "% 41", "abc%2"] {
            #expect(decoded(bad) == nil, "\(bad)")
        }
    }

    @Test func rejectsOutputOverflow() {
        #expect(decoded("abcd", capacity: 4) == "abcd")
        #expect(decoded("abcde", capacity: 4) == nil)
        #expect(decoded("%41%42%43", capacity: 3) == "ABC")
        #expect(decoded("%41%42%43", capacity: 2) == nil)
        #expect(decoded("", capacity: 0) == "")
        #expect(decoded("a", capacity: 0) == nil)
    }

    @Test func decodesInPlace() {
        var bytes = Array("a%20b+c%21".utf8)
        let count = bytes.withUnsafeMutableBytes { buffer in
            PercentDecoding.decode(UnsafeRawBufferPointer(buffer), into: buffer)
        }
        #expect(count == 6)
        #expect(String(decoding: bytes[..<6], as: UTF8.self) == "a b c!")
    }

    @Test func equalsEncodedNames() {
        #expect(matches("offer_id", "offer_id"))
        #expect(matches("offer%5Fid", "offer_id"))
        #expect(matches("offer%5fid", "offer_id"))
        #expect(matches("%6F%66%66%65%72_id", "offer_id"))
        #expect(matches("a+b", "a b"))
        #expect(matches("", ""))
        #expect(!matches("offer_i", "offer_id"))
        #expect(!matches("offer_idx", "offer_id"))
        #expect(!matches("Offer_id", "offer_id"))
        #expect(!matches("offer%5", "offer_id"))
        #expect(!matches("offer%5Fi%", "offer_id"))
        #expect(!matches("offer%5Fid%", "offer_id"))
        #expect(!matches("x", ""))
    }

    /// QueryScanner yields QueryPairs' pairs, with exact escape flags, for every sub-range of many
    /// random inputs (so word reads that cross the range end and the buffer's last bytes are covered).
    @Test func scannerAgreesWithQueryPairs() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        let alphabet = Array("ab=&%+1=&".utf8)
        for round in 0..<400 {
            let length = random(40)
            let bytes = (0..<length).map { _ in alphabet[random(alphabet.count)] }
            bytes.withUnsafeBytes { buffer in
                let start = round % 3 == 0 ? 0 : random(length + 1)
                let end = start + random(length - start + 1)
                let range = ByteRange(start..<end)
                var scanner = QueryScanner(buffer, range: range)
                for (name, value) in QueryPairs(buffer, range: range) {
                    guard let pair = scanner.next() else { Issue.record("scanner ended early on \(bytes)"); return }
                    #expect(pair.name == name && pair.value == value, "\(bytes) \(range)")
                    let escaped = { (r: ByteRange) in r.bytes(in: buffer).contains { $0 == 0x25 || $0 == 0x2B } }
                    #expect(pair.nameEncoded == escaped(name) && pair.valueEncoded == escaped(value), "\(bytes)")
                }
                let extra = scanner.next()
                #expect(extra == nil, "\(bytes) \(range)")
            }
        }
    }

    @Test func scannerFlagsOnlyTheirOwnPart() {
        let text = Array("offer_id=12345678&s%75b1=a+b&sub2=plain-value-longer-than-eight&x=%41".utf8)
        text.withUnsafeBytes { buffer in
            var scanner = QueryScanner(buffer, range: ByteRange(0..<buffer.count))
            var flags: [String] = []
            while let pair = scanner.next() {
                flags.append("\(String(decoding: pair.name.bytes(in: buffer), as: UTF8.self)):\(pair.nameEncoded),\(pair.valueEncoded)")
            }
            #expect(flags == ["offer_id:false,false", "s%75b1:true,true", "sub2:false,false", "x:false,true"])
        }
    }
}
