// /metrics text from the feeds, read back by a strict exposition-format reader: an endpoint name
// with a quote, a backslash and a line break must stay inside its label value.
import Testing
@testable import TrackstarServer
import TrackstarDelivery
import TrackstarTestSupport

@Suite struct MetricsTextTests {
    @Test func partnerEndpointLabelsAreEscapedAndTheTextParses() throws {
        let nasty = "https://p.example/\"x\"\\y\nz"
        var snapshot = DeliverySnapshot()
        var endpoint = EndpointState(endpoint: nasty)
        endpoint.paused = true
        endpoint.delivered = 2
        snapshot.endpoints = [endpoint, EndpointState(endpoint: "https://plain.example/")]
        snapshot.pendingByEndpoint = [nasty: 5]
        let text = Dispatcher.metricsText(snapshot)
        let samples = try PrometheusExposition.parse(text)
        let paused = samples.filter { $0.name == "trackstar_partner_endpoint_paused" }
        #expect(paused.map { $0.labels["endpoint"] } == [nasty, "https://plain.example/"], "\(text)")
        #expect(paused.map(\.value) == [1, 0])
        let pending = samples.filter { $0.name == "trackstar_partner_endpoint_pending" }
        #expect(pending.map { $0.labels["endpoint"] } == [nasty, "https://plain.example/"] && pending.map(\.value) == [5, 0])
        #expect(samples.first { $0.name == "trackstar_partner_deliveries_total" && $0.labels["outcome"] == "delivered" }?.value == 2)
        #expect(text.hasPrefix("# HELP trackstar_partner_queue Partner postbacks waiting for delivery (pending, not yet final).\n"
            + "# TYPE trackstar_partner_queue gauge\ntrackstar_partner_queue 0\n"), "\(text)")
    }
}
