// `trackstar deliveries`: partner-postback delivery status from the delivery log, and resuming a
// paused endpoint.
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

    func run() throws {
        var settings = try loadConfig(config)
        if let dataDir { settings.storage.dataDir = dataDir }
        guard format == "table" || format == "json" else { throw ValidationError("--format: expected table or json, got \(format)") }
        if let resume {
            try resumeEndpoint(resume, settings: settings)
            return
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
