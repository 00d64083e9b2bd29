// Partner postbacks: how Trackstar tells affiliates' servers about conversions. `[delivery]` sets
// the transport and retry policy; each affiliate's `postback_url`, `postback_statuses` and
// `postback_delay` say what fires; `[[postbacks]]` rules override the URL per offer and per event.

import TrackstarCore

/// `[delivery]`: the partner-postback dispatcher.
public struct DeliveryConfig: Sendable, Equatable {
    /// Connect timeout of one attempt.
    public var connectTimeoutMillis: Int64 = 5_000
    /// Whole-attempt timeout (connect, send, answer).
    public var timeoutMillis: Int64 = 15_000
    /// Attempts running at once to one endpoint (scheme, host and port).
    public var maxPerEndpoint = 8
    /// Attempts running at once in all.
    public var maxInFlight = 256
    /// Attempts per conversion before it is given up as failed.
    public var maxAttempts = 10
    /// Delay before the second attempt; each later one doubles it (with jitter), up to `retryMaxDelay`.
    /// With the defaults, ten attempts span about a day (3m, 6m, 12m … 12h48m).
    public var retryBaseMillis: Int64 = 180_000
    public var retryMaxDelayMillis: Int64 = 12 * 3_600_000
    /// Consecutive failed attempts after which an endpoint is paused until resumed.
    public var pauseAfter = 20
    /// PEM file of CA certificates to trust for https postbacks instead of the system store.
    public var caFile: String? = nil
    /// Finished records the live delivery log gathers before compaction moves them to the archive.
    public var compactAfter = 200_000
    /// How long archived history (delivered and failed-for-good postbacks, their attempts) is kept
    /// after compaction moved it to the archive; 0 keeps it forever. `[delivery] archive_retention`.
    public var archiveRetentionMillis: Int64 = 90 * 86_400_000
    /// Attempts a second the dispatcher starts while the core it runs on is busy with other work
    /// (normally a click loop); 0 turns this pacing off. `[delivery] rate_while_busy`.
    public var rateWhileBusy = 1_000
    public init() {}
}

/// A `[[postbacks]]` rule: the URL for one affiliate's conversions of one offer and/or one event,
/// in place of the affiliate's `postback_url`. The most specific matching rule wins.
public struct PostbackRuleConfig: Sendable, Equatable {
    public var affID: UInt32
    public var offerID: UInt32? = nil
    public var event: String? = nil
    /// The URL template; `""` means "send nothing for these conversions".
    public var url: String
    public var line: Int = 0
    public init(affID: UInt32, url: String) { self.affID = affID; self.url = url }
}

/// Conversion statuses a partner postback may fire on.
public enum PostbackStatus: String, Sendable, Equatable, CaseIterable {
    case approved, pending, rejected
}
