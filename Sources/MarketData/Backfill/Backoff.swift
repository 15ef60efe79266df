/// Which provider answers are worth retrying, and how long to wait: exponential backoff with full jitter,
/// `rand(0, min(cap, base · 2^attempt))`, never sooner than the provider's `Retry-After`.
public struct BackoffPolicy: Sendable, Equatable {
    public var base: Duration = .seconds(1)
    public var cap: Duration = .seconds(60)
    /// Attempts per chunk, the first one included.
    public var maxAttempts = 5

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(60), maxAttempts: Int = 5) {
        self.base = base
        self.cap = cap
        self.maxAttempts = maxAttempts
    }

    /// Timeouts (status nil), 408, 429, 500, 502, 503 and 504 are retried; 400, 401, 403, 404, 422 and the rest
    /// are not.
    public static func isRetryable(status: Int?) -> Bool {
        guard let status else { return true }
        return [408, 429, 500, 502, 503, 504].contains(status)
    }

    /// The upper bound of the jitter window after failed attempt `attempt` (0 for the first failure).
    public func ceiling(attempt: Int) -> Duration {
        let factor = Double(1 << min(attempt, 30))
        let seconds = min(cap.seconds, base.seconds * factor)
        return .nanoseconds(Int64(seconds * 1e9))
    }

    /// The wait after failed attempt `attempt`, or nil when no attempt is left.
    public func delay(
        afterAttempt attempt: Int,
        retryAfter: Duration?,
        using rng: inout some RandomNumberGenerator
    ) -> Duration? {
        guard attempt + 1 < maxAttempts else { return nil }
        let ceiling = ceiling(attempt: attempt).seconds
        let jitter = Double.random(in: 0...ceiling, using: &rng)
        let wait = max(jitter, retryAfter?.seconds ?? 0)
        return .nanoseconds(Int64(wait * 1e9))
    }
}
