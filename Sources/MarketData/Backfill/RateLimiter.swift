/// The provider's rate limit as learned so far, as a value with pure transitions (tested without I/O): requests
/// reserve a send time, so they wait before sending instead of provoking 429s.
public struct RateLimitState: Sendable {
    /// Requests per window, from configuration or headers.
    public var limit: Int?
    /// The window, from configuration or `RateLimit-Policy`; without one, only `remaining`/`reset` pace requests.
    public var window: Duration?
    /// Sends reserved within the last window, oldest first (a sliding log, at most `limit` long).
    private(set) var sends: [ContinuousClock.Instant] = []
    /// No request before this (from `Retry-After`, or a reset with nothing remaining).
    public private(set) var blockedUntil: ContinuousClock.Instant?
    public private(set) var lastSnapshot: RateLimitSnapshot?

    public init(limit: Int?, window: Duration?) {
        self.limit = limit
        self.window = window
    }

    /// Reserves the next send; returns when it may go.
    public mutating func reserve(now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        var at = now
        if let blocked = blockedUntil, blocked > at { at = blocked }
        if let limit, limit > 0, let window {
            // A margin, so that requests reserved at the edge of a window do not arrive inside the provider's
            // next one early.
            let span = window + max(.milliseconds(20), window / 20)
            sends.removeAll { $0 + span <= at }
            if sends.count >= limit {
                // Wait for the oldest send in the window to leave it.
                at = max(at, sends[sends.count - limit] + span)
            }
        }
        sends.append(at)
        if let limit, sends.count > limit * 2 { sends.removeFirst(sends.count - limit) }
        return at
    }

    /// Learns from a response: its headers, and whether it was a 429.
    public mutating func observe(_ snapshot: RateLimitSnapshot, status: Int, now: ContinuousClock.Instant) {
        lastSnapshot = snapshot
        if let l = snapshot.limit, l > 0 { limit = l }
        if let w = snapshot.window, w > .zero { window = w }
        // A reset announced with nothing remaining is followed only while the window is unknown: once it is known,
        // the sliding log paces requests exactly, while resets are often rounded up to whole seconds.
        let paced = limit != nil && window != nil
        if let wait = snapshot.retryAfter, snapshot.retryAfterIsExplicit || status == 429 || !paced {
            blockedUntil = max(blockedUntil ?? now, now + wait)
        } else if status == 429 {
            // A 429 without any hint: back off a whole window (a second when it is unknown).
            blockedUntil = max(blockedUntil ?? now, now + (window ?? .seconds(1)))
        }
    }
}

/// One provider's rate limiter, shared by every symbol being backfilled in parallel.
public actor RateLimiter {
    public private(set) var state: RateLimitState
    private let now: @Sendable () -> ContinuousClock.Instant
    private let sleep: @Sendable (ContinuousClock.Instant) async throws -> Void

    /// `now` and `sleep` are injected so tests run without waiting.
    public init(
        limit: Int?,
        window: Duration?,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        sleep: @escaping @Sendable (ContinuousClock.Instant) async throws -> Void = {
            try await Task.sleep(until: $0, clock: .continuous)
        }
    ) {
        state = RateLimitState(limit: limit, window: window)
        self.now = now
        self.sleep = sleep
    }

    /// Waits until a request may be sent; returns how long it waited.
    @discardableResult
    public func acquire() async throws -> Duration {
        let start = now()
        let at = state.reserve(now: start)
        if at > start { try await sleep(at) }
        return at - start
    }

    public func observe(_ snapshot: RateLimitSnapshot, status: Int) {
        state.observe(snapshot, status: status, now: now())
    }
}
