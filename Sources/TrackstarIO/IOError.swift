// The one error type of the I/O layer, made in one place from libuv's negative codes.
import CLibUV

/// A failed libuv or system call: which call, and libuv's code and message.
public struct IOError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let code: Int32
    public init(_ call: String, _ code: Int32) { self.call = call; self.code = code }
    public var description: String {
        "\(call) failed: \(String(cString: uv_strerror(code))) (\(String(cString: uv_err_name(code))))"
    }
}

/// Throws an IOError naming `call` when a libuv result is negative.
@inline(__always)
func check(_ call: @autoclosure () -> String, _ result: Int32) throws(IOError) {
    if result < 0 { throw IOError(call(), result) }
}
