// Bearer tokens of the management API (`[[admin.tokens]]`: name, SHA-256 of the token, role) and the
// brake on guessing: an address with repeated failures is answered 429 for a time that doubles with
// each further failure. The table of addresses is bounded; the oldest entry makes room.
import TrackstarConfiguration
import TrackstarIO

/// Who a request comes from, once its token matched.
struct ApiCaller: Sendable {
    let name: String
    let role: AdminRole

    /// Whether the role allows `needed`: admin ⊇ editor ⊇ viewer.
    func may(_ needed: AdminRole) -> Bool {
        switch needed {
        case .viewer: true
        case .editor: role != .viewer
        case .admin: role == .admin
        }
    }
}

/// Token checks and failure throttling. Touched on the admin loop only.
final class ApiAuth {
    /// `[[admin.tokens]]` of the config (read-only through the API) and those made through the API.
    private(set) var configTokens: [AdminToken]
    private(set) var apiTokens: [AdminToken]
    /// Both, as checked.
    private(set) var tokens: [AdminToken]
    /// Failures an address may have before it is slowed down.
    static let freeFailures = 5
    /// Addresses remembered at most (about 40 bytes each).
    static let maxAddresses = 4096
    /// A failure is forgotten after this long without another one.
    static let forgetMillis: Int64 = 15 * 60_000
    static let maxDelayMillis: Int64 = 5 * 60_000

    struct Failures {
        var count: Int
        var lastMillis: Int64
        var blockedUntilMillis: Int64
    }
    private var failures: [AddressKey: Failures] = [:]

    init(tokens: [AdminToken], apiTokens: [AdminToken] = []) {
        configTokens = tokens
        self.apiTokens = apiTokens
        self.tokens = tokens + apiTokens
    }

    /// Takes the config's new tokens (SIGHUP); the API's are kept.
    func replace(tokens: [AdminToken]) {
        configTokens = tokens
        self.tokens = tokens + apiTokens
    }

    /// Takes the API's tokens after a create or revoke.
    func replace(apiTokens: [AdminToken]) {
        self.apiTokens = apiTokens
        tokens = configTokens + apiTokens
    }

    /// What a request's authentication came to.
    enum Outcome {
        case caller(ApiCaller)
        /// 401: no token, or not one of ours.
        case unauthorized(String)
        /// 429: too many failures from this address; retry after this many seconds.
        case throttled(Int64)
    }

    /// Checks `Authorization: Bearer TOKEN` from `peer` at `nowMillis`.
    func authenticate(_ authorization: String?, peer: PeerAddress, nowMillis: Int64) -> Outcome {
        if let entry = failures[AddressKey(peer)], entry.blockedUntilMillis > nowMillis {
            return .throttled((entry.blockedUntilMillis - nowMillis + 999) / 1000)
        }
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else {
            return .unauthorized(tokens.isEmpty
                ? "no tokens are configured; add [[admin.tokens]] with name, sha256 and role to the config and reload"
                : "send Authorization: Bearer TOKEN")
        }
        let presented = SHA256.hex(Array(authorization.dropFirst(7).utf8))
        // Compares every configured digest in full, so the time taken does not depend on which one matched.
        var match: AdminToken?
        for token in tokens where SHA256.constantTimeEqual(token.sha256, presented) { match = token }
        if let match {
            failures[AddressKey(peer)] = nil
            return .caller(ApiCaller(name: match.name, role: match.role))
        }
        recordFailure(peer, nowMillis: nowMillis)
        return .unauthorized("the token is not one of [[admin.tokens]]")
    }

    private func recordFailure(_ peer: PeerAddress, nowMillis: Int64) {
        var entry = failures[AddressKey(peer)] ?? Failures(count: 0, lastMillis: nowMillis, blockedUntilMillis: 0)
        if nowMillis - entry.lastMillis > ApiAuth.forgetMillis { entry.count = 0 }
        entry.count += 1
        entry.lastMillis = nowMillis
        if entry.count >= ApiAuth.freeFailures {
            let doublings = min(entry.count - ApiAuth.freeFailures, 20)
            entry.blockedUntilMillis = nowMillis + min(1000 << doublings, ApiAuth.maxDelayMillis)
        }
        if failures[AddressKey(peer)] == nil && failures.count >= ApiAuth.maxAddresses { evict(nowMillis: nowMillis) }
        failures[AddressKey(peer)] = entry
    }

    /// Drops forgotten entries, else the one whose last failure is oldest.
    private func evict(nowMillis: Int64) {
        failures = failures.filter { nowMillis - $0.value.lastMillis <= ApiAuth.forgetMillis }
        if failures.count >= ApiAuth.maxAddresses, let oldest = failures.min(by: { $0.value.lastMillis < $1.value.lastMillis }) {
            failures[oldest.key] = nil
        }
    }

    /// Addresses currently remembered (for tests and /api/v1/status).
    var rememberedAddresses: Int { failures.count }
}

/// A peer address as a dictionary key.
struct AddressKey: Hashable {
    let high: UInt64, low: UInt64
    init(_ peer: PeerAddress) { high = peer.high; low = peer.low }
}

extension SHA256 {
    /// Equal strings of equal length, compared without an early exit.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<x.count { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
