// Request bytes, built before the run where possible (pools of clicks, forged IDs and macros) and
// otherwise assembled from pre-built pieces straight into a connection's output buffer.

/// Byte strings laid end to end in one allocation, addressed by index.
struct BytePool {
    var bytes: [UInt8] = []
    var starts: [Int] = [0]

    var count: Int { starts.count - 1 }

    mutating func add(_ item: [UInt8]) {
        bytes += item
        starts.append(bytes.count)
    }

    /// Appends item `index` to `out`.
    @inline(__always)
    func write(_ index: Int, to out: inout ByteBuffer) {
        let start = starts[index], end = starts[index + 1]
        bytes.withUnsafeBytes { out.append($0.baseAddress! + start, end - start) }
    }
}

/// Click IDs minted during the run (26 bytes each) with the offer they belong to.
struct IDStore {
    static let length = 26
    var bytes: [UInt8] = []
    var offers: [Int32] = []

    var count: Int { offers.count }

    /// Keeps a minted ID; returns its slot.
    mutating func add(_ id: UnsafeRawPointer, offer: Int32) -> Int {
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: id, count: Self.length))
        offers.append(offer)
        return offers.count - 1
    }

    @inline(__always)
    func write(_ slot: Int, to out: inout ByteBuffer) {
        bytes.withUnsafeBytes { out.append($0.baseAddress! + slot * Self.length, Self.length) }
    }
}

/// Builds every kind of request for one worker. Not shared between threads.
struct RequestFactory {
    /// Longest request any kind produces, with margin: a connection appends one only with this much room.
    static let maxRequestBytes = 1024
    let worker: Int
    /// `&token=…&txid=<run>w`: the txid starts with the run's id so no two runs share one.
    let tokenAndTxid: [UInt8]
    let tail: [UInt8]
    let clicks: BytePool
    let clickOffers: [Int32]
    let forgedIDs: BytePool
    let macros: BytePool
    var clickCursor = 0
    var forgedCursor = 0
    var macroCursor = 0

    /// `closeEach`: every request asks for `Connection: close` (one connection per request, as
    /// shoppers' browsers mostly make one per click).
    init(worker: Int, runID: UInt64, host: String, campaign: Campaign, closeEach: Bool = false, random: inout FastRandom) {
        self.worker = worker
        tokenAndTxid = Array("&token=\(Campaign.token)&txid=\(String(runID, radix: 36))w".utf8)
        tail = Array(" HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: tsload\r\n\(closeEach ? "Connection: close\r\n" : "")\r\n".utf8)
        (clicks, clickOffers) = Self.clickPool(campaign: campaign, tail: tail, random: &random)
        forgedIDs = Self.forgedPool(random: &random)
        macros = Self.macroPool(tail: tail)
    }

    /// 4096 clicks: Zipf-skewed offers and affiliates, random sub1 (and sometimes sub2 and source).
    static func clickPool(campaign: Campaign, tail: [UInt8], random: inout FastRandom) -> (BytePool, [Int32]) {
        let offers = ZipfSampler(count: campaign.offers), affiliates = ZipfSampler(count: campaign.affiliates)
        var pool = BytePool(), owners: [Int32] = []
        for _ in 0..<4096 {
            let offer = offers.sample(&random)
            var text = "GET /click?offer_id=\(offer)&aff_id=\(affiliates.sample(&random))&sub1=\(token(8 + random.below(9), &random))"
            if random.chance(0.5) { text += "&sub2=\(token(4 + random.below(12), &random))" }
            if random.chance(0.3) { text += "&source=\(["newsletter", "push", "native", "search"][random.below(4)])" }
            pool.add(Array(text.utf8) + tail)
            owners.append(Int32(offer))
        }
        return (pool, owners)
    }

    /// 1024 well-formed IDs (26 Crockford characters, top digit below 8) that no key signed.
    static func forgedPool(random: inout FastRandom) -> BytePool {
        var pool = BytePool()
        for _ in 0..<1024 {
            var id = [crockford[random.below(8)]]
            for _ in 1..<IDStore.length { id.append(crockford[random.below(32)]) }
            pool.add(id)
        }
        return pool
    }

