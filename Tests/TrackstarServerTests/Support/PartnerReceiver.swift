// A partner's postback receiver for live tests: Tests/Support/partner_receiver.py on an ephemeral
// port, recording each request it gets (and failing, stalling or dropping them on request).
import Foundation

/// A running receiver process.
final class PartnerReceiver: @unchecked Sendable {  // set once in init
    let process = Process()
    let directory: String
    let logPath: String
    /// One line per connection the receiver accepted.
    let connectionsPath: String
    /// While this file exists the receiver answers 200 to everything.
    let okFile: String
    private(set) var port: UInt16 = 0
    let scheme: String

    /// Starts the receiver with `arguments` (see the script's help) and reads its port.
    init(_ arguments: [String] = [], tls: (cert: String, key: String)? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("trackstar-receiver-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        logPath = directory + "/requests.log"
        okFile = directory + "/ok"
        connectionsPath = directory + "/connections.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let script = LiveServer.packageRoot.appendingPathComponent("Tests/Support/partner_receiver.py").path
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var all = [python, script, "--log", logPath, "--ok-file", okFile, "--connections", connectionsPath] + arguments
        if let tls { all += ["--tls", tls.cert, tls.key] }
        scheme = tls == nil ? "http" : "https"
        process.arguments = all
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var text = ""
        while !text.contains("\n") {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { throw TestClientError.closed }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let number = text.split(separator: "\n").first?.split(separator: " ").last, let port = UInt16(number) else {
            throw TestClientError.closed
        }
        self.port = port
    }

    /// `scheme://127.0.0.1:PORT`: the endpoint as Trackstar names it.
    var endpoint: String { "\(scheme)://127.0.0.1:\(port)" }

    /// Requests received so far: (unix ms, path with query).
    var requests: [(millis: Int64, path: String)] {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 2)
            guard parts.count == 3, let millis = Int64(parts[0]) else { return nil }
            return (millis, String(parts[2]))
        }
    }

    /// Connections accepted so far.
    var connections: Int {
        ((try? String(contentsOfFile: connectionsPath, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    /// Makes the receiver answer 200 from now on (or stop doing so).
    func recover(_ ok: Bool = true) {
        if ok { FileManager.default.createFile(atPath: okFile, contents: nil) } else { try? FileManager.default.removeItem(atPath: okFile) }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
