import Foundation

/// One request to the provider as `backfill_attempts` records it.
public struct ProviderAttempt: Sendable, Equatable {
    /// What became of an attempt.
    public enum Outcome: String, Sendable, Codable, CaseIterable {
        /// A page of bars.
        case ok
        /// A retryable failure (timeout, transport error, malformed body, 408/429/5xx); another attempt follows.
        case retry
        /// A retryable failure with no attempt left.
        case gaveUp = "gave_up"
        /// 404.
        case unknownSymbol = "unknown_symbol"
        /// 401/403.
        case refused
        /// Another status not worth retrying.
        case rejected
        /// Not sent: the request budget is spent.
        case budget
    }

    public var at = Date()
    public var symbol: String
    /// The path without its query (a query may hold a key).
    public var endpoint: String
    /// 1 for the first try of a page.
    public var attempt: Int
    public var status: Int?
    /// `timeout`, `malformed body`, `transport: …`; nil when an HTTP status came back.
    public var error: String?
    public var outcome = Outcome.retry
    /// The backoff chosen before the next attempt (only for `retry`).
    public var waitSeconds: Double?
    /// The provider's `Retry-After` (or reset) as seen on this answer.
    public var retryAfterSeconds: Double?
    public var limiterWaitSeconds = 0.0
    public var durationSeconds = 0.0

    public init(symbol: String, endpoint: String, attempt: Int) {
        self.symbol = symbol
        self.endpoint = endpoint
        self.attempt = attempt
    }
}

/// A `rate_limit_events` row before it is stored.
public struct RateLimitEvent: Sendable {
    public var at: Date
    public var provider: String
    public var status: Int
    public var retryAfter: Double?
    public var remaining: Int?
    public var reset: Double?
    public var endpoint: String
}