    /// Postbacks whose template was never filled in: literal and percent-encoded macros, under aliases.
    static func macroPool(tail: [UInt8]) -> BytePool {
        var pool = BytePool()
        for query in ["click_id={click_id}", "click_id=%7Bclick_id%7D", "transaction_id={transaction_id}",
                      "cid={aff_sub}&txid={order_id}", "subid=%7BSUBID%7D"] {
            pool.add(Array("GET /postback?\(query)&token=\(Campaign.token)&amount=10".utf8) + tail)
        }
        return pool
    }

    static let crockford = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// A random lower-case alphanumeric value of `length` characters.
    static func token(_ length: Int, _ random: inout FastRandom) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
        return String(decoding: (0..<length).map { _ in alphabet[random.below(alphabet.count)] }, as: UTF8.self)
    }

    static let postbackPrefix = Array("GET /postback?click_id=".utf8)
    static let amounts = ["&amount=19.90", "&amount=49.90", "&amount=5", "&amount=120.00"].map { Array($0.utf8) }

    /// The next click from the pool; returns its offer.
    mutating func writeClick(to out: inout ByteBuffer) -> Int32 {
        let index = clickCursor
        clickCursor = clickCursor + 1 == clicks.count ? 0 : clickCursor + 1
        clicks.write(index, to: &out)
        return clickOffers[index]
    }

    /// A postback for ID `slot` with txid `w<worker>-<slot>` (`…b` for a conflicting second conversion).
    func writePostback(_ ids: IDStore, slot: Int, conflict: Bool, to out: inout ByteBuffer) {
        out.append(Self.postbackPrefix)
        ids.write(slot, to: &out)
        out.append(tokenAndTxid)
        out.appendDecimal(worker)
        out.append(byte: UInt8(ascii: "-"))
        out.appendDecimal(slot)
        if conflict { out.append(byte: UInt8(ascii: "b")) }
        out.append(Self.amounts[slot & 3])
        out.append(tail)
    }

    /// A postback for a random well-formed but unsigned ID.
    mutating func writeForgedFromPool(to out: inout ByteBuffer) {
        forgedCursor = forgedCursor + 1 == forgedIDs.count ? 0 : forgedCursor + 1
        out.append(Self.postbackPrefix)
        forgedIDs.write(forgedCursor, to: &out)
        writeCommonTail(to: &out)
    }

    /// A real ID with one character changed to another valid one: well-formed, but the tag fails.
    func writeForged(_ ids: IDStore, slot: Int, random: inout FastRandom, to out: inout ByteBuffer) {
        out.append(Self.postbackPrefix)
        let start = out.count
        ids.write(slot, to: &out)
        let position = 1 + random.below(IDStore.length - 1)
        let old = out.base.load(fromByteOffset: start + position, as: UInt8.self)
        let replacement = Self.crockford[random.below(32)]
        out.base.storeBytes(of: replacement == old ? (old == 0x30 ? 0x31 : 0x30) : replacement,
                            toByteOffset: start + position, as: UInt8.self)
        writeCommonTail(to: &out)
    }

    /// A real ID damaged so it is no longer 26 Crockford characters: cut short, a character that is not
    /// Crockford base32, or one character too many.
    func writeMangled(_ ids: IDStore, slot: Int, random: inout FastRandom, to out: inout ByteBuffer) {
        out.append(Self.postbackPrefix)
        let start = out.count
        ids.write(slot, to: &out)
        switch random.below(3) {
        case 0: out.count -= 1 + random.below(6)
        case 1: out.base.storeBytes(of: UInt8(ascii: "U"), toByteOffset: start + random.below(IDStore.length), as: UInt8.self)
        default: out.append(byte: UInt8(ascii: "7"))
        }
        writeCommonTail(to: &out)
    }

    /// A postback with an unreplaced macro for its click ID.
    mutating func writeMacro(to out: inout ByteBuffer) {
        macroCursor = macroCursor + 1 == macros.count ? 0 : macroCursor + 1
        macros.write(macroCursor, to: &out)
    }

    /// Token, a fixed txid and amount, and the request's end.
    func writeCommonTail(to out: inout ByteBuffer) {
        out.append(tokenAndTxid)
        out.appendDecimal(worker)
        out.append(Self.amounts[0])
        out.append(tail)
    }
}
