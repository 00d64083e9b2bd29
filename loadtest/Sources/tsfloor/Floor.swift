// `tsfloor`: a do-nothing libuv responder that answers every request with the same fixed 302. It is the
// floor for the click path: what the generator reaches when the server costs (almost) nothing.
import ArgumentParser
import CUV
#if canImport(Glibc)
import Glibc
#endif

@main
struct Floor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsfloor",
        abstract: "Answer every HTTP/1.1 request with a fixed 302 (SO_REUSEPORT listener per thread).")

    @Option(name: .long, help: "Listen address, numeric IPv4 HOST:PORT; port 0 picks a free port.")
    var listen = "127.0.0.1:0"

    @Option(name: .long, help: "Loops (threads), each with its own SO_REUSEPORT listener.")
    var threads = 2

    @Flag(name: .long, help: "Answer 200 \"ok\" instead of the 302 (a postback receiver).")
    var ok = false

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads: expected 1...64") }
        guard Self.parse(listen) != nil else { throw ValidationError("--listen: expected IPv4 HOST:PORT") }
    }

    func run() throws {
        FixedResponse.ok = ok  // before the first use of the response block
        let (host, requestedPort) = Self.parse(listen)!
        var signals = Self.blockStopSignals()
        var port = requestedPort
        var loops: [FloorLoop] = []
        for _ in 0..<threads {
            let loop = try FloorLoop()
            try loop.bind(host: host, port: port)
            port = loop.boundPort()
            loops.append(loop)
        }
        for loop in loops { loop.startThread() }
        print("tsfloor: listening on \(host):\(port) with \(threads) threads")
        fflush(nil)
        var received: Int32 = 0
        sigwait(&signals, &received)
        Glibc.exit(0)
    }

    /// Splits `HOST:PORT`.
    static func parse(_ text: String) -> (String, Int32)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int32(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        return (String(text[..<colon]), port)
    }

    /// Blocks SIGINT and SIGTERM before any thread starts, so only `sigwait` on the main thread sees them.
    static func blockStopSignals() -> sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        return signals
    }
}

/// A libuv call failed.
struct FloorError: Error, CustomStringConvertible {
    let call: String
    let code: Int32
    var description: String { "\(call): \(String(cString: uv_strerror(code)))" }
}

/// Throws `FloorError` when a libuv call returned an error code.
func check(_ call: String, _ code: Int32) throws {
    if code < 0 { throw FloorError(call: call, code: code) }
}
