// Nothing a sender sends is silently dropped: the parameters its profile does not map are kept with
// the conversion, as sent (`name=value&…`, still percent-encoded; a JSON body's members in the same
// form, their escapes decoded and then percent-encoded), up to `ConversionRecord.maxExtrasBytes`. Collected only when the one pass saw more parameters than the
// profile maps (`Params.hasExtras`), into a per-loop buffer: nothing allocates.
import TrackstarCore
import TrackstarHTTP
import TrackstarStore

extension RequestHandler {
    /// The unmapped parameters of the query and (POST) body, form or JSON, whole pairs joined by `&`;
    /// when they do not all fit, the pairs that fit and then `ConversionRecord.truncationMarker`.
    func unmappedParameters(_ exchange: Exchange, profile: PostbackProfile) -> (bytes: UnsafeRawBufferPointer, truncated: Bool) {
        let marker = ConversionRecord.truncationMarker
        var out = ExtrasWriter(base: params.extrasBuffer, limit: ConversionRecord.maxExtrasBytes - marker.utf8CodeUnitCount)
        let names = catalog.profiles.names
        out.add(exchange.request, exchange.head.query, names: names, mapped: profile.mapped, nameScratch: nameScratch)
        if exchange.head.method == .post && exchange.head.contentLength > 0 {
            switch exchange.head.bodyType {
            case .form: out.add(exchange.request, exchange.head.body, names: names, mapped: profile.mapped, nameScratch: nameScratch)
            case .json: out.addJSON(exchange.request, exchange.head.body, names: names, mapped: profile.mapped, scratch: scratch)
            default: break  // refused 415 before any of this
            }
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

    /// The members of a JSON object body (checked whole by `Params.collectNamedJSON` already) whose
    /// names `mapped` does not hold, as `name=value` pairs: escapes decoded (in `scratch`), then name
    /// and value percent-encoded; a number is its literal text, null an empty value.
    mutating func addJSON(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange, names: PostbackNames, mapped: NameSet,
                          scratch: UnsafeMutableRawBufferPointer) {
        var scanner = JSONObjectScanner(buffer, range: range)
        let half = scratch.count / 2  // names decode into the first half, values into the second
        while !truncated {
            guard let member = try? scanner.next() else { return }  // nil at the end (a syntax error cannot happen here)
            var name = UnsafeRawBufferPointer(rebasing: buffer[Int(member.name.start)..<Int(member.name.end)])
            var value = UnsafeRawBufferPointer(rebasing: buffer[Int(member.value.start)..<Int(member.value.end)])
            if member.nameEscaped {
                // Longer than half the scratch decoded: longer than any extras block, so it cannot fit.
                guard let n = JSONString.decode(name, into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<half])) else {
                    truncated = true
                    return
                }
                name = UnsafeRawBufferPointer(rebasing: scratch[0..<n])
            }
            guard !name.isEmpty else { continue }
            if let index = names.index(name), mapped.contains(index) { continue }
            if member.valueEscaped {
                guard let n = JSONString.decode(value, into: UnsafeMutableRawBufferPointer(rebasing: scratch[half...])) else {
                    truncated = true
                    return
                }
                value = UnsafeRawBufferPointer(rebasing: scratch[half..<(half + n)])
            }
            var pair = ByteWriter(base: base + count, capacity: limit - count)
            if count > 0 { pair.append(UInt8(ascii: "&")) }
            pair.appendPercentEncoded(name)
            pair.append(UInt8(ascii: "="))
            pair.appendPercentEncoded(value)
            guard !pair.overflowed else { truncated = true; return }
            count += pair.count
        }
    }

    private mutating func put(_ byte: UInt8) { base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self); count += 1 }
    private mutating func put(_ bytes: UnsafeRawBufferPointer) {
        if let p = bytes.baseAddress, !bytes.isEmpty { (base + count).copyMemory(from: p, byteCount: bytes.count) }
        count += bytes.count
    }
}
