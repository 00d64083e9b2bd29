// What the dispatcher publishes for other threads each tick: counts, endpoints, recent failures and
// scan positions, copied under the dispatcher's mutex.
/// What readers (the admin listener, /metrics) see of the dispatcher.
public struct DeliverySnapshot: Sendable, Equatable {
    public var pending = 0
    public var inFlight = 0
    public var endpoints: [EndpointState] = []
    public var affiliates: [AffiliateDeliveries] = []
    public var pendingByEndpoint: [String: Int] = [:]
    public var failures: [FailedDelivery] = []
    /// Conversions read, per shard.
    public var scanned: [UInt64] = []
    /// Postbacks failed for good and not queued again (what a retry request can select).
    public var failedNow = 0
    /// Postbacks queued again by retry requests.
    public var requeued = 0
    /// Conversions of affiliates not in the configuration: recorded, but no postback sent.
    public var skippedUnknownAffiliate = 0
    public init() {}
}
