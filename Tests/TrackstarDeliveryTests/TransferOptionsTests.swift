// The options of one postback attempt (`Dispatcher.configure`): all accepted with the defaults, and
// the first refused one named with curl's code rather than ignored.
import CTrackstarCurl
import Testing
import TrackstarCore
@testable import TrackstarDelivery
import TrackstarConfiguration

@Suite("transfer options")
struct TransferOptionsTests {
    static func transfer(url: String = "http://127.0.0.1:9/postback?c=1") -> Transfer? {
        guard let easy = curl_easy_init() else { return nil }
        let job = PendingDelivery(dueMillis: 0, queuedAt: 0, endpoint: 0, attempts: 0)
        return Transfer(id: 1, job: job, affID: 7, endpointName: "http://127.0.0.1:9", url: url, easy: easy, started: 0)
    }

    @Test func theDefaultsAreAllAccepted() throws {
        let transfer = try #require(Self.transfer())
        defer { curl_easy_cleanup(transfer.easy) }
        var config = DeliveryConfig()
        config.caFile = "/nonexistent/ca.pem"  // read when connecting, not when set
        #expect(Dispatcher.configure(transfer, config: config) == nil)
    }

    @Test func aRefusedOptionIsNamedWithCurlsCode() throws {
        // curl refuses a string option longer than CURL_MAX_INPUT_LENGTH (8,000,000 bytes).
        let transfer = try #require(Self.transfer(url: "http://127.0.0.1:9/" + String(repeating: "a", count: 8_000_000)))
        defer { curl_easy_cleanup(transfer.easy) }
        let failure = try #require(Dispatcher.configure(transfer, config: DeliveryConfig()))
        #expect(failure.call == "curl_easy_setopt(CURLOPT_URL)")
        #expect(failure.code == CURLE_BAD_FUNCTION_ARGUMENT)
    }

    /// A pooled handle: detached from its finished attempt's storage, it takes the next attempt's URL
    /// and storage with the shared options left as set.
    @Test func aPooledHandleIsDetachedAndTakesOnlyTheNextAttemptsOptions() throws {
        let first = try #require(Self.transfer())
        defer { curl_easy_cleanup(first.easy) }
        #expect(Dispatcher.configure(first, config: DeliveryConfig()) == nil)
        #expect(TransferStorage.detach(from: first.easy))
        let job = PendingDelivery(dueMillis: 0, queuedAt: 0, endpoint: 0, attempts: 0)
        let next = Transfer(id: 2, job: job, affID: 7, endpointName: "http://127.0.0.1:9", url: "http://127.0.0.1:9/postback?c=2",
                            easy: first.easy, started: 0)
        #expect(Dispatcher.configure(next, config: DeliveryConfig(), handleOptions: false) == nil)
        // The per-attempt options are still checked on a pooled handle.
        let tooLong = Transfer(id: 3, job: job, affID: 7, endpointName: "http://127.0.0.1:9",
                               url: "http://127.0.0.1:9/" + String(repeating: "a", count: 8_000_000), easy: first.easy, started: 0)
        #expect(Dispatcher.configure(tooLong, config: DeliveryConfig(), handleOptions: false)?.call == "curl_easy_setopt(CURLOPT_URL)")
    }
}
