// Nothing a sender sends is silently dropped: the parameters its profile does not map are kept with
// the conversion, as sent (`name=value&…`, still percent-encoded), up to
// `ConversionRecord.maxExtrasBytes`. Collected only when the one pass saw more parameters than the
// profile maps (`Params.hasExtras`), into a per-loop buffer: nothing allocates.
import TrackstarCore
import TrackstarHTTP
import TrackstarStore

extension RequestHandler {
    /// The unmapped parameters of the query and (form POST) body, whole pairs joined by `&`; when they
    /// do not all fit, the pairs that fit and then `ConversionRecord.truncationMarker`.
    func unmappedParameters(_ exchange: Exchange, profile: PostbackProfile) -> (bytes: UnsafeRawBufferPointer, truncated: Bool) {
        let marker = ConversionRecord.truncationMarker
        var out = ExtrasWriter(base: params.extrasBuffer, limit: ConversionRecord.maxExtrasBytes - marker.utf8CodeUnitCount)
        let names = catalog.profiles.names
        out.add(exchange.request, exchange.head.query, names: names, mapped: profile.mapped, nameScratch: nameScratch)
        if exchange.head.method == .post && exchange.head.contentLength > 0 && exchange.head.bodyType == .form {
            out.add(exchange.request, exchange.head.body, names: names, mapped: profile.mapped, nameScratch: nameScratch)
        }
        if out.truncated {
            (params.extrasBuffer + out.count).copyMemory(from: marker.utf8Start, byteCount: marker.utf8CodeUnitCount)
            out.count += marker.utf8CodeUnitCount
        }
        return (UnsafeRawBufferPointer(start: params.extrasBuffer, count: out.count), out.truncated)
    }
}

/// Appends whole `name=value` pairs into a fixed buffer, stopping at the first that does not fit.
struct ExtrasWriter {
    let base: UnsafeMutableRawPointer
    let limit: Int
    var count = 0
    var truncated = false

    mutating func add(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange, names: PostbackNames, mapped: NameSet,
                      nameScratch: UnsafeMutableRawBufferPointer) {
        var scanner = QueryScanner(buffer, range: range)
        while !truncated, let pair = scanner.next() {
            let name = UnsafeRawBufferPointer(rebasing: buffer[Int(pair.name.start)..<Int(pair.name.end)])
            guard !name.isEmpty else { continue }
            var plain = name
            if pair.nameEncoded, let n = PercentDecoding.decode(name, into: nameScratch) {
                plain = UnsafeRawBufferPointer(rebasing: nameScratch[0..<n])
            }
            if let index = names.index(plain), mapped.contains(index) { continue }
            let value = UnsafeRawBufferPointer(rebasing: buffer[Int(pair.value.start)..<Int(pair.value.end)])
            let needed = (count > 0 ? 1 : 0) + name.count + 1 + value.count
            guard count + needed <= limit else { truncated = true; return }
            if count > 0 { put(UInt8(ascii: "&")) }
            put(name)
            put(UInt8(ascii: "="))
            put(value)
        }
    }

    private mutating func put(_ byte: UInt8) { base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self); count += 1 }
    private mutating func put(_ bytes: UnsafeRawBufferPointer) {
        if let p = bytes.baseAddress, !bytes.isEmpty { (base + count).copyMemory(from: p, byteCount: bytes.count) }
        count += bytes.count
    }
}
