// The exporter's and CLI's HTTPClient over real TLS: the test partner receiver serves https with a
// certificate from a CA of the test's own, which is refused (named) until the client trusts that CA.
import Testing
import TrackstarCore
import TrackstarExport
import TrackstarConfiguration

@Suite struct HTTPClientTLSTests {
    @Test func httpsIsVerifiedAndAnsweredOnceTheCAIsTrusted() throws {
        let tls = try TLSFiles()
        let receiver = try PartnerReceiver([], tls: (tls.cert, tls.key))
        #expect {
            try HTTPClient(baseURL: receiver.endpoint, timeoutSeconds: 10).request(.get, "/untrusted")
        } throws: { error in
            "\(error)".contains("\(receiver.endpoint)/untrusted: curl_easy_perform: ")
                && "\(error)".contains("certificate")
        }
        let client = try HTTPClient(baseURL: receiver.endpoint, caFile: tls.ca, timeoutSeconds: 10)
        let first = try client.request(.get, "/trusted?n=1")
        let second = try client.request(.get, "/trusted?n=2")
        #expect(first.status == 200 && first.text == "ok" && second.status == 200)
        #expect(receiver.requests.map(\.path) == ["/trusted?n=1", "/trusted?n=2"])
    }

    /// `[export] ca_file` reaches the ClickHouse sink's client: the TLS handshake succeeds and the
    /// receiver, which is no ClickHouse, fails a CREATE statement instead.
    @Test func theSinkTrustsTheConfiguredCAFile() throws {
        let tls = try TLSFiles()
        let receiver = try PartnerReceiver([], tls: (tls.cert, tls.key))
        var config = ExportConfig()
        config.sink = .clickhouse
        config.url = receiver.endpoint
        #expect { try ClickHouseSink(config: config).open() } throws: { "\($0)".contains("certificate") }
        config.caFile = tls.ca
        #expect { try ClickHouseSink(config: config).open() } throws: { error in
            "\(error)".hasPrefix("ClickHouse \(receiver.endpoint) database trackstar: CREATE ") && !"\(error)".contains("certificate")
        }
    }
}
