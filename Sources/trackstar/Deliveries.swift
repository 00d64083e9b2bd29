// `trackstar deliveries`: partner-postback delivery status from the delivery log, resuming a
// paused endpoint, and queueing failed postbacks again.
import ArgumentParser
import TrackstarCore
import TrackstarDelivery
import TrackstarStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `trackstar deliveries --config FILE [--affiliate ID] [--failed] [--format table|json] [--resume ENDPOINT]`.
struct Deliveries: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show partner-postback deliveries: success rate, pending, paused endpoints, last error per endpoint.")

    @Option(name: .long, help: "Configuration file (TOML); its [storage] data_dir holds the delivery log.")
    var config: String

    @Option(name: .customLong("data-dir"), help: "Data directory, overriding [storage] data_dir.")
    var dataDir: String?

    @Option(name: .long, help: "Only this affiliate's postbacks.")
    var affiliate: UInt32?

    @Flag(name: .long, help: "Also list postbacks that failed for good (most recent 1000).")
    var failed = false

    @Option(name: .long, help: "table or json.")
    var format: String = "table"

    @Option(name: .long, help: "Resume a paused endpoint (scheme://host:port, or any URL on it).")
    var resume: String?

    @Flag(name: .customLong("retry-failed"),
          help: "Queue postbacks that failed for good again, selected by --endpoint, --affiliate, --from/--to (failure time) or --conversion.")
    var retryFailed = false

    @Option(name: .long, help: "With --retry-failed: postbacks that failed at this endpoint (scheme://host:port, or any URL on it).")
    var endpoint: String?

    @Option(name: .long, help: "With --retry-failed: failed at or after this UTC time (YYYY-MM-DD[ HH:MM[:SS]]).")
    var from: String?

    @Option(name: .long, help: "With --retry-failed: failed before this UTC time (a date alone includes that day).")
    var to: String?

    @Option(name: .long, help: "With --retry-failed: only this conversion's postback.")
    var conversion: UInt64?

    @Flag(name: .long, help: "With --retry-failed: render each URL from the current configuration (running server only).")
    var rerender = false

    @Option(name: .long, help: "With --retry-failed: the request's id; the same id carried out twice queues nothing the second time.")
    var request: String?

    func run() throws {
        var settings = try loadConfig(config)
        if let dataDir { settings.storage.dataDir = dataDir }
        guard format == "table" || format == "json" else { throw ValidationError("--format: expected table or json, got \(format)") }
        if let resume {
            try resumeEndpoint(resume, settings: settings)
            return
        }
        if retryFailed {
            try retry(settings: settings)
            return
        }
        if endpoint != nil || from != nil || to != nil || conversion != nil || rerender || request != nil {
            throw ValidationError("--endpoint, --from, --to, --conversion, --rerender and --request select postbacks for --retry-failed; add it")
        }
        let log: DeliveryLog
        do { log = try DeliveryLog(dataDir: settings.storage.dataDir, writer: false) } catch {
            printError("trackstar: deliveries: \(error.description)")
            throw ExitCode(1)
        }
        let ledger = DeliveryLedger.replay(log, pauseAfter: settings.delivery.pauseAfter).snapshot()
        print(format == "json" ? DeliveryReport.json(ledger, affiliate: affiliate, failed: failed)
                               : DeliveryReport.table(ledger, affiliate: affiliate, failed: failed), terminator: "")
    }

    func resumeEndpoint(_ text: String, settings: TrackstarConfig) throws {
        guard let endpoint = PartnerTemplate.endpoint(of: text) else {
            throw ValidationError("--resume: expected an endpoint such as https://partner.example:443, got \(text)")
        }
        let log: DeliveryLog
        do { log = try DeliveryLog(dataDir: settings.storage.dataDir, writer: true) } catch {
            // The server is running (it holds the log): ask it through its admin listener.
            guard let host = settings.admin.host else {
                printError("trackstar: deliveries: \(error.description); set [admin] listen so a running server can be asked to resume")
                throw ExitCode(1)
            }
            let target = "/deliveries/resume?endpoint=" + AdminClient.percentEncode(endpoint)
            guard let (status, body) = AdminClient.post(host: host, port: settings.admin.port, target: target) else {
                printError("trackstar: deliveries: cannot reach the admin listener at \(host):\(settings.admin.port)")
                throw ExitCode(1)
            }
            guard status == 200 else {
                printError("trackstar: deliveries: \(body.trimmingCharacters(in: .newlines))")
                throw ExitCode(1)
            }
            print(body, terminator: "")
            return
        }
        guard DeliveryReport.resumeOffline(log, endpoint: endpoint, nowMillis: StoppableThread.nowMillis()) else {
            printError("trackstar: deliveries: \(endpoint) is not paused")
            throw ExitCode(1)
        }
        print("resumed \(endpoint)")
    }
}

