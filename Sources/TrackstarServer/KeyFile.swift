// The secret keys that sign click IDs, kept in `DATA_DIR/click.key` (mode 0600), created from
// /dev/urandom on a new data dir's first start (see NodeIdentity). A text file so an operator can
// read and rotate it. `legacy_ids` says whether version-0 (readable) IDs still verify: new key files
// say `refuse`; files written before opaque IDs lack the line, which means `accept`.
import TrackstarCore
import TrackstarStore
#if canImport(Glibc)
import Glibc
#endif

/// Loads or creates the data dir's click ID keys.
public enum KeyFile {
    public static let name = "click.key"

    /// Names a key without revealing it: SipHash-2-4 of the key under a fixed, public key, as 16 hex
    /// digits. Operators compare it between the running node and a backup (`trackstar inspect`).
    public static func fingerprint(_ key: SipHashKey) -> String {
        hex(sipHash24(key: SipHashKey(k0: 0x7472_6163_6b73_7461, k1: 0x6b65_7920_6670_7231), key.k0, key.k1))
    }

    static func create(_ path: String) throws(StartupError) {
        var key = (UInt64(0), UInt64(0))
        let random = open("/dev/urandom", O_RDONLY)
        let got = random < 0 ? -1 : withUnsafeMutableBytes(of: &key) { read(random, $0.baseAddress, 16) }
        if random >= 0 { close(random) }
        guard got == 16 else { throw StartupError("reading /dev/urandom for \(path) failed: \(String(cString: strerror(errno)))") }
        let text = "# Trackstar click ID keys: secret, keep mode 0600. Losing this file orphans every click ID.\n"
            + "current = 0\nkey0 = \(hex(key.0))\(hex(key.1))\n"
            + "# Version-0 click IDs (readable, minted before opaque IDs): none were minted on this data dir.\n"
            + "legacy_ids = refuse\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw StartupError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        guard written == text.utf8.count, fsync(fd) == 0 else {
            throw StartupError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func load(_ path: String) throws(StartupError) -> ClickIDCodec {
        let text = try FileText.read(path)
        var keys: [Int: SipHashKey] = [:]
        var current = 0
        var acceptsLegacy = true
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let parts = trimmed.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters() }
            guard parts.count == 2 else { throw StartupError("\(path):\(number + 1): expected `name = value`") }
            switch parts[0] {
            case "current":
                guard let n = Int(parts[1]), n == 0 || n == 1 else { throw StartupError("\(path):\(number + 1): current must be 0 or 1") }
                current = n
            case "legacy_ids":
                guard parts[1] == "accept" || parts[1] == "refuse" else {
                    throw StartupError("\(path):\(number + 1): legacy_ids must be accept or refuse")
                }
                acceptsLegacy = parts[1] == "accept"
            case "key0", "key1":
                guard let key = parseKey(parts[1]) else {
                    throw StartupError("\(path):\(number + 1): \(parts[0]) must be 32 hex digits")
                }
                keys[parts[0] == "key0" ? 0 : 1] = key
            default:
                throw StartupError("\(path):\(number + 1): unknown key \(parts[0])")
            }
        }
        guard let active = keys[current] else { throw StartupError("\(path): key\(current) (the current key) is missing") }
        return ClickIDCodec(currentKey: active, currentKeyID: UInt8(current), previousKey: keys[1 - current],
                            acceptsLegacy: acceptsLegacy)
    }

    static func parseKey(_ text: String) -> SipHashKey? {
        guard text.utf8.count == 32, let k0 = UInt64(text.prefix(16), radix: 16),
              let k1 = UInt64(text.suffix(16), radix: 16) else { return nil }
        return SipHashKey(k0: k0, k1: k1)
    }

    static func hex(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// A problem that stops the server from starting, said so the operator knows what to do.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

enum FileText {
    static func read(_ path: String) throws(StartupError) -> String {
        guard let file = fopen(path, "rb") else { throw StartupError("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension StringProtocol {
    func trimmingCharacters() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" }).reversed().drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" }).reversed())
    }
}
