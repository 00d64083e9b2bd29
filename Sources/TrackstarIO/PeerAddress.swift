// A client address as 16 bytes of IPv6 (IPv4 mapped into ::ffff:0:0/96), copied once per connection.
import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// The remote end of a connection, IPv4 mapped into IPv6.
public struct PeerAddress: Sendable, Equatable {
    /// Network byte order, high and low 64 bits as big-endian integers.
    public var high: UInt64
    public var low: UInt64
    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }
    public static let unknown = PeerAddress(high: 0, low: 0)

    /// True for an IPv4-mapped address.
    public var isIPv4: Bool { high == 0 && (low >> 32) == 0xffff }

    /// Reads a `sockaddr_in` or `sockaddr_in6`.
    init(_ storage: UnsafePointer<sockaddr_storage>) {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let v4 = UnsafeRawPointer(storage).assumingMemoryBound(to: sockaddr_in.self).pointee
            self.init(high: 0, low: 0xffff_0000_0000 | UInt64(UInt32(bigEndian: v4.sin_addr.s_addr)))
        case AF_INET6:
            var a = UnsafeRawPointer(storage).assumingMemoryBound(to: sockaddr_in6.self).pointee.sin6_addr
            let (h, l) = withUnsafeBytes(of: &a) { raw in
                (UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                 UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
            self.init(high: h, low: l)
        default:
            self = .unknown
        }
    }

    /// Writes the address as text (dotted quad for IPv4) into `out`; returns the byte count.
    public func format(into out: UnsafeMutableRawBufferPointer) -> Int {
        var bytes = (UInt64(0), UInt64(0))
        var text = [CChar](repeating: 0, count: 64)
        let family = isIPv4 ? AF_INET : AF_INET6
        withUnsafeMutableBytes(of: &bytes) { raw in
            if isIPv4 {
                raw.storeBytes(of: UInt32(truncatingIfNeeded: low).bigEndian, as: UInt32.self)
            } else {
                raw.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            _ = inet_ntop(family, raw.baseAddress, &text, 64)
        }
        let n = min(strlen(text), out.count)
        text.withUnsafeBytes { out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        return n
    }
}