extension Deliveries {
    /// `--retry-failed`: asks a running server's admin listener, or appends to the log of a stopped one.
    func retry(settings: TrackstarConfig) throws {
        var parameters: [(String, String)] = []
        if let endpoint { parameters.append(("endpoint", endpoint)) }
        if let affiliate { parameters.append(("affiliate", String(affiliate))) }
        if let from { parameters.append(("from", from)) }
        if let to { parameters.append(("to", to)) }
        if let conversion { parameters.append(("conversion", String(conversion))) }
        if rerender { parameters.append(("rerender", "1")) }
        parameters.append(("request", request ?? RetrySelection.newRequestID()))
        let selection: RetrySelection
        do { selection = try RetrySelection.parse { name in parameters.first { $0.0 == name }?.1 } } catch {
            throw ValidationError("--retry-failed: \(error.description)")
        }
        let log: DeliveryLog
        do { log = try DeliveryLog(dataDir: settings.storage.dataDir, writer: true) } catch {
            // The server is running (it holds the log): ask it through its admin listener.
            guard let host = settings.admin.host else {
                printError("trackstar: deliveries: \(error.description); set [admin] listen so a running server can be asked to retry")
                throw ExitCode(1)
            }
            let query = (parameters + (format == "json" ? [("format", "json")] : []))
                .map { "\($0.0)=\(AdminClient.percentEncode($0.1))" }.joined(separator: "&")
            guard let (status, body) = AdminClient.post(host: host, port: settings.admin.port, target: "/deliveries/retry?" + query) else {
                printError("trackstar: deliveries: cannot reach the admin listener at \(host):\(settings.admin.port); "
                    + "send the same request again with --request \(selection.requestID)")
                throw ExitCode(1)
            }
            guard status == 200 else {
                printError("trackstar: deliveries: \(body.trimmingCharacters(in: .newlines))")
                throw ExitCode(1)
            }
            print(body, terminator: "")
            return
        }
        guard !selection.rerender else {
            printError("trackstar: deliveries: --rerender needs the running server (it renders from the conversion logs and the loaded configuration); start it and send the request again")
            throw ExitCode(1)
        }
        let result = DeliveryRetry.runOffline(selection, log: log, nowMillis: StoppableThread.nowMillis())
        print(format == "json" ? result.json : result.text, terminator: "")
        if result.storageFailed { throw ExitCode(1) }
    }
}

/// A one-request HTTP/1.1 client for the admin listener (numeric host, plain HTTP, Connection: close).
enum AdminClient {
    static func post(host: String, port: UInt16, target: String) -> (status: Int, body: String)? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else { return nil }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else { return nil }
        let request = Array("POST \(target) HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusText = text.split(separator: " ", maxSplits: 2).dropFirst().first, let status = Int(statusText),
              let split = text.range(of: "\r\n\r\n") else { return nil }
        return (status, String(text[split.upperBound...]))
    }

    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == 0x2D || byte == 0x2E || byte == 0x5F {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded
            }
        }
        return out
    }
}

private extension String {
    var leftPadded: String { count == 1 ? "0" + self : self }
}
